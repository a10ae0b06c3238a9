"""One instance does the singleton jobs (outbox publishing, the SLA sweeper) even with several replicas.

On PostgreSQL a session-level advisory lock elects the leader; if it dies its connection closes, the lock is
released and another replica takes over. SQLite is one process anyway.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

log = structlog.get_logger(__name__)

OUTBOX_PUBLISHER = 0x1B0C5
SLA_SWEEPER = 0x51A5


@asynccontextmanager
async def leadership(engine: AsyncEngine, lock_id: int, *, name: str, retry_s: float = 2.0) -> AsyncIterator[None]:
    if engine.dialect.name != "postgresql":
        yield
        return
    async with engine.connect() as conn:
        # Polling is the only way to wait for an advisory lock without holding a transaction open.
        while not (await conn.execute(text("SELECT pg_try_advisory_lock(:id)"), {"id": lock_id})).scalar_one():  # noqa: ASYNC110
            await asyncio.sleep(retry_s)
        await conn.commit()
        log.info("leader", job=name)
        yield
