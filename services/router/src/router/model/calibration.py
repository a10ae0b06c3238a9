"""Turn raw SVM scores into decisions and confidences an operator (and an auto-dispatch threshold) can rely on.

Everything here is fitted on out-of-fold scores during training (never on the training fit itself, which is
overconfident):

- Per-label score offsets, chosen to maximise macro-F1. One-vs-rest SVMs under-predict small labels even with
  balanced weights; an offset per label moves the decision boundaries back. They are kept only when they also
  raise macro-F1 on out-of-fold rows they were not tuned on (cross-fitted), so on data where they do not help
  they stay at zero.
- The confidence of the top label is the measured probability that it is right, given how far it leads the
  runner-up (Platt scaling of the score margin). The margin ranked right and wrong answers better than the top
  score alone on the development data, and adding the top score as a second input did not rank them better
  (benchmarks/router/RESULTS.md); that ranking is what "coverage at 98% precision" rewards.
- The remaining probability is shared among the other labels in proportion to a temperature-scaled softmax of
  their scores, so top and runner-up never add up to more than 1.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import minimize, minimize_scalar
from scipy.special import expit, log_softmax, softmax

from .data import stratified_folds

Scores = NDArray[np.float32] | NDArray[np.float64]


@dataclass(frozen=True)
class Ranked:
    """Per text: the best and second-best label index with their calibrated confidences."""

    top: NDArray[np.int64]
    top_confidence: NDArray[np.float64]
    second: NDArray[np.int64]  # -1 when the model knows a single label
    second_confidence: NDArray[np.float64]


OFFSET_STEPS = np.linspace(-0.5, 0.5, 21)  # SVM scores mostly lie in [-2, 2]: steps of 0.05 either way
OFFSET_ROUNDS = 3
OFFSET_MIN_GAIN = 0.002  # cross-fitted macro-F1 gain below which offsets are noise, not signal


@dataclass(frozen=True)
class Calibration:
    slope: float = 1.0  # on the margin between the top two (adjusted) scores
    intercept: float = 0.0
    temperature: float = 1.0
    offsets: tuple[float, ...] = ()  # per label, added to the raw scores before anything else; () for none

    def adjust(self, scores: Scores) -> Scores:
        if len(self.offsets) != scores.shape[1]:
            return scores
        return scores + np.asarray(self.offsets, dtype=scores.dtype)

    def rank(self, scores: Scores) -> Ranked:
        scores = self.adjust(scores)
        n, k = scores.shape
        order = np.argsort(-scores, axis=1, kind="stable")
        top = order[:, 0]
        rows = np.arange(n)
        if k < 2:
            return Ranked(top, np.ones(n), np.full(n, -1), np.zeros(n))
        second = order[:, 1]
        margin = scores[rows, top] - scores[rows, second]
        confidence = expit(self.slope * margin + self.intercept)
        spread = softmax(scores / self.temperature, axis=1)
        rest = 1.0 - spread[rows, top]
        share = np.divide(spread[rows, second], rest, out=np.zeros(n), where=rest > 0)
        return Ranked(top, confidence, second, (1.0 - confidence) * share)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "offsets": list(self.offsets)}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Calibration:
        # Models saved before offsets existed read as having none.
        offsets = tuple(float(v) for v in raw.get("offsets", ()))
        return cls(float(raw["slope"]), float(raw["intercept"]), float(raw["temperature"]), offsets)

    @classmethod
    def fit(cls, scores: Scores, y: NDArray[np.int64]) -> Calibration:
        """Fit on out-of-fold scores (never on the training fit itself, which is overconfident)."""
        n, k = scores.shape
        if k < 2 or n == 0:
            return cls()
        offsets = macro_f1_offsets(np.asarray(scores, dtype=np.float64), y)
        s = np.asarray(scores, dtype=np.float64) + offsets
        order = np.argsort(-s, axis=1, kind="stable")
        rows = np.arange(n)
        margin = s[rows, order[:, 0]] - s[rows, order[:, 1]]
        right = (order[:, 0] == y).astype(np.float64)
        # Platt's smoothed targets keep the fit finite when every out-of-fold answer was right (or wrong), and an
        # anchor at zero margin (top two tied: a coin toss at best) keeps confidence rising with the margin even
        # then, so a text the model knows nothing about is never reported as near-certain.
        positives = right.sum()
        target = np.where(right > 0, (positives + 1) / (positives + 2), 1 / (n - positives + 2))
        margin = np.append(margin, 0.0)
        target = np.append(target, 0.5)
        weight = np.append(np.ones(n), max(1.0, 0.02 * n))

        def loss(params: NDArray[np.float64]) -> float:
            z = params[0] * margin + params[1]
            return float(np.sum(weight * (np.logaddexp(0, z) - target * z)))

        fitted = minimize(loss, np.array([1.0, 0.0]), method="Nelder-Mead").x

        def nll(log_t: float) -> float:
            return float(-np.sum(log_softmax(s / np.exp(log_t), axis=1)[rows, y]))

        log_t = minimize_scalar(nll, bounds=(-5.0, 5.0), method="bounded").x
        kept = tuple(float(v) for v in offsets) if np.any(offsets) else ()
        return cls(float(fitted[0]), float(fitted[1]), float(np.exp(log_t)), kept)


def macro_f1_of(predicted: NDArray[np.int64], y: NDArray[np.int64], k: int) -> float:
    true_positive = np.bincount(y[predicted == y], minlength=k)
    denominator = np.bincount(predicted, minlength=k) + np.bincount(y, minlength=k)
    f1 = np.divide(2.0 * true_positive, denominator, out=np.zeros(k), where=denominator > 0)
    return float(f1[np.bincount(y, minlength=k) > 0].mean())


def tune_offsets(scores: NDArray[np.float64], y: NDArray[np.int64]) -> NDArray[np.float64]:
    """Per-label offsets that maximise macro-F1 on these scores: coordinate ascent over a small grid."""
    k = scores.shape[1]
    offsets = np.zeros(k)
    best = macro_f1_of(scores.argmax(axis=1), y, k)
    for _ in range(OFFSET_ROUNDS):
        improved = False
        for label in range(k):
            # Moving one label's offset only decides between that label and the best of the others.
            others = scores + offsets
            own = others[:, label].copy()
            others[:, label] = -np.inf
            rival, rival_score = others.argmax(axis=1), others.max(axis=1)
            best_step = 0.0
            for step in OFFSET_STEPS:
                if step == 0.0:
                    continue
                value = macro_f1_of(np.where(own + step > rival_score, label, rival), y, k)
                if value > best + 1e-9:
                    best, best_step = value, float(step)
            if best_step:
                offsets[label] += best_step
                improved = True
        if not improved:
            break
    return offsets


def macro_f1_offsets(scores: NDArray[np.float64], y: NDArray[np.int64], *, folds: int = 5) -> NDArray[np.float64]:
    """Offsets tuned on all the scores, or zeros unless offsets tuned on part of them raise macro-F1 on the rest."""
    n, k = scores.shape
    none = np.zeros(k)
    if n < 10 * folds:
        return none
    crossfitted = scores.copy()
    for held in stratified_folds([str(v) for v in y], folds, seed=1):
        train = np.ones(n, dtype=bool)
        train[held] = False
        crossfitted[held] += tune_offsets(scores[train], y[train])
    gain = macro_f1_of(crossfitted.argmax(axis=1), y, k) - macro_f1_of(scores.argmax(axis=1), y, k)
    return tune_offsets(scores, y) if gain >= OFFSET_MIN_GAIN else none
