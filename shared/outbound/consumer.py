"""The delivery consumer: outbound.replies.v1 → this channel's replies → the platform → outbound.receipts.v1.

Every channel service runs one, in its own consumer group, and takes only its own channel's records; the
others are left to their services. Offsets are committed after a whole batch finished (shared.kafka).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import orjson
import structlog
from aiokafka import AIOKafkaProducer, ConsumerRecord

from ..accounts import AccountRegistry
from ..contracts.v1 import Channel, ReplyCommandRecord, utcnow
from ..kafka import Parsed, RetryBatchLater, consume_batches, make_consumer, parse_or_dead_letter, stop_quietly
from ..settings import KafkaSettings, OutboundSettings
from .deliver import ReplyDeliverer
from .ledger import DeliveryLedger
from .platform import SenderFactory, platform_http
from .retry import RetryPolicy

log = structlog.get_logger(__name__)

_CHANNELS = {c.value for c in Channel}


def _declared_channel(raw: bytes | None) -> str | None:
    """The channel a record names, read loosely (before validation)."""
    try:
        doc = orjson.loads(raw or b"")
        channel = doc["data"]["channel"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return None
    return channel if isinstance(channel, str) else None


def _ours_to_judge(record: ConsumerRecord[Any, Any], channel: str) -> bool:
    declared = _declared_channel(record.value)
    # Another known channel's record is that service's business, even when it is broken.
    return declared == channel or declared not in _CHANNELS


class ReplyBatchHandler:
    """Handles one polled batch: dead-letters what cannot be read, delivers this channel's replies.

    A record that names another known channel is left alone even when it is broken: that channel's consumer
    dead-letters it, so it is not dead-lettered three times. A record naming no channel at all is
    dead-lettered by every channel's consumer (each says which in the `consumer` header).
    """

    def __init__(
        self,
        deliverer: ReplyDeliverer,
        *,
        producer: AIOKafkaProducer,
        source: str,
        concurrency: int,
        batch_time_s: float,
    ) -> None:
        self._deliverer = deliverer
        self._producer = producer
        self._source = source
        self._concurrency = concurrency
        self._batch_time_s = batch_time_s

    async def __call__(self, records: list[ConsumerRecord[Any, Any]]) -> None:
        ours = self._deliverer.channel.value
        candidates = [r for r in records if _ours_to_judge(r, ours)]
        parsed = await parse_or_dead_letter(
            candidates, ReplyCommandRecord, producer=self._producer, service=self._source
        )
        # Each reply id once per batch, so two copies of a command never race each other past the ledger;
        # copies in later batches find the ledger's row.
        unique: dict[Any, Parsed[ReplyCommandRecord]] = {}
        for item in parsed:
            if item.value.data.channel.value == ours:
                unique.setdefault(item.value.data.reply_id, item)
        if not unique:
            return
        # One citizen's replies in order, different citizens side by side.
        queues: dict[str, list[Parsed[ReplyCommandRecord]]] = {}
        for item in unique.values():
            queues.setdefault(item.value.data.contact_key, []).append(item)
        deadline = time.monotonic() + self._batch_time_s
        slots = asyncio.Semaphore(self._concurrency)
        deferred = 0

        async def deliver_in_order(items: list[Parsed[ReplyCommandRecord]]) -> None:
            nonlocal deferred
            async with slots:
                for item in items:
                    record = item.value
                    row = await self._deliverer.deliver(
                        record.data, trace=record.trace, deadline=deadline, queued_at=record.occurred_at
                    )
                    if not row.finished:  # its next attempt is due after this batch: the citizen's later
                        deferred += 1  # replies wait for it, in order
                        return

        # When one citizen's delivery fails (the ledger, a receipt the broker did not take), the others run on to
        # their end, and then the batch is retried whole (the ledger skips what finished). Cancelling them would
        # abandon platform calls in flight, whose outcome nobody then knows: sent twice, or never.
        outcomes = await asyncio.gather(*(deliver_in_order(items) for items in queues.values()), return_exceptions=True)
        if failed := next((o for o in outcomes if isinstance(o, BaseException)), None):
            raise failed
        if deferred:  # the ledger skips what was finished when the batch comes again
            raise RetryBatchLater(f"{deferred} repl{'ies wait' if deferred > 1 else 'y waits'} for a retry")


@dataclass
class DeliveryService:
    """What the lifespan holds while deliveries run."""

    task: asyncio.Task[None]
    ledger: DeliveryLedger

    @property
    def alive(self) -> bool:
        return not self.task.done()


@asynccontextmanager
async def running_delivery(
    *,
    channel: Channel,
    service: str,
    accounts: AccountRegistry,
    sender: SenderFactory,
    producer: AIOKafkaProducer,
    kafka: KafkaSettings,
    settings: OutboundSettings,
    transport: httpx.AsyncBaseTransport | None = None,
) -> AsyncIterator[DeliveryService]:
    """Open the platform HTTP client, the ledger and the consumer; deliver until the block exits."""
    topics = kafka.topics
    ledger = await DeliveryLedger.open(settings.ledger_file(service))
    http = platform_http(settings, transport=transport)
    consumer = make_consumer(kafka, topics.outbound_replies, group_id=settings.group(service), client_id=service)
    try:
        pruned = await ledger.prune(now=utcnow(), keep=timedelta(days=settings.ledger_retention_days))
        policy = RetryPolicy.from_settings(settings)
        deliverer = ReplyDeliverer(
            channel=channel,
            accounts=accounts,
            send=sender(http),
            ledger=ledger,
            producer=producer,
            receipts_topic=topics.outbound_receipts,
            source=service,
            policy=policy,
            shutdown_grace_s=settings.shutdown_grace_s,
            publish_timeout_s=kafka.request_timeout_ms / 1000,
            ttl=settings.reply.ttl,
        )
        handler = ReplyBatchHandler(
            deliverer,
            producer=producer,
            source=service,
            concurrency=settings.concurrency,
            batch_time_s=settings.batch_time_s,
        )
        await consumer.start()
        task = asyncio.create_task(
            consume_batches(consumer, handler, settings=kafka, max_records=settings.batch_records), name="deliver"
        )
        log.info("delivery_started", topic=topics.outbound_replies, ledger=str(ledger.path), pruned=pruned)
        try:
            yield DeliveryService(task=task, ledger=ledger)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                try:
                    await task
                except Exception:
                    log.exception("delivery_task_failed")
    finally:
        await stop_quietly(consumer)
        await http.aclose()
        await ledger.close()
