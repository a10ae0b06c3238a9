"""Learning from operators: corrections are kept, retraining is gated by the frozen evaluation set."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from router.model import (
    CorrectionStore,
    ModelDir,
    RetrainError,
    bootstrap,
    load_model,
    record_correction,
    retrain,
)
from router.model.retraining import training_set
from tests.router.synthetic import messages


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    bootstrap(messages(200), tmp_path / "model", holdout=0.2)
    return tmp_path / "model"


def test_bootstrap_sets_the_evaluation_set_aside(model_dir: Path) -> None:
    layout = ModelDir(model_dir)
    seed = layout.seed.read_text(encoding="utf-8").splitlines()
    held = layout.evaluation.read_text(encoding="utf-8").splitlines()
    assert len(seed) - 1 == 160 and len(held) - 1 == 40
    assert not set(seed[1:]) & set(held[1:])  # never trained on what judges it
    assert load_model(model_dir).meta["evaluation"]["frozen_set"] == 40


def test_corrections_are_kept_one_json_line_each(model_dir: Path) -> None:
    record_correction(model_dir, "共享单车乱停放", "transport", ref="event-1")
    record_correction(model_dir, "楼下烧烤油烟", "noise", source="confirm")
    kept = CorrectionStore(ModelDir(model_dir).corrections).read()
    assert [(c.text, c.label, c.source) for c in kept] == [
        ("共享单车乱停放", "transport", "operator"),
        ("楼下烧烤油烟", "noise", "confirm"),
    ]
    assert kept[0].ref == "event-1" and kept[0].at


def test_corrections_with_unicode_line_separators_are_kept_and_the_file_stays_readable(tmp_path: Path) -> None:
    texts = ["路灯坏了\u2028位置：北门", "噪音\u0085扰民", "第一段\u2029第二段\x1c"]  # pasted from Word, old PDFs, …
    for text in texts:
        record_correction(tmp_path, text, "noise")
    kept = CorrectionStore(ModelDir(tmp_path).corrections).read()
    assert [c.text for c in kept] == texts
    assert "路灯坏了" in ModelDir(tmp_path).corrections.read_text(encoding="utf-8")  # readable, not escaped


def test_a_torn_line_does_not_stop_learning(model_dir: Path) -> None:
    record_correction(model_dir, "共享单车乱停放", "transport")
    with ModelDir(model_dir).corrections.open("a", encoding="utf-8") as handle:
        handle.write('{"text": "半行')
    assert len(CorrectionStore(ModelDir(model_dir).corrections).read()) == 1


def test_a_correction_overrides_the_seed_label_and_never_touches_the_evaluation_set() -> None:
    seed, evaluation = messages(8), messages(4, seed=5)
    corrections = [(seed.texts[0], "housing"), (evaluation.texts[0], "housing"), ("新的消息", "labour")]
    data, used = training_set(seed, corrections, evaluation)
    assert data.labels[0] == "housing"
    assert evaluation.texts[0] not in data.texts
    assert "新的消息" in data.texts and len(data) == 9 and used == 2


def test_a_model_no_worse_on_the_evaluation_set_goes_live(model_dir: Path) -> None:
    before = load_model(model_dir).version
    for text in ("共享单车乱停放挡住路口", "共享单车乱停放占用人行道", "共享单车乱停放没人管"):
        record_correction(model_dir, text, "transport")
    outcome = retrain(model_dir)
    assert outcome.promoted, outcome.reason
    assert outcome.corrections_used == 3
    live = load_model(model_dir)
    assert live.version == outcome.live_version != before
    assert live.meta["previous_version"] == before
    assert live.predict(["共享单车乱停放，严重影响生活"])[0].label == "transport"


def test_a_worse_model_is_not_promoted(model_dir: Path) -> None:
    before = load_model(model_dir).version
    seed = ModelDir(model_dir).seed.read_text(encoding="utf-8").splitlines()[1:]
    # A bad batch: every labour message "corrected" to noise. The frozen set still says labour.
    for line in seed:
        text, label = line.rsplit(",", 1)
        if label == "labour":
            record_correction(model_dir, text, "noise")
    outcome = retrain(model_dir)
    assert not outcome.promoted
    assert outcome.previous_macro_f1 is not None and outcome.candidate_macro_f1 < outcome.previous_macro_f1
    assert "worse" in outcome.reason
    assert load_model(model_dir).version == before == outcome.live_version
    history = [json.loads(line) for line in ModelDir(model_dir).history.read_text().splitlines()]
    assert history[-1]["promoted"] is False and history[-1]["candidate_version"] == outcome.candidate_version


def test_without_a_frozen_evaluation_set_nothing_is_promoted(tmp_path: Path) -> None:
    bootstrap(messages(60), tmp_path, holdout=0)
    with pytest.raises(RetrainError, match="no frozen evaluation set"):
        retrain(tmp_path)
