"""Router classifier benchmark: accuracy targets (issue 6) on ../shared/data, and prediction speed.

    .venv/bin/python benchmarks/router/bench.py [--data-dir ../shared/data] [--folds 5] [--tasks teddy,request,domain]

Held-out protocol: stratified k-fold cross-validation; each fold trains the product's `train()` (including its own
inner calibration folds) on the other folds and predicts the held-out one, so every figure is measured on
messages the model never saw. The data sets are not in the repo (and not in CI): tasks whose file is missing are
skipped. Speed is measured on one core (the process pinned to one CPU) on messages of exactly 200 characters.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import random
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from router.model import Labelled, TrainingOptions, evaluate, train
from router.model.data import stratified_folds

REPO = Path(__file__).resolve().parents[2]


def load(path: Path, text_col: str, label_col: str, *, min_examples: int = 1) -> Labelled | None:
    if not path.exists():
        print(f"skipped: {path} not present", file=sys.stderr)
        return None
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = [(r[text_col].strip(), r[label_col].strip()) for r in csv.DictReader(handle)]
    rows = [(t, lab) for t, lab in rows if t and lab]
    counts = Counter(lab for _, lab in rows)
    data = Labelled()
    for text, label in rows:
        if counts[label] >= min_examples:
            data.add(text, label)
    return data


def cross_validate(name: str, data: Labelled, folds: int, options: TrainingOptions) -> dict[str, object]:
    truth: list[str] = []
    predicted: list[str | None] = []  # None: no proposal (nothing in the text the model knows)
    confidence: list[float] = []
    started = time.perf_counter()
    for held in stratified_folds(data.labels, folds, seed=42):
        held_set = set(held)
        model = train(data.subset(i for i in range(len(data)) if i not in held_set), options)
        test = data.subset(held)
        predictions = model.predict(test.texts, explain=False)
        truth += test.labels
        predicted += [p.label for p in predictions]
        confidence += [p.confidence for p in predictions]
    result = evaluate(truth, predicted, confidence)
    summary: dict[str, object] = {"task": name, "messages": len(data), "labels": len(set(data.labels))}
    summary |= result.summary()
    summary["train_s_per_fold"] = round((time.perf_counter() - started) / folds, 1)
    print(summary, flush=True)
    return summary


def speed(data: Labelled, options: TrainingOptions, *, n: int = 20_000, batch: int = 500) -> dict[str, float]:
    """Messages of exactly 200 characters (real texts, cut or repeated), predicted in batches as the service does."""
    model = train(data, options)
    rng = random.Random(0)
    texts = []
    for _ in range(n):
        text = rng.choice(data.texts)
        texts.append((text * (200 // len(text) + 1))[:200])
    out: dict[str, float] = {}
    for explain in (True, False):
        model.predict(texts[:batch], explain=explain)  # warm-up
        started = time.perf_counter()
        for i in range(0, n, batch):
            model.predict(texts[i : i + batch], explain=explain)
        out["per_s_with_explanation" if explain else "per_s_without_explanation"] = round(
            n / (time.perf_counter() - started)
        )
    print(out, flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--ngram-max", type=int, default=3)
    parser.add_argument("--c", type=float, default=1.0)
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--tasks", default="teddy,request,domain", help="comma-separated: teddy, request, domain")
    args = parser.parse_args()
    options = TrainingOptions(ngram_max=args.ngram_max, c=args.c)
    print(
        f"# {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, numpy {np.__version__}, options {options}"
    )
    tasks = set(args.tasks.split(","))
    teddy = load(args.data_dir / "teddy_visible.csv", "text", "label")
    if teddy is not None and "teddy" in tasks:
        cross_validate("teddy category", teddy, args.folds, options)
    if "request" in tasks and (request_type := load(args.data_dir / "msga_visible.csv", "text", "request_type")):
        cross_validate("msga request type", request_type, args.folds, options)
    if "domain" in tasks and (domain := load(args.data_dir / "msga_visible.csv", "text", "domain", min_examples=30)):
        cross_validate("msga domain (>= 30 examples)", domain, args.folds, options)
    if teddy is not None and not args.skip_speed:
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # "per core": this process on one CPU only
        speed(teddy, options)


if __name__ == "__main__":
    main()
