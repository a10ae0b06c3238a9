"""The singleton jobs' election on PostgreSQL survives what databases do: restarts, failovers, killed backends."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import time
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from case_api.leader import run_as_leader

pytestmark = pytest.mark.parametrize("database_url", ["postgres"], indirect=True)


def _replica(database_url: str, name: str) -> AsyncEngine:
    return create_async_engine(database_url, connect_args={"server_settings": {"application_name": name}})


def _job(log: list[str], name: str) -> Callable[[], Coroutine[Any, Any, None]]:
    async def job() -> None:
        log.append(f"{name} leads")
        try:
            await asyncio.Event().wait()
        finally:
            log.append(f"{name} stopped")

    return job


async def _kill(engine: AsyncEngine, name: str) -> int:
    async with engine.connect() as conn:
        killed = await conn.execute(
            text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = :n"), {"n": name}
        )
        return len(killed.all())


async def _until(condition: Callable[[], bool], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:  # noqa: ASYNC110 - polling a test condition
        await asyncio.sleep(0.05)
    assert condition()


async def test_a_standby_that_lost_its_connection_still_takes_over(database_url: str) -> None:
    lock, log = random.randrange(1 << 30), list[str]()
    a, b, admin = _replica(database_url, "replica-a"), _replica(database_url, "replica-b"), _replica(database_url, "t")
    leader = asyncio.create_task(run_as_leader(a, lock, _job(log, "a"), name="t", retry_s=0.1, check_s=0.2))
    await _until(lambda: log == ["a leads"])
    standby = asyncio.create_task(run_as_leader(b, lock, _job(log, "b"), name="t", retry_s=0.1, check_s=0.2))
    await asyncio.sleep(0.5)
    assert await _kill(admin, "replica-b") >= 1  # a database restart, as the standby sees it
    await asyncio.sleep(0.5)
    assert not standby.done()  # still standing
    leader.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await leader
    await _until(lambda: "b leads" in log)
    standby.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await standby
    for engine in (a, b, admin):
        await engine.dispose()


async def test_a_leader_that_lost_its_connection_stops_its_job_and_stands_again(database_url: str) -> None:
    lock, log = random.randrange(1 << 30), list[str]()
    a, admin = _replica(database_url, "replica-a"), _replica(database_url, "t")
    leader = asyncio.create_task(run_as_leader(a, lock, _job(log, "a"), name="t", retry_s=0.1, check_s=0.2))
    await _until(lambda: log == ["a leads"])
    assert await _kill(admin, "replica-a") >= 1  # the lock went with the connection: another may lead now
    # It stops rather than carry on without the lock, then wins the election again (nobody else stands).
    await _until(lambda: log == ["a leads", "a stopped", "a leads"])
    leader.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await leader
    for engine in (a, admin):
        await engine.dispose()


async def test_a_leader_whose_connection_hangs_stops_its_job(database_url: str) -> None:
    """A network that drops packets without closing the connection: the check must not wait for TCP to give up
    (hours) while the database may already have freed the lock for another replica."""
    lock, log = random.randrange(1 << 30), list[str]()
    a, admin = _replica(database_url, "replica-a"), _replica(database_url, "t")
    leader = asyncio.create_task(run_as_leader(a, lock, _job(log, "a"), name="t", retry_s=0.1, check_s=0.2))
    await _until(lambda: log == ["a leads"])
    async with admin.connect() as conn:
        pids = await conn.execute(text("SELECT pid FROM pg_stat_activity WHERE application_name = 'replica-a'"))
        backends = [pid for (pid,) in pids]
    assert backends
    for pid in backends:
        os.kill(pid, signal.SIGSTOP)  # the backend answers nothing, and the connection stays open
    try:
        await _until(lambda: log == ["a leads", "a stopped"], timeout=5)
    finally:
        for pid in backends:
            os.kill(pid, signal.SIGCONT)
    await _until(lambda: log == ["a leads", "a stopped", "a leads"])  # the lock came free with its connection
    leader.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await leader
    for engine in (a, admin):
        await engine.dispose()
