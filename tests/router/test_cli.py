"""`inbox-router train / predict / evaluate / retrain`, end to end, as a script would run them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.router.synthetic import messages, write_csv


def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "router.cli", *args], input=stdin, capture_output=True, text=True, timeout=120
    )


def train(ledger: Path, model_dir: Path, *columns: str) -> subprocess.CompletedProcess[str]:
    return cli("train", "--csv", str(ledger), *columns, "--model-dir", str(model_dir))


COLUMNS = ("--text-col", "内容", "--label-col", "类别")


def test_train_predict_evaluate(tmp_path: Path) -> None:
    ledger = write_csv(messages(200), tmp_path / "ledger.csv", text_col="内容", label_col="类别")
    model_dir = tmp_path / "model"
    trained = cli(
        "train", "--csv", str(ledger), "--text-col", "内容", "--label-col", "类别", "--model-dir", str(model_dir)
    )
    assert trained.returncode == 0, trained.stderr
    assert "frozen evaluation set" in trained.stdout and (model_dir / "model.json").exists()

    lines = [
        {"id": 1, "text": "公司拖欠工资，社保没交，希望尽快解决"},
        {"id": "b2", "text": "夜间施工噪音太大"},
    ]
    predicted = cli("predict", "--model-dir", str(model_dir), stdin="".join(json.dumps(x) + "\n" for x in lines))
    assert predicted.returncode == 0, predicted.stderr
    rows = [json.loads(line) for line in predicted.stdout.splitlines()]
    assert [(r["id"], r["label"]) for r in rows] == [(1, "labour"), ("b2", "noise")]
    for row in rows:
        assert set(row) == {"id", "label", "confidence", "runner_up", "explanation"}
        assert 0 <= row["confidence"] <= 1 and row["explanation"]
        assert row["runner_up"]["label"] != row["label"] and 0 <= row["runner_up"]["confidence"] <= 1

    unseen = write_csv(messages(60, seed=11), tmp_path / "unseen.csv", text_col="内容", label_col="类别")
    evaluated = cli(
        "evaluate", "--model-dir", str(model_dir), "--csv", str(unseen), "--text-col", "内容", "--label-col", "类别"
    )
    assert evaluated.returncode == 0, evaluated.stderr
    for expected in ("accuracy", "macro-F1", "confusion matrix", "coverage at 95% precision", "coverage at 98%"):
        assert expected in evaluated.stdout


def test_predict_answers_a_bad_line_with_an_error_line(tmp_path: Path) -> None:
    model_dir = tmp_path / "model"
    assert (
        cli(
            "train", "--csv", str(write_csv(messages(80), tmp_path / "l.csv")), "--model-dir", str(model_dir)
        ).returncode
        == 0
    )
    result = cli(
        "predict", "--model-dir", str(model_dir), stdin='not json\n{"id": 7}\n{"id": 8, "text": "红绿灯坏了"}\n'
    )
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert result.returncode == 1 and len(rows) == 3
    assert "error" in rows[0] and rows[1] == {"id": 7, "error": 'needs a "text" string'}
    assert rows[2]["label"] == "transport"


def test_retrain_from_the_command_line(tmp_path: Path) -> None:
    model_dir = tmp_path / "model"
    assert (
        cli(
            "train", "--csv", str(write_csv(messages(120), tmp_path / "l.csv")), "--model-dir", str(model_dir)
        ).returncode
        == 0
    )
    result = cli("retrain", "--model-dir", str(model_dir))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["promoted"] is True


def test_unusable_input_exits_2_with_a_reason(tmp_path: Path) -> None:
    result = cli("evaluate", "--model-dir", str(tmp_path), "--csv", str(tmp_path / "missing.csv"))
    assert result.returncode == 2 and "no model here" in result.stderr


def test_a_stray_quote_in_a_large_ledger_exits_2_naming_its_line(tmp_path: Path) -> None:
    data = messages(400)
    ledger = write_csv(data, tmp_path / "ledger.csv")
    lines = ledger.read_text(encoding="utf-8").splitlines(keepends=True)
    lines = [line.replace("。,", "。" * 400 + ",") for line in lines]  # long messages: the csv field limit is hit
    lines[11] = '"' + lines[11]  # line 12 opens a quote that never closes: the rest of the file is one field
    ledger.write_text("".join(lines), encoding="utf-8")
    result = train(ledger, tmp_path / "model")
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "line 12" in result.stderr and "double quote" in result.stderr
