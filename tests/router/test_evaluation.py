"""Evaluation metrics on a confusion worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from router.model import evaluate, format_report
from router.model.evaluation import operating_point


def test_metrics_on_a_known_confusion() -> None:
    # a: 3 right, 1 taken for b; b: 2 right, 1 taken for a; c: 1 right, never predicted wrongly.
    truth = ["a", "a", "a", "a", "b", "b", "b", "c"]
    predicted = ["a", "a", "a", "b", "b", "b", "a", "c"]
    result = evaluate(truth, predicted)
    assert result.labels == ["a", "b", "c"]
    assert result.confusion == [[3, 1, 0], [1, 2, 0], [0, 0, 1]]
    assert result.accuracy == pytest.approx(6 / 8)
    f1_a = 2 * (3 / 4) * (3 / 4) / (3 / 4 + 3 / 4)  # precision 3/4, recall 3/4
    f1_b = 2 * (2 / 3) * (2 / 3) / (2 / 3 + 2 / 3)  # precision 2/3, recall 2/3
    assert result.macro_f1 == pytest.approx((f1_a + f1_b + 1.0) / 3)
    report = format_report(result)
    assert "accuracy   0.7500" in report and "confusion matrix" in report


def test_coverage_at_precision_takes_the_most_confident_messages_first() -> None:
    confidence = np.array([0.99, 0.97, 0.95, 0.9, 0.8, 0.6, 0.5, 0.4, 0.3, 0.2])
    correct = np.array([1, 1, 1, 1, 1, 1, 0, 1, 0, 0], dtype=bool)
    at_100 = operating_point(confidence, correct, 1.0)
    assert at_100.coverage == pytest.approx(0.6) and at_100.threshold == pytest.approx(0.6)
    at_85 = operating_point(confidence, correct, 0.85)
    assert at_85.coverage == pytest.approx(0.8) and at_85.threshold == pytest.approx(0.4)  # 7 of 8 right


def test_ties_are_accepted_or_refused_together() -> None:
    # Two messages share the top confidence and one of them is wrong: no threshold gives 100% precision.
    point = operating_point(np.array([0.9, 0.9, 0.5]), np.array([True, False, True]), 1.0)
    assert point.threshold is None and point.coverage == 0.0


def test_coverage_is_reported_at_95_and_98_percent() -> None:
    # 48 sure and right, then 2 unsure and wrong: 48/50 = 96% right overall.
    result = evaluate(["a"] * 50, ["a"] * 48 + ["b"] * 2, [0.99] * 48 + [0.2] * 2)
    summary = result.summary()
    assert summary["coverage_at_0.98"] == pytest.approx(0.96) and summary["threshold_at_0.98"] == 0.99
    assert summary["coverage_at_0.95"] == pytest.approx(1.0) and summary["threshold_at_0.95"] == 0.2


def test_messages_the_model_proposed_nothing_for_are_wrong_and_never_covered() -> None:
    # 96 sure and right, 4 without a proposal: 96% right overall, so covering everything would "reach" 95%.
    result = evaluate(["a"] * 100, ["a"] * 96 + [None] * 4, [0.9] * 96 + [0.0] * 4)
    assert result.accuracy == pytest.approx(0.96)
    assert result.summary()["coverage_at_0.95"] == pytest.approx(0.96)
    assert "(no proposal)" in format_report(result)
