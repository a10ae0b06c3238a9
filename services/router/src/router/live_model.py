"""The model the router is serving, swapped for a new one when its directory changes (a retrain went live here
or in another replica, or someone ran `inbox-router train` into it). A broken model keeps the previous one."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import structlog

from .model import ModelDir, ModelFileError, TextModel, load_model
from .model.store import MODEL_FILE

log = structlog.get_logger(__name__)


class LiveModel:
    def __init__(self, model_dir: Path, *, reload_every_s: float = 2.0) -> None:
        self.dir = ModelDir(model_dir)
        self._reload_every_s = reload_every_s
        self._checked_at = time.monotonic()
        self._mtime: int | None = None
        self._lock = threading.Lock()  # reloads come from the routing thread and from the admin endpoint
        self.model: TextModel | None = None
        self.reload()

    def _stamp(self) -> int | None:
        try:
            return (self.dir.root / MODEL_FILE).stat().st_mtime_ns
        except FileNotFoundError:
            return None

    def reload(self) -> None:
        with self._lock:
            stamp = self._stamp()
            if stamp is None:
                if self.model is None:
                    log.warning("no_model_yet_rules_only", model_dir=str(self.dir.root))
                return
            if stamp == self._mtime:
                return
            self._mtime = stamp
            try:
                model = load_model(self.dir.root)
            except (ModelFileError, OSError, ValueError, KeyError) as exc:
                log.error("model_invalid_keeping_previous", model_dir=str(self.dir.root), error=str(exc))
                return
            self.model = model
            log.info("model_loaded", version=model.version, labels=len(model.labels), features=model.features.size)

    def maybe_reload(self) -> None:
        now = time.monotonic()
        if now - self._checked_at >= self._reload_every_s:
            self._checked_at = now
            self.reload()
