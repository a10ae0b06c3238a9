"""Department statistics are kept for a minute: computed once however many ask, recomputed after."""

from __future__ import annotations

import asyncio

import pytest

from case_api.supervision.stats_cache import StatsCache


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Source:
    """Counts computations; each returns the current count as its figure."""

    def __init__(self) -> None:
        self.calls = 0
        self.gate = asyncio.Event()
        self.gate.set()

    async def __call__(self) -> list[dict[str, object]]:
        self.calls += 1
        await self.gate.wait()
        return [{"received": self.calls}]


async def test_figures_are_served_again_until_they_expire() -> None:
    clock, source = Clock(), Source()
    cache = StatsCache(60, clock=clock)
    first = await cache.get("march", source)
    clock.now = 59
    assert (await cache.get("march", source)).rows == [{"received": 1}]
    clock.now = 61
    again = await cache.get("march", source)
    assert again.rows == [{"received": 2}] and again.as_of >= first.as_of


async def test_different_periods_and_departments_are_kept_apart() -> None:
    source = Source()
    cache = StatsCache(60, clock=Clock())
    await cache.get(("march", None), source)
    await cache.get(("march", "housing"), source)
    assert source.calls == 2


async def test_concurrent_requests_share_one_computation() -> None:
    source = Source()
    source.gate.clear()
    cache = StatsCache(60, clock=Clock())
    waiting = [asyncio.create_task(cache.get("march", source)) for _ in range(5)]
    await asyncio.sleep(0)
    source.gate.set()
    results = await asyncio.gather(*waiting)
    assert source.calls == 1 and all(r.rows == [{"received": 1}] for r in results)


async def test_a_failure_is_not_kept() -> None:
    cache = StatsCache(60, clock=Clock())

    async def broken() -> list[dict[str, object]]:
        raise RuntimeError("database away")

    with pytest.raises(RuntimeError):
        await cache.get("march", broken)
    assert (await cache.get("march", Source())).rows == [{"received": 1}]


async def test_zero_seconds_turns_keeping_off_and_capacity_bounds_memory() -> None:
    source = Source()
    off = StatsCache(0, clock=Clock())
    await off.get("march", source)
    await off.get("march", source)
    assert source.calls == 2
    small = StatsCache(60, capacity=2, clock=Clock())
    for month in ("jan", "feb", "mar"):
        await small.get(month, source)
    await small.get("jan", source)  # the oldest was let go
    assert source.calls == 6


class Overlap:
    """Records how many computations run at once."""

    def __init__(self) -> None:
        self.running = self.most = 0

    async def __call__(self) -> list[dict[str, object]]:
        self.running += 1
        self.most = max(self.most, self.running)
        await asyncio.sleep(0.01)
        self.running -= 1
        return []


async def test_a_gate_runs_different_periods_one_at_a_time() -> None:
    """Anyone may ask the public ranking for any period: a flood of different ones must queue, not run at once."""
    cache, gate, overlap = StatsCache(60, clock=Clock()), asyncio.Semaphore(1), Overlap()
    await asyncio.gather(*(cache.get(("period", i), overlap, gate=gate) for i in range(5)))
    assert overlap.most == 1
    ungated = Overlap()
    await asyncio.gather(*(cache.get(("staff", i), ungated) for i in range(5)))
    assert ungated.most == 5  # what the gate prevents
