"""`inbox-router`: train, predict, evaluate and retrain the learned classifier from the command line.

    inbox-router train --csv FILE --text-col TEXT --label-col LABEL --model-dir DIR
    inbox-router predict --model-dir DIR  < messages.jsonl > predictions.jsonl
    inbox-router evaluate --model-dir DIR --csv FILE --text-col TEXT --label-col LABEL
    inbox-router retrain --model-dir DIR

Exit status: 0 done, 1 some input lines could not be predicted, 2 bad arguments or unusable data or model.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Sequence
from itertools import islice
from pathlib import Path
from typing import Any, BinaryIO

import orjson
import structlog

from .model import (
    DataError,
    ModelFileError,
    RetrainError,
    TrainingError,
    TrainingOptions,
    bootstrap,
    evaluate,
    format_report,
    load_model,
    read_labelled_csv,
    retrain,
)

PREDICT_BATCH = 512  # lines per model call: amortises the sparse products without holding all input in memory


def _train(args: argparse.Namespace) -> int:
    data = read_labelled_csv(args.csv, text_col=args.text_col, label_col=args.label_col)
    options = TrainingOptions(ngram_max=args.ngram_max, c=args.c)
    print(f"training on {len(data)} messages from {args.csv} ({data.skipped} rows without text or label skipped)")
    result = bootstrap(data, args.model_dir, holdout=args.holdout, options=options, source=str(args.csv))
    model = result.model
    print(f"model {model.version}: {len(model.labels)} labels, {model.meta['features']} n-grams → {args.model_dir}")
    cv = model.meta.get("cross_validation")
    if cv:
        print(f"cross-validated on the training part: macro-F1 {cv['macro_f1']:.4f}, accuracy {cv['accuracy']:.4f}")
    for op in model.meta.get("thresholds", []):
        if op["threshold"] is not None:
            print(
                f"  auto-dispatch at {op['precision']:.0%} precision: confidence ≥ {op['threshold']:.4f} "
                f"covers {op['coverage']:.1%}"
            )
    if result.held_out is not None:
        print(f"\nfrozen evaluation set ({result.held_out.n} messages held out, never trained on):")
        print(format_report(result.held_out))
    return 0


def _batches(stream: BinaryIO, size: int) -> Iterator[list[bytes]]:
    lines = (line for line in stream if line.strip())
    while batch := list(islice(lines, size)):
        yield batch


def _parse_line(line: bytes) -> tuple[Any, str | None, str | None]:
    """(id, text, error): a bad line is answered with an error line, so output stays one line per input line."""
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        return None, None, f"not JSON: {exc}"
    if not isinstance(record, dict):
        return None, None, "not a JSON object"
    text = record.get("text")
    if not isinstance(text, str):
        return record.get("id"), None, 'needs a "text" string'
    return record.get("id"), text, None


def _predict(args: argparse.Namespace) -> int:
    model = load_model(args.model_dir)
    out = sys.stdout.buffer
    failed = 0
    for batch in _batches(sys.stdin.buffer, PREDICT_BATCH):
        items = [_parse_line(line) for line in batch]
        texts = [text for _, text, _ in items if text is not None]
        predictions = iter(model.predict(texts))
        for ident, text, error in items:
            if text is None:
                failed += 1
                out.write(orjson.dumps({"id": ident, "error": error}) + b"\n")
                continue
            p = next(predictions)
            runner_up = None if p.runner_up is None else {"label": p.runner_up, "confidence": p.runner_up_confidence}
            row = {
                "id": ident,
                "label": p.label,
                "confidence": p.confidence,
                "runner_up": runner_up,
                "explanation": p.explanation,
            }
            out.write(orjson.dumps(row) + b"\n")
        out.flush()
    if failed:
        print(f"{failed} line(s) could not be predicted", file=sys.stderr)
    return 1 if failed else 0


def _evaluate(args: argparse.Namespace) -> int:
    model = load_model(args.model_dir)
    data = read_labelled_csv(args.csv, text_col=args.text_col, label_col=args.label_col)
    predictions = model.predict(data.texts, explain=False)
    result = evaluate(data.labels, [p.label for p in predictions], [p.confidence for p in predictions])
    unknown = sorted(set(data.labels) - set(model.labels))
    print(f"model {model.version} on {args.csv}")
    if unknown:
        print(f"labels the model was never trained on (always wrong): {', '.join(unknown)}")
    print(format_report(result))
    if args.json:
        print(json.dumps(result.summary(), ensure_ascii=False))
    return 0


def _retrain(args: argparse.Namespace) -> int:
    outcome = retrain(args.model_dir, tolerance=args.tolerance)
    print(json.dumps(outcome.to_dict(), ensure_ascii=False, indent=2))
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="inbox-router", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    def csv_args(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--csv", type=Path, required=True, help="UTF-8 CSV with a header row")
        sub.add_argument("--text-col", default="text", help="column holding the message text (default: text)")
        sub.add_argument("--label-col", default="label", help="column holding the label (default: label)")

    def model_dir(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--model-dir", type=Path, required=True, help="directory of the model")

    train = commands.add_parser("train", help="train a model from a CSV of text and label (a city's ledger)")
    csv_args(train)
    model_dir(train)
    train.add_argument(
        "--holdout",
        type=float,
        default=0.1,
        help="share held out as the frozen evaluation set that gates every retrain (default 0.1; 0: none)",
    )
    train.add_argument("--ngram-max", type=int, default=3, help="longest character n-gram (default 3)")
    train.add_argument("--c", type=float, default=1.0, help="SVM regularisation (default 1.0)")
    train.set_defaults(run=_train)

    predict = commands.add_parser("predict", help='JSON lines {"id", "text"} on stdin → predictions on stdout')
    model_dir(predict)
    predict.set_defaults(run=_predict)

    evaluation = commands.add_parser("evaluate", help="accuracy, macro-F1, confusion, coverage at 95%%/98%% precision")
    csv_args(evaluation)
    model_dir(evaluation)
    evaluation.add_argument("--json", action="store_true", help="also print the summary as one JSON line")
    evaluation.set_defaults(run=_evaluate)

    again = commands.add_parser("retrain", help="seed + corrections → new model, live only if no worse")
    model_dir(again)
    again.add_argument("--tolerance", type=float, default=0.005, help="macro-F1 the new model may lose (0.005)")
    again.set_defaults(run=_retrain)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # stdout carries results (predict's JSON lines): logs go to stderr.
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    try:
        return int(args.run(args))
    except (DataError, ModelFileError, TrainingError, RetrainError) as exc:
        print(f"inbox-router {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
