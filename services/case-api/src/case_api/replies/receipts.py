"""Kafka handler: outbound.receipts.v1 → each reply's delivery status, shown to the operator and announced."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

import structlog
from aiokafka import AIOKafkaProducer, ConsumerRecord
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from case_api.outbox import service as outbox
from shared.contracts.v1 import DeliveryReceipt, DeliveryReceiptRecord, DeliveryStatus
from shared.kafka import parse_or_dead_letter

from .models import Reply, ReplyStatus
from .status import announces, may_become, status_events

log = structlog.get_logger(__name__)


def _latest(receipts: list[DeliveryReceipt]) -> dict[UUID, DeliveryReceipt]:
    """One receipt per reply: the last word, except that a failure never hides a delivery (status.may_become)."""
    chosen: dict[UUID, DeliveryReceipt] = {}
    for receipt in receipts:
        earlier = chosen.get(receipt.reply_id)
        if earlier is None or earlier.status is not DeliveryStatus.DELIVERED:
            chosen[receipt.reply_id] = receipt
    return chosen


class ReceiptHandler:
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        producer: AIOKafkaProducer,
        source: str,
        on_commit: Callable[[], None] = lambda: None,
    ) -> None:
        self._sessions = sessions
        self._producer = producer
        self._source = source
        self._on_commit = on_commit

    async def __call__(self, records: list[ConsumerRecord[Any, Any]]) -> None:
        parsed = await parse_or_dead_letter(
            records, DeliveryReceiptRecord, producer=self._producer, service=self._source
        )
        receipts = _latest([p.value.data for p in parsed])
        if not receipts:
            return
        async with self._sessions() as session, session.begin():
            replies = (await session.scalars(select(Reply).where(Reply.id.in_(list(receipts))))).all()
            changed = []
            for reply in replies:
                receipt = receipts[reply.id]
                status = ReplyStatus.DELIVERED if receipt.status is DeliveryStatus.DELIVERED else ReplyStatus.FAILED
                if not may_become(reply.status, status):
                    log.info("late_failure_ignored", reply_id=str(reply.id), platform_code=receipt.platform_code)
                    continue
                announced = announces(reply.status, status)
                reply.status, reply.attempts = status.value, receipt.attempts
                reply.platform_code, reply.reason, reply.finished_at = (
                    receipt.platform_code,
                    receipt.reason,
                    receipt.finished_at,
                )
                if announced:
                    changed.append((reply, f"system:{receipt.channel}"))
            await outbox.add(session, await status_events(session, changed))
        unknown = len(receipts) - len(replies)
        if unknown:
            log.warning("receipts_for_unknown_replies", count=unknown)
        self._on_commit()
