"""A city's first model, from its own historical ledger (what `inbox-router train` does).

A stratified share of the ledger is set aside as the frozen evaluation set before anything is trained: it
measures this model now and judges every retrain later, so it must never be trained on.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .data import Labelled, stratified_holdout, write_labelled_csv
from .evaluation import Evaluation, evaluate
from .layout import ModelDir
from .store import save_model
from .text_model import TextModel
from .training import TrainingOptions, train


@dataclass(frozen=True)
class Bootstrapped:
    model: TextModel
    trained_on: int
    held_out: Evaluation | None  # None when nothing was held out


def bootstrap(
    data: Labelled, model_dir: Path, *, holdout: float = 0.1, options: TrainingOptions | None = None, source: str = ""
) -> Bootstrapped:
    layout = ModelDir(model_dir)
    train_part, held = stratified_holdout(data, holdout) if holdout > 0 else (data, Labelled())
    model = train(train_part, options, source=source)
    result = None
    if len(held):
        predictions = model.predict(held.texts, explain=False)
        result = evaluate(held.labels, [p.label for p in predictions], [p.confidence for p in predictions])
        model.meta["evaluation"] = {"frozen_set": len(held), **result.summary()}
        write_labelled_csv(held, layout.evaluation)
    else:
        layout.evaluation.unlink(missing_ok=True)  # a stale set from another ledger would judge the wrong thing
    write_labelled_csv(train_part, layout.seed)
    save_model(model, model_dir)
    return Bootstrapped(model=model, trained_on=len(train_part), held_out=result)
