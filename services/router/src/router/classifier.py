"""Decide category, department and request type for messages: keyword rules first, then the learned model
(policy.py says how the two combine). Reloads the taxonomy and the model when their files change."""

from __future__ import annotations

import time
from pathlib import Path

import structlog

from shared.contracts.v1 import DecidedBy, InboundMessage, RoutingDecision
from shared.taxonomy import TaxonomyError, load_taxonomy

from .live_model import LiveModel
from .policy import ModelPolicy, combine
from .rules import RuleEngine

log = structlog.get_logger(__name__)


class Classifier:
    def __init__(
        self,
        taxonomy_file: Path,
        *,
        reload_every_s: float = 2.0,
        model: LiveModel | None = None,
        policy: ModelPolicy | None = None,
    ) -> None:
        self._path = taxonomy_file
        self.model = model
        self.policy = policy or ModelPolicy()
        self._reload_every_s = reload_every_s
        self._checked_at = time.monotonic()
        self._applied = self._stamp()
        self._refused: tuple[int, int] | None = None  # the broken file last logged, so it is logged once
        self.rules = RuleEngine(load_taxonomy(taxonomy_file))

    def _stamp(self) -> tuple[int, int]:
        stat = self._path.stat()
        return stat.st_mtime_ns, stat.st_size

    def maybe_reload(self) -> None:
        """Pick up an edited taxonomy without a restart; a broken edit keeps the previous rules running.

        A broken file is read again at every check rather than marked as seen: the fix may keep the same
        modification time (saved within the file system's timestamp resolution), and must not wait for a restart.
        """
        if self.model is not None:
            self.model.maybe_reload()
        now = time.monotonic()
        if now - self._checked_at < self._reload_every_s:
            return
        self._checked_at = now
        try:
            stamp = self._stamp()
        except FileNotFoundError:
            log.error("taxonomy_missing_keeping_previous", path=str(self._path))
            return
        if stamp == self._applied:
            return
        try:
            rules = RuleEngine(load_taxonomy(self._path))
        except TaxonomyError as exc:
            if stamp != self._refused:
                log.error(
                    "taxonomy_invalid_keeping_previous",
                    path=str(self._path),
                    serving=self.rules.taxonomy.version,
                    error=str(exc),
                )
                self._refused = stamp
            return
        self.rules, self._applied, self._refused = rules, stamp, None
        log.info("taxonomy_reloaded", version=self.rules.taxonomy.version)

    def decide(self, message: InboundMessage) -> RoutingDecision:
        return self.decide_batch([message])[0]

    def decide_batch(self, messages: list[InboundMessage]) -> list[RoutingDecision]:
        """CPU-bound (the model scores the whole batch at once): the service calls it off the event loop."""
        rules = self.rules  # one taxonomy for the whole batch, even if a reload swaps it meanwhile
        decisions: list[RoutingDecision] = []
        for message in messages:
            if message.is_citizen_message:
                decisions.append(rules.decide(message.text))
            else:
                decisions.append(
                    RoutingDecision(
                        decided_by=DecidedBy.SKIPPED,
                        explanation=f"platform event {message.event.name if message.event else ''}: "
                        "not a citizen message",
                        taxonomy_version=rules.taxonomy.version,
                    )
                )
        model = self.model.model if self.model is not None else None
        if model is None:
            return decisions
        todo = [i for i, m in enumerate(messages) if m.is_citizen_message and m.text.strip()]
        predictions = model.predict([messages[i].text for i in todo])
        for i, prediction in zip(todo, predictions, strict=True):
            decisions[i] = combine(
                decisions[i], prediction, taxonomy=rules.taxonomy, model_version=model.version, policy=self.policy
            )
        return decisions
