"""Labelled texts: read a city's ledger (CSV), split it reproducibly, write the seed and evaluation files."""

from __future__ import annotations

import csv
import random
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path


class DataError(ValueError):
    """The CSV cannot be used as training data; the message says why."""


@dataclass
class Labelled:
    texts: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    skipped: int = 0  # rows with an empty text or label

    def __len__(self) -> int:
        return len(self.texts)

    def add(self, text: str, label: str) -> None:
        self.texts.append(text)
        self.labels.append(label)

    def subset(self, indices: Iterable[int]) -> Labelled:
        out = Labelled()
        for i in indices:
            out.add(self.texts[i], self.labels[i])
        return out


ROWS_INSIDE_A_FIELD = 2  # lines of one field that read as rows of their own: a stray quote swallowed them


def read_labelled_csv(path: Path, *, text_col: str = "text", label_col: str = "label") -> Labelled:
    """UTF-8 (with or without BOM, as Excel writes it); rows missing the text or the label are counted, not used.

    A stray opening quote makes one field run on over the rows that follow, up to the next quote in the file: the
    csv module then fails (a field over its size limit) or quietly returns one huge field instead of those rows.
    Both are refused, naming the line where the field starts.
    """
    data = Labelled()
    multiline: list[tuple[int, str]] = []  # (line it starts on, field) for fields that span lines
    line = 0  # the last line read
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            columns = reader.fieldnames or []
            missing = [c for c in (text_col, label_col) if c not in columns]
            if missing:
                raise DataError(f"{path}: no column {', '.join(map(repr, missing))} (columns: {reader.fieldnames})")
            line = reader.line_num
            for row in reader:
                start, line = line + 1, reader.line_num
                multiline += [(start, v) for v in row.values() if isinstance(v, str) and "\n" in v]
                text, label = (row.get(text_col) or "").strip(), (row.get(label_col) or "").strip()
                if text and label:
                    data.add(text, label)
                else:
                    data.skipped += 1
    except FileNotFoundError as exc:
        raise DataError(f"{path}: no such file") from exc
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 ({exc}); save the ledger as UTF-8 CSV") from exc
    except csv.Error as exc:
        raise DataError(f"{path}: line {line + 1}: {exc}; {_STRAY_QUOTE}") from exc
    _refuse_swallowed_rows(path, multiline, columns.index(label_col), len(columns), set(data.labels))
    return data


_STRAY_QUOTE = "does a field open with a double quote that is never closed? Double the quote or remove it"


def _refuse_swallowed_rows(
    path: Path, multiline: list[tuple[int, str]], label_at: int, width: int, labels: set[str]
) -> None:
    """Messages may span lines; but lines that parse as complete rows, with a label of this file, are rows."""
    for start, value in multiline:
        lines = value.rstrip("\r\n").split("\n")
        rows = [
            (start + i, line)
            for i, line in enumerate(lines[1:], 1)
            if len(fields := next(csv.reader([line.rstrip("\r")]), [])) == width
            and (label := fields[label_at].strip())
            and (label in labels or not labels)
        ]
        if len(rows) >= ROWS_INSIDE_A_FIELD:
            at, first = rows[0]
            raise DataError(
                f"{path}: line {start}: one field runs over {len(lines)} lines, {len(rows)} of which read as "
                f"rows of their own (line {at}: {first[:40]!r}…); {_STRAY_QUOTE}"
            )


def write_labelled_csv(data: Labelled, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(zip(data.texts, data.labels, strict=True))


def stratified_folds(labels: list[str], n_folds: int, *, seed: int = 0) -> list[list[int]]:
    """Deal each label's examples round-robin over the folds, so every fold sees every label it can."""
    by_label: dict[str, list[int]] = defaultdict(list)
    for i, label in enumerate(labels):
        by_label[label].append(i)
    rng = random.Random(seed)
    folds: list[list[int]] = [[] for _ in range(n_folds)]
    offset = 0
    for label in sorted(by_label):
        members = by_label[label]
        rng.shuffle(members)
        for j, i in enumerate(members):
            folds[(offset + j) % n_folds].append(i)
        offset += len(members)  # small labels start where the last one stopped, so folds stay balanced
    return [sorted(f) for f in folds]


def stratified_holdout(data: Labelled, fraction: float, *, seed: int = 0) -> tuple[Labelled, Labelled]:
    """(train, held out): about `fraction` of every label held out; a label with one example stays in train."""
    by_label: dict[str, list[int]] = defaultdict(list)
    for i, label in enumerate(data.labels):
        by_label[label].append(i)
    rng = random.Random(seed)
    held: set[int] = set()
    for label in sorted(by_label):
        members = by_label[label]
        rng.shuffle(members)
        take = round(len(members) * fraction) if len(members) > 1 else 0
        held.update(members[: min(take, len(members) - 1)])
    train = data.subset(i for i in range(len(data)) if i not in held)
    return train, data.subset(sorted(held))
