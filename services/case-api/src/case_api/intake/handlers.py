"""Kafka handler: inbox.routed.v1 → cases. The offset is committed only after the transaction committed."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from aiokafka import AIOKafkaProducer, ConsumerRecord
from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from case_api.cases.deadlines import DeadlinePolicy
from case_api.citizen.notices import Notices
from shared.contracts.v1 import RoutedMessageRecord
from shared.kafka import parse_or_dead_letter
from shared.topics import Topics

from .service import AutoDispatch, intake_batch

log = structlog.get_logger(__name__)

# The share auto-dispatch covers, live: auto / (auto + operator).
CASES_OPENED = Counter("inbox_cases_opened_total", "Cases opened by intake, by who dispatches them", ["dispatch"])


class IntakeHandler:
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        producer: AIOKafkaProducer,
        topics: Topics,
        source: str,
        tz: ZoneInfo,
        policy: DeadlinePolicy,
        on_commit: Callable[[], None] = lambda: None,
        notices: Notices | None = None,
        auto_dispatch: AutoDispatch | None = None,
    ) -> None:
        self._sessions = sessions
        self._producer = producer
        self._topics = topics
        self._source = source
        self._tz = tz
        self._policy = policy
        self._on_commit = on_commit
        self._notices = notices
        self._auto_dispatch = auto_dispatch

    async def __call__(self, records: list[ConsumerRecord[Any, Any]]) -> None:
        parsed = await parse_or_dead_letter(
            records,
            RoutedMessageRecord,
            producer=self._producer,
            service=self._source,
        )
        if not parsed:
            return
        started = time.perf_counter()
        async with self._sessions() as session, session.begin():
            result = await intake_batch(
                session,
                [p.value.data for p in parsed],
                tz=self._tz,
                policy=self._policy,
                notices=self._notices,
                auto_dispatch=self._auto_dispatch,
            )
        self._on_commit()
        CASES_OPENED.labels("auto").inc(result.auto_dispatched)
        CASES_OPENED.labels("operator").inc(result.cases_opened - result.auto_dispatched)
        log.info(
            "intake",
            stored=result.stored,
            duplicates=result.duplicates,
            cases_opened=result.cases_opened,
            auto_dispatched=result.auto_dispatched,
            events=result.events,
            ms=round((time.perf_counter() - started) * 1000, 1),
        )
