"""Turn raw SVM scores into confidences an operator (and an auto-dispatch threshold) can rely on.

The confidence of the top label is the measured probability that it is right, given how far it leads the
runner-up (Platt scaling of the score margin, fitted on out-of-fold predictions during training). The margin
ranked right and wrong answers better than the top score alone on the development data, which is what
"coverage at 98% precision" rewards. The remaining probability is shared among the other labels in proportion
to a temperature-scaled softmax of their scores, so top and runner-up never add up to more than 1.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import minimize, minimize_scalar
from scipy.special import expit, log_softmax, softmax

Scores = NDArray[np.float32] | NDArray[np.float64]


@dataclass(frozen=True)
class Ranked:
    """Per text: the best and second-best label index with their calibrated confidences."""

    top: NDArray[np.int64]
    top_confidence: NDArray[np.float64]
    second: NDArray[np.int64]  # -1 when the model knows a single label
    second_confidence: NDArray[np.float64]


@dataclass(frozen=True)
class Calibration:
    slope: float = 1.0
    intercept: float = 0.0
    temperature: float = 1.0

    def rank(self, scores: Scores) -> Ranked:
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

    def to_dict(self) -> dict[str, float]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Calibration:
        return cls(float(raw["slope"]), float(raw["intercept"]), float(raw["temperature"]))

    @classmethod
    def fit(cls, scores: Scores, y: NDArray[np.int64]) -> Calibration:
        """Fit on out-of-fold scores (never on the training fit itself, which is overconfident)."""
        n, k = scores.shape
        if k < 2 or n == 0:
            return cls()
        s = np.asarray(scores, dtype=np.float64)
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
        return cls(float(fitted[0]), float(fitted[1]), float(np.exp(log_t)))
