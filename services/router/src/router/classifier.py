"""Decide category, department and request type for one message; reload the taxonomy when its file changes."""

from __future__ import annotations

import time
from pathlib import Path

import structlog

from shared.contracts.v1 import DecidedBy, InboundMessage, RoutingDecision
from shared.taxonomy import TaxonomyError, load_taxonomy

from .rules import RuleEngine

log = structlog.get_logger(__name__)


class Classifier:
    def __init__(self, taxonomy_file: Path, *, reload_every_s: float = 2.0) -> None:
        self._path = taxonomy_file
        self._reload_every_s = reload_every_s
        self._mtime = taxonomy_file.stat().st_mtime_ns
        self._checked_at = time.monotonic()
        self.rules = RuleEngine(load_taxonomy(taxonomy_file))

    def maybe_reload(self) -> None:
        """Pick up an edited taxonomy without a restart; a broken edit keeps the previous rules running."""
        now = time.monotonic()
        if now - self._checked_at < self._reload_every_s:
            return
        self._checked_at = now
        try:
            mtime = self._path.stat().st_mtime_ns
        except FileNotFoundError:
            log.error("taxonomy_missing_keeping_previous", path=str(self._path))
            return
        if mtime == self._mtime:
            return
        self._mtime = mtime
        try:
            self.rules = RuleEngine(load_taxonomy(self._path))
        except TaxonomyError as exc:
            log.error("taxonomy_invalid_keeping_previous", error=str(exc))
            return
        log.info("taxonomy_reloaded", version=self.rules.taxonomy.version)

    def decide(self, message: InboundMessage) -> RoutingDecision:
        if not message.is_citizen_message:
            return RoutingDecision(
                decided_by=DecidedBy.SKIPPED,
                explanation=f"platform event {message.event.name if message.event else ''}: not a citizen message",
                taxonomy_version=self.rules.taxonomy.version,
            )
        return self.rules.decide(message.text)
