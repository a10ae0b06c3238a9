"""What every ingest service does once it has a normalised message: drop retries, then produce with acks=all.

A platform retries when it has no answer within 5 seconds, so the same message can arrive two or three times.
A short memory of recent keys stops most duplicates here; case-api deduplicates again by the same key, so a
duplicate that slips past (another replica, a restart) still opens nothing twice.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict

import structlog
from aiokafka import AIOKafkaProducer
from prometheus_client import Counter

from .contracts.v1 import InboundMessage, InboundMessageRecord

log = structlog.get_logger(__name__)

RECEIVED = Counter("inbox_webhook_messages_total", "Platform messages taken in", ["channel", "outcome"])


class BrokerUnavailable(Exception):
    """The broker did not acknowledge: answer 5xx so the platform retries."""


class RecentKeys:
    """Bounded LRU set of dedupe keys."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._keys: OrderedDict[str, None] = OrderedDict()

    def __contains__(self, key: str) -> bool:
        if key in self._keys:
            self._keys.move_to_end(key)
            return True
        return False

    def add(self, key: str) -> None:
        self._keys[key] = None
        self._keys.move_to_end(key)
        if len(self._keys) > self._capacity:
            self._keys.popitem(last=False)


class InboundPublisher:
    def __init__(
        self,
        producer: AIOKafkaProducer,
        *,
        topic: str,
        source: str,
        timeout_s: float = 4.0,
        remember: int = 100_000,
    ) -> None:
        self._producer = producer
        self._topic = topic
        self._source = source
        self._timeout_s = timeout_s
        self._recent = RecentKeys(remember)

    async def publish(self, message: InboundMessage, *, trace: str | None = None) -> bool:
        """Produce the message unless it was just seen. True when produced, False for a duplicate."""
        if message.dedupe_key in self._recent:
            RECEIVED.labels(message.channel.value, "duplicate").inc()
            log.info("duplicate_ignored", dedupe_key=message.dedupe_key)
            return False
        record = InboundMessageRecord.wrap(message, source=self._source, trace=trace)
        # Outside the try: a record that cannot be serialised is our bug, not a broker outage to retry.
        value, key = record.to_bytes(), message.contact_key.encode()
        try:
            async with asyncio.timeout(self._timeout_s):  # unlike wait_for, no extra task per message
                await self._producer.send_and_wait(self._topic, value=value, key=key)
        except Exception as exc:
            RECEIVED.labels(message.channel.value, "broker_error").inc()
            log.error("produce_failed", dedupe_key=message.dedupe_key, error=repr(exc))
            raise BrokerUnavailable(str(exc) or type(exc).__name__) from exc
        self._recent.add(message.dedupe_key)
        RECEIVED.labels(message.channel.value, "accepted").inc()
        log.info(
            "message_accepted",
            dedupe_key=message.dedupe_key,
            kind=message.kind.value,
            record_id=str(record.id),
        )
        return True
