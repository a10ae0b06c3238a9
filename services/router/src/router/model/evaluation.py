"""Measures operators and taxonomy maintainers care about: accuracy, macro-F1, the confusion matrix, and how many
messages the model could route alone at a given precision (the auto-dispatch threshold and its coverage)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

REPORTED_PRECISIONS = (0.95, 0.98)
NO_PROPOSAL = "(no proposal)"  # the label column of messages the model proposed nothing for: wrong, never covered


@dataclass(frozen=True)
class Operating:
    """At `precision`: answer alone when confidence ≥ `threshold`; that covers `coverage` of the messages."""

    precision: float
    threshold: float | None  # None: no threshold reaches this precision
    coverage: float


@dataclass(frozen=True)
class ClassScores:
    label: str
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class Evaluation:
    n: int
    accuracy: float
    macro_f1: float
    labels: list[str]
    confusion: list[list[int]]  # rows: true label, columns: predicted label, in `labels` order
    per_class: list[ClassScores]
    operating: list[Operating] = field(default_factory=list)

    def summary(self) -> dict[str, float | int | None]:
        out: dict[str, float | int | None] = {
            "n": self.n,
            "accuracy": round(self.accuracy, 4),
            "macro_f1": round(self.macro_f1, 4),
        }
        for op in self.operating:
            out[f"coverage_at_{op.precision:.2f}"] = round(op.coverage, 4)
            out[f"threshold_at_{op.precision:.2f}"] = None if op.threshold is None else round(op.threshold, 4)
        return out


def operating_point(confidence: NDArray[np.float64], correct: NDArray[np.bool_], precision: float) -> Operating:
    """The lowest confidence threshold whose accepted messages are right at least `precision` of the time.

    Ties are never split: every message with the same confidence is accepted or refused together, as a
    threshold would do in production. Confidence 0 is the model proposing nothing: never accepted.
    """
    n = len(confidence)
    if n == 0:
        return Operating(precision, None, 0.0)
    order = np.argsort(-confidence, kind="stable")
    conf, ok = confidence[order], correct[order].astype(np.float64)
    accepted = np.arange(1, n + 1)
    cumulative = np.cumsum(ok) / accepted
    group_end = np.append(conf[1:] != conf[:-1], True)  # last position of each run of equal confidences
    candidates = np.where(group_end & (cumulative >= precision) & (conf > 0))[0]
    if candidates.size == 0:
        return Operating(precision, None, 0.0)
    last = int(candidates.max())
    return Operating(precision, float(conf[last]), (last + 1) / n)


def evaluate(
    truth: Sequence[str],
    predicted: Sequence[str | None],
    confidence: Sequence[float] | NDArray[np.float64] | None = None,
    *,
    precisions: Sequence[float] = REPORTED_PRECISIONS,
) -> Evaluation:
    """`predicted` None: the model proposed nothing (an operator classifies it), counted as a wrong answer."""
    answers = [NO_PROPOSAL if p is None else p for p in predicted]
    labels = sorted(set(truth) | set(answers))
    index = {label: i for i, label in enumerate(labels)}
    t = np.array([index[x] for x in truth], dtype=np.int64)
    p = np.array([index[x] for x in answers], dtype=np.int64)
    k = len(labels)
    confusion = np.zeros((k, k), dtype=np.int64)
    np.add.at(confusion, (t, p), 1)
    tp = np.diag(confusion).astype(np.float64)
    predicted_n = confusion.sum(axis=0).astype(np.float64)
    support = confusion.sum(axis=1).astype(np.float64)
    prec = np.divide(tp, predicted_n, out=np.zeros(k), where=predicted_n > 0)
    rec = np.divide(tp, support, out=np.zeros(k), where=support > 0)
    f1 = np.divide(2 * prec * rec, prec + rec, out=np.zeros(k), where=(prec + rec) > 0)
    # Macro-F1 over the labels that occur in the truth: a label only ever predicted still costs precision
    # elsewhere, but does not add a zero of its own (the usual convention, as in scikit-learn's `labels=`).
    present = support > 0
    per_class = [ClassScores(labels[i], float(prec[i]), float(rec[i]), float(f1[i]), int(support[i])) for i in range(k)]
    operating: list[Operating] = []
    if confidence is not None:
        correct = t == p
        conf = np.where([a is None for a in predicted], 0.0, np.asarray(confidence, dtype=np.float64))
        operating = [operating_point(conf, correct, target) for target in precisions]
    return Evaluation(
        n=len(t),
        accuracy=float((t == p).mean()) if len(t) else 0.0,
        macro_f1=float(f1[present].mean()) if present.any() else 0.0,
        labels=labels,
        confusion=confusion.tolist(),
        per_class=per_class,
        operating=operating,
    )


def format_report(result: Evaluation) -> str:
    lines = [
        f"messages   {result.n}",
        f"accuracy   {result.accuracy:.4f}",
        f"macro-F1   {result.macro_f1:.4f}",
        "",
        "label\tprecision\trecall\tF1\tsupport",
    ]
    lines += [f"{c.label}\t{c.precision:.3f}\t{c.recall:.3f}\t{c.f1:.3f}\t{c.support}" for c in result.per_class]
    lines += ["", "confusion matrix (rows: true label, columns: predicted)"]
    width = max(len(str(v)) for row in result.confusion for v in row) if result.confusion else 1
    lines.append("\t".join(["", *(f"[{i}]" for i in range(len(result.labels)))]))
    for i, (label, row) in enumerate(zip(result.labels, result.confusion, strict=True)):
        lines.append("\t".join([f"[{i}] {label}", *(str(v).rjust(width) for v in row)]))
    if result.operating:
        lines.append("")
    for op in result.operating:
        if op.threshold is None:
            lines.append(f"coverage at {op.precision:.0%} precision: 0% (no confidence threshold reaches it)")
        else:
            lines.append(
                f"coverage at {op.precision:.0%} precision: {op.coverage:.1%} (confidence ≥ {op.threshold:.4f})"
            )
    return "\n".join(lines)
