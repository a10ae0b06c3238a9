"""A trained text classifier: n-gram features, linear weights, calibration, and what it was trained on."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.sparse import csr_matrix

from .calibration import Calibration
from .features import NgramFeatures
from .linear import LinearWeights

EVIDENCE_GRAMS = 5  # how many n-grams an explanation shows
_EDGE_PUNCTUATION = " ,.!?;:'\"()[]、。…~-*"  # normalised text (NFKC) has ASCII punctuation; not worth showing


NO_EVIDENCE = "nothing in the text the model knows (no known n-gram of two or more characters): no proposal"


@dataclass(frozen=True)
class Prediction:
    label: str | None  # None: the text holds no evidence, and the model proposes nothing
    confidence: float  # calibrated probability that `label` is right; 0 without a label
    runner_up: str | None
    runner_up_confidence: float
    evidence: list[tuple[str, float]]  # the n-grams that pushed hardest towards `label`, with their weight

    @property
    def explanation(self) -> str:
        if self.label is None:
            return NO_EVIDENCE
        if not self.evidence:
            return "no n-gram in the text speaks for this label more than for the others"
        return "、".join(f"{gram} (+{weight:.2f})" for gram, weight in self.evidence)


@dataclass
class TextModel:
    features: NgramFeatures
    weights: LinearWeights
    labels: list[str]
    calibration: Calibration
    meta: dict[str, Any] = field(default_factory=dict)  # version, created_at, training summary, thresholds

    @property
    def version(self) -> str:
        return str(self.meta.get("version", "unversioned"))

    def predict(self, texts: Sequence[str], *, explain: bool = True) -> list[Prediction]:
        if not texts:
            return []
        rows = self.features.transform(texts)
        ranked = self.calibration.rank(self.weights.scores(rows))
        # Without evidence the label would be the prior's favourite at a confidence measured on real messages
        # ("👍" → the biggest category, 0.6–0.8): the model says nothing, and an operator classifies it.
        evidenced = self.features.has_evidence(rows)
        predictions = []
        for i in range(len(texts)):
            if not evidenced[i]:
                predictions.append(Prediction(None, 0.0, None, 0.0, []))
                continue
            top, second = int(ranked.top[i]), int(ranked.second[i])
            predictions.append(
                Prediction(
                    label=self.labels[top],
                    confidence=round(float(ranked.top_confidence[i]), 4),
                    runner_up=self.labels[second] if second >= 0 else None,
                    runner_up_confidence=round(float(ranked.second_confidence[i]), 4) if second >= 0 else 0.0,
                    evidence=self._evidence(rows, i, top) if explain else [],
                )
            )
        return predictions

    def _evidence(self, rows: csr_matrix, i: int, label: int) -> list[tuple[str, float]]:
        """The n-grams with the largest contribution (tf-idf × weight) to the chosen label's score.

        A gram inside a longer strong one ("站" beside "站台") repeats the same evidence less readably: only the
        longest of overlapping strong grams is shown.
        """
        start, end = rows.indptr[i], rows.indptr[i + 1]
        ids = rows.indices[start:end]
        contribution = rows.data[start:end] * self.weights.coef[ids, label]
        strongest = [j for j in np.argsort(-contribution, kind="stable")[: 3 * EVIDENCE_GRAMS] if contribution[j] > 0]
        grams = [self.features.grams[int(ids[j])] for j in strongest]
        shown: dict[str, float] = {}
        for j, gram in zip(strongest, grams, strict=True):
            readable = gram.strip(_EDGE_PUNCTUATION)
            if readable and readable not in shown and not any(gram != other and gram in other for other in grams):
                shown[readable] = round(float(contribution[j]), 2)
        # Single characters ("工", "城") carry weight but read poorly: words first when there are enough of them.
        words = [(g, w) for g, w in shown.items() if len(g) > 1]
        return (words if len(words) >= 3 else list(shown.items()))[:EVIDENCE_GRAMS]
