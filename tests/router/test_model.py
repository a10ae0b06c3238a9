"""The learned classifier as a library: training, calibrated confidences, explanations, persistence."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from router.model import (
    ModelFileError,
    TextModel,
    TrainingError,
    load_model,
    read_labelled_csv,
    save_model,
    train,
)
from router.model.data import DataError, Labelled
from tests.router.synthetic import messages, write_csv


@pytest.fixture(scope="module")
def model() -> TextModel:
    return train(messages(240))


def test_it_learns_the_categories_from_their_vocabulary(model: TextModel) -> None:
    unseen = messages(80, seed=99)
    predictions = model.predict(unseen.texts)
    accuracy = np.mean([p.label == t for p, t in zip(predictions, unseen.labels, strict=True)])
    assert accuracy > 0.95
    assert sorted(model.labels) == ["housing", "labour", "noise", "transport"]


def test_explanation_names_the_ngrams_behind_the_choice(model: TextModel) -> None:
    prediction = model.predict(["公司拖欠工资半年了，社保没交。"])[0]
    assert prediction.label == "labour"
    shown = [gram for gram, _ in prediction.evidence]
    assert shown and all(weight > 0 for _, weight in prediction.evidence)
    assert any(gram in "拖欠工资社保没交" for gram in shown)  # the telling words, not the fillers
    assert shown[0] in prediction.explanation


def test_confidence_is_high_for_clear_messages_and_low_for_vague_ones(model: TextModel) -> None:
    clear, vague = model.predict(["夜间施工噪音，凌晨打桩，严重影响生活。", "我家附近，每天都这样"])  # fillers only
    assert clear.label == "noise" and clear.confidence > 0.9
    assert vague.label is not None and vague.confidence < 0.75
    for p in (clear, vague):
        assert p.runner_up is not None and p.runner_up != p.label
        assert 0 <= p.runner_up_confidence <= p.confidence <= 1
        assert p.confidence + p.runner_up_confidence <= 1 + 1e-6


@pytest.mark.parametrize("text", ["👍", "？？？", "ok", "你好", "12345678901"])
def test_a_message_with_nothing_the_model_knows_gets_no_proposal(model: TextModel, text: str) -> None:
    # Once the prior's favourite label at 0.6-0.8 confidence, from nothing but the biases.
    prediction = model.predict([text])[0]
    assert prediction.label is None and prediction.confidence == 0 and prediction.runner_up is None
    assert "no proposal" in prediction.explanation


def test_the_stored_thresholds_count_messages_without_evidence_as_not_covered() -> None:
    data = messages(120)
    for _ in range(10):
        data.add("👍", "noise")  # learnable as a gram, but no evidence: the served model proposes nothing for it
    trained = train(data)
    assert trained.predict(["👍"])[0].label is None
    assert all(t["coverage"] <= 120 / 130 for t in trained.meta["thresholds"])


def test_measured_thresholds_are_stored_with_the_model(model: TextModel) -> None:
    precisions = [t["precision"] for t in model.meta["thresholds"]]
    assert 0.98 in precisions
    assert model.meta["cross_validation"]["macro_f1"] > 0.9


def test_save_and_load_give_identical_predictions(model: TextModel, tmp_path: Path) -> None:
    save_model(model, tmp_path)
    loaded = load_model(tmp_path)
    texts = [*messages(40, seed=7).texts, "你好", ""]
    assert loaded.version == model.version
    assert loaded.predict(texts) == model.predict(texts)
    assert np.array_equal(loaded.weights.coef, model.weights.coef)
    document = json.loads((tmp_path / "model.json").read_text(encoding="utf-8"))
    assert document["labels"] == model.labels and document["format"] == "inbox-router-ngram-svm"


def test_the_weights_file_holds_no_pickle(model: TextModel, tmp_path: Path) -> None:
    save_model(model, tmp_path)
    (weights,) = tmp_path.glob("weights-*.npz")
    with np.load(weights, allow_pickle=False) as arrays:  # raises if any array needed unpickling
        assert set(arrays.files) == {"grams", "idf", "coef", "bias"}
        assert arrays["grams"].dtype.kind == "U"


def test_a_tampered_weights_file_is_refused(model: TextModel, tmp_path: Path) -> None:
    save_model(model, tmp_path)
    (weights,) = tmp_path.glob("weights-*.npz")
    weights.write_bytes(weights.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(ModelFileError, match="checksum"):
        load_model(tmp_path)


def test_an_empty_directory_says_how_to_get_a_model(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="inbox-router train"):
        load_model(tmp_path)


def test_replacing_a_model_keeps_the_previous_weights_for_rollback(tmp_path: Path) -> None:
    first, second, third = (train(messages(80, seed=s)) for s in (1, 2, 3))
    for m in (first, second, third):
        save_model(m, tmp_path)
    kept = sorted(p.name for p in tmp_path.glob("weights-*.npz"))
    assert kept == sorted([f"weights-{second.version}.npz", f"weights-{third.version}.npz"])
    assert load_model(tmp_path).version == third.version


def test_one_label_cannot_train() -> None:
    data = Labelled()
    for i in range(10):
        data.add(f"消息{i}", "only")
    with pytest.raises(TrainingError, match="two labels"):
        train(data)


def test_a_csv_without_the_named_columns_is_refused(tmp_path: Path) -> None:
    path = write_csv(messages(10), tmp_path / "ledger.csv", text_col="内容", label_col="类别")
    assert len(read_labelled_csv(path, text_col="内容", label_col="类别")) == 10
    with pytest.raises(DataError, match="no column 'text'"):
        read_labelled_csv(path)


def test_a_stray_quote_swallowing_the_rows_below_is_refused_naming_its_line(tmp_path: Path) -> None:
    path = write_csv(messages(60), tmp_path / "ledger.csv")
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[11] = '"' + lines[11]  # without the check: 10 rows read, the other 50 silently one unlabelled field
    path.write_text("".join(lines), encoding="utf-8")
    with pytest.raises(DataError, match="line 12: one field runs over 50 lines, 49 of which read as rows"):
        read_labelled_csv(path)


def test_messages_spanning_lines_are_still_read(tmp_path: Path) -> None:
    path = tmp_path / "ledger.csv"
    data = messages(20)
    data.texts[3] = "路灯坏了\n位置, 小区北门\n时间, 昨晚\n" + data.texts[3]  # lines with a comma, but no label
    write_csv(data, path)
    read = read_labelled_csv(path)
    assert len(read) == 20 and read.texts[3].startswith("路灯坏了\n位置")
