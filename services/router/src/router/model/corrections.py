"""Operators' corrections, kept as training data: one JSON line per correction in `data/corrections.jsonl`.

An append-only file is enough: corrections arrive at human speed, several router replicas may append to the same
shared directory (each line is one `write` on an O_APPEND descriptor, so lines do not interleave), and a retrain
reads them all. Redelivered events append the same correction twice; retraining keys them by text, so that is
harmless.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import structlog

from .layout import ModelDir

log = structlog.get_logger(__name__)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Correction:
    text: str
    label: str
    source: str = "operator"  # operator | confirm | api | … : who said so
    at: str = field(default_factory=_now)
    ref: str | None = None  # e.g. the case event id it came from


class CorrectionStore:
    def __init__(self, path: Path) -> None:
        self.path = path

    def record(self, correction: Correction) -> None:
        if not correction.text.strip() or not correction.label.strip():
            raise ValueError("a correction needs a text and a label")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = (json.dumps(asdict(correction), ensure_ascii=False) + "\n").encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)

    def read(self) -> list[Correction]:
        try:
            # Split on "\n" only: the writer leaves U+2028, U+0085 and other characters that str.splitlines() (and
            # universal-newline reading) would break on unescaped inside a record's text.
            lines = self.path.read_bytes().decode("utf-8").split("\n")
        except FileNotFoundError:
            return []
        out: list[Correction] = []
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                out.append(Correction(**json.loads(line)))
            except (ValueError, TypeError) as exc:  # a torn last line after a crash must not stop learning
                log.warning("correction_unreadable", path=str(self.path), line=number, error=str(exc))
        return out


def record_correction(
    model_dir: Path, text: str, label: str, *, source: str = "operator", ref: str | None = None
) -> Correction:
    """Keep one operator decision as training data for the next retrain."""
    correction = Correction(text=text, label=label, source=source, ref=ref)
    CorrectionStore(ModelDir(model_dir).corrections).record(correction)
    return correction
