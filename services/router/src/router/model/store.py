"""Save and load a model as plain files: `model.json` (readable metadata) and `weights-<version>.npz` (arrays).

No pickles: numpy reads the arrays with `allow_pickle=False` and the n-grams are stored as fixed-width unicode,
so a model file cannot run code. Replacing a model is atomic for readers: the new weights file is written under
its own name first, then `model.json` (which names it) is swapped in with one rename. A reader therefore sees
the old or the new model, never half of each; the previous weights file is kept for a rollback.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from .calibration import Calibration
from .features import NgramFeatures
from .linear import LinearWeights
from .text_model import TextModel

MODEL_FILE = "model.json"
FORMAT = "inbox-router-ngram-svm"
FORMAT_VERSION = 1


class ModelFileError(RuntimeError):
    """The model directory holds no usable model; the message says why."""


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it owner-only; other replicas and operators read the model
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_model(model: TextModel, model_dir: Path) -> Path:
    model_dir.mkdir(parents=True, exist_ok=True)
    previous = _weights_file_named_in(model_dir)
    weights_name = f"weights-{model.version}.npz"
    fd, tmp = tempfile.mkstemp(dir=model_dir, prefix=".weights.", suffix=".npz")
    os.close(fd)
    try:
        np.savez(
            tmp,
            grams=np.array(model.features.grams, dtype=f"<U{max(model.features.hi, 1)}"),
            idf=model.features.idf,
            coef=model.weights.coef,
            bias=model.weights.bias,
        )
        digest = hashlib.sha256(Path(tmp).read_bytes()).hexdigest()
        os.chmod(tmp, 0o644)
        os.replace(tmp, model_dir / weights_name)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    document = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "labels": model.labels,
        "ngram_range": [model.features.lo, model.features.hi],
        "calibration": model.calibration.to_dict(),
        "weights_file": weights_name,
        "weights_sha256": digest,
        **model.meta,
    }
    _atomic_write(model_dir / MODEL_FILE, json.dumps(document, ensure_ascii=False, indent=2).encode())
    for stale in model_dir.glob("weights-*.npz"):
        if stale.name not in {weights_name, previous}:
            stale.unlink(missing_ok=True)
    return model_dir / MODEL_FILE


def _weights_file_named_in(model_dir: Path) -> str | None:
    try:
        return str(json.loads((model_dir / MODEL_FILE).read_text(encoding="utf-8"))["weights_file"])
    except (OSError, ValueError, KeyError):
        return None


def read_model_document(model_dir: Path) -> dict[str, Any]:
    path = model_dir / MODEL_FILE
    try:
        document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ModelFileError(f"{path}: no model here (train one with `inbox-router train`)") from exc
    except ValueError as exc:
        raise ModelFileError(f"{path}: not valid JSON: {exc}") from exc
    if document.get("format") != FORMAT or document.get("format_version") != FORMAT_VERSION:
        found = f"{document.get('format')!r} v{document.get('format_version')}"
        raise ModelFileError(f"{path}: unknown model format {found}, expected {FORMAT!r} v{FORMAT_VERSION}")
    return document


def load_model(model_dir: Path) -> TextModel:
    document = read_model_document(model_dir)
    weights_path = model_dir / document["weights_file"]
    try:
        raw = weights_path.read_bytes()
    except FileNotFoundError as exc:
        raise ModelFileError(f"{weights_path}: named by {MODEL_FILE} but missing") from exc
    if hashlib.sha256(raw).hexdigest() != document["weights_sha256"]:
        raise ModelFileError(f"{weights_path}: checksum does not match {MODEL_FILE}")
    with np.load(weights_path, allow_pickle=False) as arrays:
        grams, idf, coef, bias = arrays["grams"], arrays["idf"], arrays["coef"], arrays["bias"]
    lo, hi = document["ngram_range"]
    labels = list(document["labels"])
    if coef.shape != (len(grams), len(labels)) or bias.shape != (len(labels),):
        raise ModelFileError(f"{weights_path}: array shapes do not match the {len(labels)} labels")
    reserved = {"format", "format_version", "labels", "ngram_range", "calibration", "weights_file", "weights_sha256"}
    return TextModel(
        features=NgramFeatures(grams.tolist(), idf, lo=int(lo), hi=int(hi)),
        weights=LinearWeights(coef=coef, bias=bias),
        labels=labels,
        calibration=Calibration.from_dict(document["calibration"]),
        meta={k: v for k, v in document.items() if k not in reserved},
    )
