"""Publishes committed outbox rows to Kafka in id order, then stamps them; one publisher per deployment
(case_api.leader). Delivery is at least once: a crash between send and stamp re-sends, and consumers are
idempotent by record id.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import structlog
from aiokafka import AIOKafkaProducer
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from case_api.leader import OUTBOX_PUBLISHER, run_as_leader
from shared.contracts.v1 import utcnow
from shared.topics import Topics

from .models import OutboxRecord
from .retention import CHUNK, purge_chunk
from .signal import OutboxSignal

log = structlog.get_logger(__name__)

PURGE_EVERY_S = 3600.0


class OutboxPublisher:
    def __init__(
        self,
        *,
        engine: AsyncEngine,
        sessions: async_sessionmaker[AsyncSession],
        producer: AIOKafkaProducer,
        topics: Topics,
        batch: int = 500,
        idle_s: float = 0.1,
        retention: timedelta | None = None,
    ) -> None:
        self._engine = engine
        self._sessions = sessions
        self._producer = producer
        self._topics = topics
        self._batch = batch
        self._idle_s = idle_s
        self._retention = retention
        self._next_purge = time.monotonic() + PURGE_EVERY_S / 60  # soon after start, then hourly
        self._purged = 0
        self.wakeup = OutboxSignal()  # set after a commit so new rows go out without waiting for the poll
        self.is_leader = False

    def _physical(self, topic: str) -> str:
        return f"{self._topics.prefix}{topic}"

    async def run(self) -> None:
        async def lead() -> None:
            self.is_leader = True
            try:
                await self._loop()
            finally:
                self.is_leader = False

        await run_as_leader(self._engine, OUTBOX_PUBLISHER, lead, name="outbox")

    async def _loop(self) -> None:
        backoff = 0.2
        while True:
            woken = self.wakeup.armed()
            try:
                sent = await self.publish_once()
                backoff = 0.2
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("outbox_publish_failed_will_retry", error=repr(exc), backoff_s=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
                continue
            if sent < self._batch:
                await self._purge_when_due()
                await self.wakeup.wait(woken, self._idle_s)

    async def _purge_when_due(self) -> None:
        """One chunk per publishing round once the backlog is sent, until nothing is left: a first purge of a
        large table never holds a record back for more than one chunk's delete."""
        if self._retention is None or time.monotonic() < self._next_purge:
            return
        try:
            deleted = await purge_chunk(self._sessions, before=utcnow() - self._retention)
        except Exception as exc:  # next hour, then; publishing goes on
            log.warning("outbox_purge_failed", error=repr(exc))
            deleted = 0
        self._purged += deleted
        if deleted < CHUNK:
            self._next_purge = time.monotonic() + PURGE_EVERY_S
            if self._purged:
                log.info("outbox_purged", deleted=self._purged, retention_days=self._retention.days)
            self._purged = 0

    async def publish_once(self) -> int:
        # Read, then let go of the database while the broker is asked: on SQLite a transaction holds the one
        # write lock, and during a broker outage every operator's action waited out the produce timeout behind
        # it, close to SQLite's busy timeout. Only the leader stamps rows, so nothing changes them meanwhile.
        async with self._sessions() as session:
            rows = (
                await session.execute(
                    select(OutboxRecord.id, OutboxRecord.topic, OutboxRecord.key, OutboxRecord.value)
                    .where(OutboxRecord.published_at.is_(None))
                    .order_by(OutboxRecord.id)
                    .limit(self._batch)
                )
            ).all()
        if not rows:
            return 0
        futures = [
            await self._producer.send(self._physical(topic), value=value.encode(), key=key.encode())
            for _, topic, key, value in rows
        ]
        await asyncio.gather(*futures)  # acks=all for every record before any is stamped
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(OutboxRecord).where(OutboxRecord.id.in_([r.id for r in rows])).values(published_at=utcnow())
            )
        return len(rows)
