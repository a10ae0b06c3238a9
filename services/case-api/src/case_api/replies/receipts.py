"""Kafka handler: outbound.receipts.v1 → each reply's delivery status, shown to the operator and announced."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog
from aiokafka import AIOKafkaProducer, ConsumerRecord
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from case_api.cases.access import co_handlers
from case_api.cases.lifecycle import snapshot
from case_api.cases.models import Case
from case_api.outbox import service as outbox
from shared.contracts.v1 import CaseChange, DeliveryReceiptRecord, DeliveryStatus
from shared.kafka import parse_or_dead_letter

from .models import Reply, ReplyStatus

log = structlog.get_logger(__name__)


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
        receipts = {p.value.data.reply_id: p.value.data for p in parsed}  # the last word per reply wins
        if not receipts:
            return
        async with self._sessions() as session, session.begin():
            replies = (await session.scalars(select(Reply).where(Reply.id.in_(list(receipts))))).all()
            cases = {
                c.id: c
                for c in (await session.scalars(select(Case).where(Case.id.in_({r.case_id for r in replies})))).all()
            }
            helpers = await co_handlers(session, list(cases))
            events = []
            for reply in replies:
                receipt = receipts[reply.id]
                status = ReplyStatus.DELIVERED if receipt.status is DeliveryStatus.DELIVERED else ReplyStatus.FAILED
                if reply.status == status.value and reply.attempts == receipt.attempts:
                    continue  # a redelivered receipt: already applied
                reply.status, reply.attempts = status.value, receipt.attempts
                reply.platform_code, reply.reason, reply.finished_at = (
                    receipt.platform_code,
                    receipt.reason,
                    receipt.finished_at,
                )
                case = cases[reply.case_id]
                change = CaseChange(
                    action=f"reply-{status.value}",
                    from_status=case.status,
                    to_status=case.status,
                    actor=f"system:{receipt.channel}",
                    reason=receipt.reason,
                    details={
                        "reply_id": str(reply.id),
                        "platform_code": receipt.platform_code,
                        "attempts": receipt.attempts,
                    },
                )
                events.append(
                    outbox.case_event_row(
                        case.id,
                        change,
                        snapshot(case),
                        department_id=case.department_id,
                        co_handlers=helpers.get(case.id, ()),
                    )
                )
            await outbox.add(session, events)
        unknown = len(receipts) - len(replies)
        if unknown:
            log.warning("receipts_for_unknown_replies", count=unknown)
        self._on_commit()
