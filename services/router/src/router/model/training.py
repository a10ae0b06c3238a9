"""Train a model from labelled texts: features, linear SVM, and a calibration fitted on out-of-fold predictions.

Training runs k+1 fits: one per cross-validation fold (their held-out scores calibrate the confidences and
measure the auto-dispatch thresholds) and one on everything (the model that is shipped).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

import numpy as np
from numpy.typing import NDArray

from .calibration import Calibration
from .data import Labelled, stratified_folds
from .evaluation import evaluate
from .features import NgramFeatures, gram_counts
from .linear import fit_linear_svm
from .text_model import TextModel

THRESHOLD_PRECISIONS = (0.90, 0.95, 0.98, 0.99)


class TrainingError(ValueError):
    """The data cannot train a model; the message says why."""


@dataclass(frozen=True)
class TrainingOptions:
    ngram_min: int = 1
    ngram_max: int = 3
    min_df: int = 2  # an n-gram seen in one message only is noise more often than signal
    max_features: int = 1_000_000
    c: float = 1.0  # SVM regularisation: higher fits the training data closer
    calibration_folds: int = 5
    seed: int = 0


def train(data: Labelled, options: TrainingOptions | None = None, *, source: str = "") -> TextModel:
    options = options or TrainingOptions()
    labels = sorted(set(data.labels))
    if len(labels) < 2:
        raise TrainingError(f"need at least two labels to train, got {labels}")
    index = {label: i for i, label in enumerate(labels)}
    y = np.array([index[label] for label in data.labels], dtype=np.int64)
    counts = gram_counts(data.texts, options.ngram_min, options.ngram_max)

    oof, evidenced = _out_of_fold_scores(counts, data.labels, y, len(labels), options)
    # Calibrated on the messages the model would answer: those without evidence get no proposal, not a confidence.
    calibration = Calibration.fit(oof[evidenced], y[evidenced]) if oof is not None else Calibration()
    features = NgramFeatures.fit(
        counts, lo=options.ngram_min, hi=options.ngram_max, min_df=options.min_df, max_features=options.max_features
    )
    weights = fit_linear_svm(features.transform_counts(counts), y, len(labels), c=options.c)

    meta: dict[str, object] = {
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "source": source,
        "options": asdict(options),
        "trained_on": {"messages": len(data), "per_label": dict(sorted(Counter(data.labels).items()))},
        "features": features.size,
    }
    if oof is not None:
        ranked = calibration.rank(oof)
        predicted = [labels[i] if known else None for i, known in zip(ranked.top, evidenced, strict=True)]
        cv = evaluate(data.labels, predicted, ranked.top_confidence, precisions=THRESHOLD_PRECISIONS)
        # Measured, not assumed: case-api picks its auto-dispatch threshold from this table.
        meta["cross_validation"] = {"folds": options.calibration_folds, **cv.summary()}
        meta["thresholds"] = [asdict(op) for op in cv.operating]
    digest = hashlib.sha256(weights.coef.tobytes() + weights.bias.tobytes()).hexdigest()[:8]
    meta["version"] = f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{digest}"
    return TextModel(features=features, weights=weights, labels=labels, calibration=calibration, meta=meta)


def _out_of_fold_scores(
    counts: list[Counter[str]], labels: list[str], y: NDArray[np.int64], n_classes: int, options: TrainingOptions
) -> tuple[NDArray[np.float32] | None, NDArray[np.bool_]]:
    """Scores of each message from a model that did not see it (None when there is too little data to split), and
    whether that model found evidence in it (`NgramFeatures.has_evidence`)."""
    folds = options.calibration_folds
    evidenced = np.ones(len(labels), dtype=bool)
    if folds < 2 or len(labels) < 2 * folds:
        return None, evidenced
    scores = np.zeros((len(labels), n_classes), dtype=np.float32)
    for held in stratified_folds(labels, folds, seed=options.seed):
        held_set = set(held)
        train_ids = [i for i in range(len(labels)) if i not in held_set]
        features = NgramFeatures.fit(
            [counts[i] for i in train_ids],
            lo=options.ngram_min,
            hi=options.ngram_max,
            min_df=options.min_df,
            max_features=options.max_features,
        )
        weights = fit_linear_svm(
            features.transform_counts([counts[i] for i in train_ids]), y[train_ids], n_classes, c=options.c
        )
        rows = features.transform_counts([counts[i] for i in held])
        scores[held] = weights.scores(rows)
        evidenced[held] = features.has_evidence(rows)
    return scores, evidenced
