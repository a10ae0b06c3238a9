"""Department statistics kept for a short while: they are a report, not a work queue.

A month of a large city is one aggregate over ~100,000 cases (0.1–0.2 s on PostgreSQL, benchmarks/NOTES.md).
Serving it again for a minute makes a supervisor's page instant, and it keeps the public ranking — which needs
no login — from letting anyone run that aggregate once per request. Requests for the same figures that arrive
while they are being computed wait for that one computation.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.contracts.v1 import utcnow

Rows = list[dict[str, Any]]


@dataclass(frozen=True)
class Figures:
    rows: Rows
    as_of: datetime  # when they were computed: pages show it


class StatsCache:
    def __init__(self, ttl_s: float, *, capacity: int = 256, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self._capacity = capacity  # periods are chosen by the caller: bound what they can make us keep
        self._clock = clock
        self._kept: OrderedDict[Hashable, tuple[float, Figures]] = OrderedDict()
        self._running: dict[Hashable, asyncio.Future[Figures]] = {}

    async def get(
        self, key: Hashable, compute: Callable[[], Awaitable[Rows]], *, gate: asyncio.Semaphore | None = None
    ) -> Figures:
        """`gate` bounds how many computations its callers run at once (the public ranking's, whose periods
        anyone may choose: a flood of different periods then queues instead of occupying the database)."""
        kept = self._kept.get(key)
        if kept and kept[0] > self._clock():
            return kept[1]
        if key in self._running:
            return await asyncio.shield(self._running[key])
        future: asyncio.Future[Figures] = asyncio.get_running_loop().create_future()
        self._running[key] = future
        try:
            async with gate or contextlib.nullcontext():
                rows = await compute()
            figures = Figures(rows, utcnow())
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # retrieved here, so no "never retrieved" warning when nobody else waited
            raise
        except BaseException:  # cancelled: those waiting are cancelled too, and may ask again
            future.cancel()
            raise
        finally:
            del self._running[key]
        future.set_result(figures)
        if self.ttl_s > 0:
            self._kept[key] = (self._clock() + self.ttl_s, figures)
            self._kept.move_to_end(key)
            while len(self._kept) > self._capacity:
                self._kept.popitem(last=False)
        return figures
