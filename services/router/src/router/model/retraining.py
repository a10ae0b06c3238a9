"""Retrain from seed data plus operators' corrections; the new model goes live only if it is no worse.

"No worse" is measured on the frozen evaluation set (`data/eval.csv`), which neither model trained on: the
candidate's macro-F1 must be at least the live model's minus `tolerance`. A small tolerance lets corrections
through when retraining moves the score by a message or two either way; a poisoned or broken batch of
corrections costs far more than that and is refused. Every attempt is logged in `history.jsonl`.
"""

from __future__ import annotations

import fcntl
import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

from .corrections import CorrectionStore
from .data import Labelled, read_labelled_csv
from .evaluation import evaluate
from .features import normalise
from .layout import ModelDir
from .store import ModelFileError, load_model, save_model
from .text_model import TextModel
from .training import TrainingOptions, train

log = structlog.get_logger(__name__)


class RetrainError(RuntimeError):
    """Retraining cannot run here; the message says why."""


@dataclass(frozen=True)
class RetrainOutcome:
    promoted: bool
    reason: str
    live_version: str  # the version serving after this retrain
    candidate_version: str
    candidate_macro_f1: float
    previous_macro_f1: float | None  # None: there was no live model
    evaluated_on: int
    trained_on: int
    corrections_used: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def training_set(seed: Labelled, corrections: list[tuple[str, str]], evaluation: Labelled) -> tuple[Labelled, int]:
    """Seed plus corrections; a correction overrides the seed's label for the same text, the latest one wins.

    Corrections of texts in the evaluation set are left out, or the gate would measure what was trained on.
    """
    frozen = {normalise(t) for t in evaluation.texts}
    corrected: dict[str, tuple[str, str]] = {}
    for text, label in corrections:
        key = normalise(text)
        if key and key not in frozen:
            corrected[key] = (text, label)
    data = Labelled()
    for text, label in zip(seed.texts, seed.labels, strict=True):
        fix = corrected.get(normalise(text))
        data.add(text, fix[1] if fix else label)
    seen = {normalise(t) for t in seed.texts}
    for key, (text, label) in corrected.items():
        if key not in seen:
            data.add(text, label)
    return data, len(corrected)


def _score(model: TextModel, evaluation: Labelled) -> float:
    predictions = model.predict(evaluation.texts, explain=False)
    return evaluate(evaluation.labels, [p.label for p in predictions]).macro_f1


def retrain(model_dir: Path, *, tolerance: float = 0.005, options: TrainingOptions | None = None) -> RetrainOutcome:
    layout = ModelDir(model_dir)
    if not layout.evaluation.exists():
        raise RetrainError(f"{layout.evaluation}: no frozen evaluation set, so no retrain can be judged")
    if not layout.seed.exists():
        raise RetrainError(f"{layout.seed}: no seed data to retrain from")
    layout.root.mkdir(parents=True, exist_ok=True)
    with layout.retrain_lock.open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise RetrainError("another retrain is running on this model directory") from exc
        return _retrain_locked(layout, tolerance, options)


def _retrain_locked(layout: ModelDir, tolerance: float, options: TrainingOptions | None) -> RetrainOutcome:
    evaluation = read_labelled_csv(layout.evaluation)
    seed = read_labelled_csv(layout.seed)
    corrections = [(c.text, c.label) for c in CorrectionStore(layout.corrections).read()]
    data, used = training_set(seed, corrections, evaluation)
    try:
        live: TextModel | None = load_model(layout.root)
    except ModelFileError:
        live = None
    if options is None and live is not None and "options" in live.meta:
        options = TrainingOptions(**live.meta["options"])  # retrain the way the live model was trained
    candidate = train(data, options, source="retrain: seed + corrections")
    candidate_f1 = _score(candidate, evaluation)
    live_f1 = _score(live, evaluation) if live is not None else None
    promoted = live_f1 is None or candidate_f1 >= live_f1 - tolerance
    if promoted:
        candidate.meta["evaluation"] = {"frozen_set": len(evaluation), "macro_f1": round(candidate_f1, 4)}
        candidate.meta["corrections"] = used
        candidate.meta["previous_version"] = live.version if live is not None else None
        save_model(candidate, layout.root)
        reason = "no live model" if live_f1 is None else f"macro-F1 {candidate_f1:.4f} vs live {live_f1:.4f}"
    else:
        reason = f"candidate macro-F1 {candidate_f1:.4f} is worse than live {live_f1:.4f} (tolerance {tolerance})"
    outcome = RetrainOutcome(
        promoted=promoted,
        reason=reason,
        live_version=candidate.version if promoted or live is None else live.version,
        candidate_version=candidate.version,
        candidate_macro_f1=round(candidate_f1, 4),
        previous_macro_f1=None if live_f1 is None else round(live_f1, 4),
        evaluated_on=len(evaluation),
        trained_on=len(data),
        corrections_used=used,
    )
    with layout.history.open("a", encoding="utf-8") as history:
        history.write(json.dumps({"at": datetime.now(UTC).isoformat(timespec="seconds"), **outcome.to_dict()}) + "\n")
    log.info("retrained", **outcome.to_dict())
    return outcome
