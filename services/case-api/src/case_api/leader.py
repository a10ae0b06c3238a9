"""One instance does the singleton jobs (outbox publishing, the SLA sweeper) even with several replicas.

On PostgreSQL a session-level advisory lock elects the leader; if it dies its connection closes, the lock is
released and another replica takes over. A replica that loses its own lock connection (a database restart, a
failover, a terminated backend) stops its job and stands for election again; one that was waiting does the
same. SQLite is one process anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

log = structlog.get_logger(__name__)

OUTBOX_PUBLISHER = 0x1B0C5
SLA_SWEEPER = 0x51A5

_TRY_LOCK = text("SELECT pg_try_advisory_lock(:id)")


async def run_as_leader(
    engine: AsyncEngine,
    lock_id: int,
    job: Callable[[], Coroutine[Any, Any, None]],
    *,
    name: str,
    retry_s: float = 2.0,
    check_s: float = 5.0,
) -> None:
    """Run `job` for as long as this replica holds the lock, forever (until cancelled)."""
    if engine.dialect.name != "postgresql":
        await job()
        return
    while True:
        try:
            await _lead_once(engine, lock_id, job, name=name, retry_s=retry_s, check_s=check_s)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("leadership_lost_will_stand_again", job=name, error=repr(exc)[:300])
        await asyncio.sleep(retry_s)


async def _lead_once(
    engine: AsyncEngine,
    lock_id: int,
    job: Callable[[], Coroutine[Any, Any, None]],
    *,
    name: str,
    retry_s: float,
    check_s: float,
) -> None:
    async with engine.connect() as conn:
        # Polling is the only way to wait for an advisory lock without holding a transaction open.
        while not (await conn.execute(_TRY_LOCK, {"id": lock_id})).scalar_one():
            await conn.commit()
            await asyncio.sleep(retry_s)
        await conn.commit()
        log.info("leader", job=name)
        task = asyncio.create_task(job(), name=f"leader-{name}")
        try:
            while not task.done():
                await asyncio.wait({task}, timeout=check_s)
                if not task.done():  # still ours? A dead connection means another replica may lead now.
                    # Bounded: a connection that hangs (packets dropped, nothing closed) is as good as dead.
                    async with asyncio.timeout(check_s):
                        await conn.execute(text("SELECT 1"))
                        await conn.commit()
            task.result()  # a job that ended on its own: its error is the reason to stand again
        finally:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
            # Never back into the pool still holding the lock: closing the connection is what releases it.
            with contextlib.suppress(Exception):
                await conn.invalidate()
