"""What lives in a model directory (INBOX_ROUTER_MODEL_DIR, or `--model-dir`).

model.json, weights-<version>.npz   the live model (see store.py)
data/seed.csv                       what the model was bootstrapped from (text,label)
data/eval.csv                       the frozen evaluation set: never trained on, gates every retrain
data/corrections.jsonl              operators' corrections, appended as they happen
history.jsonl                       one line per retrain: both models' scores and whether it went live
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ModelDir:
    root: Path

    @property
    def seed(self) -> Path:
        return self.root / "data" / "seed.csv"

    @property
    def evaluation(self) -> Path:
        return self.root / "data" / "eval.csv"

    @property
    def corrections(self) -> Path:
        return self.root / "data" / "corrections.jsonl"

    @property
    def history(self) -> Path:
        return self.root / "history.jsonl"

    @property
    def retrain_lock(self) -> Path:
        return self.root / ".retrain.lock"
