"""Kafka handler: inbox.messages.v1 → classify → inbox.routed.v1, one batch at a time."""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from aiokafka import AIOKafkaProducer, ConsumerRecord
from prometheus_client import Counter

from shared.contracts.v1 import (
    InboundMessage,
    InboundMessageRecord,
    RoutedMessage,
    RoutedMessageRecord,
    RoutingDecision,
)
from shared.kafka import parse_or_dead_letter, publish_many
from shared.topics import Topics

from .classifier import Classifier

log = structlog.get_logger(__name__)

ROUTED = Counter("inbox_router_decisions_total", "Routing decisions", ["decided_by"])


class RouteHandler:
    def __init__(self, *, classifier: Classifier, producer: AIOKafkaProducer, topics: Topics, source: str) -> None:
        self.classifier = classifier
        self._producer = producer
        self._topics = topics
        self._source = source

    def _route(self, messages: list[InboundMessage]) -> list[RoutingDecision]:
        self.classifier.maybe_reload()
        return self.classifier.decide_batch(messages)

    async def __call__(self, records: list[ConsumerRecord[Any, Any]]) -> None:
        parsed = await parse_or_dead_letter(
            records,
            InboundMessageRecord,
            producer=self._producer,
            service=self._source,
        )
        messages = [item.value.data for item in parsed]
        # Loading a model and scoring a batch are CPU work: a thread keeps the loop (and the consumer's
        # heartbeats, health checks) responsive meanwhile.
        decisions = await asyncio.to_thread(self._route, messages)
        out: list[tuple[str, bytes]] = []
        for item, message, decision in zip(parsed, messages, decisions, strict=True):
            ROUTED.labels(decision.decided_by.value).inc()
            routed = RoutedMessageRecord.wrap(
                RoutedMessage(message=message, decision=decision), source=self._source, trace=item.value.trace
            )
            out.append((message.contact_key, routed.to_bytes()))
        await publish_many(self._producer, self._topics.inbox_routed, out)
        log.info("routed", count=len(out))
