"""Calibration fitted on out-of-fold scores: per-label offsets for macro-F1, and the confidence of the top label."""

from __future__ import annotations

import numpy as np

from router.model.calibration import Calibration, macro_f1_of, macro_f1_offsets


def _under_predicted_small_label(seed: int = 0, n_big: int = 600, n_small: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """Two big labels and a small one whose score runs low: a one-vs-rest SVM's usual bias against small labels."""
    rng = np.random.default_rng(seed)
    y = np.array([0] * n_big + [1] * n_big + [2] * n_small)
    scores = rng.normal(-1.0, 0.4, size=(len(y), 3))
    scores[np.arange(len(y)), y] += 1.2
    scores[:, 2] -= 0.8
    return scores, y


def test_offsets_give_an_under_predicted_small_label_back_its_messages() -> None:
    scores, y = _under_predicted_small_label()
    offsets = macro_f1_offsets(scores, y)
    assert offsets[2] > max(offsets[0], offsets[1])
    before = macro_f1_of(scores.argmax(axis=1), y, 3)
    fresh, fresh_y = _under_predicted_small_label(seed=1)  # offsets tuned on one sample help on another
    assert macro_f1_of((fresh + offsets).argmax(axis=1), fresh_y, 3) > macro_f1_of(fresh.argmax(axis=1), fresh_y, 3)
    assert macro_f1_of((scores + offsets).argmax(axis=1), y, 3) > before


def test_no_offsets_when_they_do_not_help_on_rows_they_were_not_tuned_on() -> None:
    rng = np.random.default_rng(3)
    y = np.repeat(np.arange(3), 200)
    scores = rng.normal(-1.0, 0.3, size=(len(y), 3))
    scores[np.arange(len(y)), y] += 2.0  # already separable: nothing to move
    assert not np.any(macro_f1_offsets(scores, y))
    assert Calibration.fit(scores, y).offsets == ()


def test_fitted_offsets_change_decisions_and_survive_a_round_trip() -> None:
    scores, y = _under_predicted_small_label()
    calibration = Calibration.fit(scores, y)
    assert len(calibration.offsets) == 3
    assert calibration.slope >= 0
    ranked = calibration.rank(scores.astype(np.float32))
    assert np.sum(ranked.top == 2) > np.sum(scores.argmax(axis=1) == 2)
    again = Calibration.from_dict(calibration.to_dict())
    assert again == calibration
    np.testing.assert_allclose(again.rank(scores).top_confidence, calibration.rank(scores).top_confidence)


def test_confidence_rises_with_the_lead_over_the_runner_up() -> None:
    scores, y = _under_predicted_small_label()
    calibration = Calibration.fit(scores, y)
    leads = np.array([[0.0, 0.0, -1.0], [0.5, 0.0, -1.0], [1.5, 0.0, -1.0]])
    confidence = calibration.rank(leads).top_confidence
    assert confidence[0] < confidence[1] < confidence[2]
    assert confidence[0] < 0.7  # a tie is never near-certain


def test_a_model_saved_before_offsets_existed_still_loads() -> None:
    old = {"slope": 2.0, "intercept": 0.1, "temperature": 0.5}
    calibration = Calibration.from_dict(old)
    assert calibration.offsets == ()
    scores = np.array([[1.0, 0.2, -0.3]])
    assert calibration.rank(scores).top_confidence[0] == np.float64(1 / (1 + np.exp(-(2.0 * 0.8 + 0.1))))
