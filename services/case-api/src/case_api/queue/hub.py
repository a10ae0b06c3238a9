"""One reader of the outbox per process for all the live queues it serves.

Each open live queue used to read the outbox itself, on every commit and every poll: a hundred operators on a
shift cost a thousand queries a second before anything happened, and every new case meant a hundred queries.
The hub reads new rows once per wake-up and holds the recent ones in memory; each stream takes what its user
may see from there, with its own cursor (so its gaps and resume ids work exactly as they do against the
database). A stream that must look further back than the hub holds (a reconnect after a long absence) reads the
database until it has caught up.
"""

from __future__ import annotations

import asyncio
import bisect
import time

import structlog
from sqlalchemy import case, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from case_api.outbox.models import OutboxRecord
from case_api.outbox.signal import OutboxSignal
from shared.topics import CASE_EVENTS

from .live import PAGE, Event, Held, LiveCursor, Sees, departure, frame, ranges

log = structlog.get_logger(__name__)

HUB_PAGE = 2_000  # rows per read: a 500-citizen intake batch writes up to ~1,500
KEEP = 10_000  # rows held (about 15 s at 200 messages/s); older ones are read from the database
HUB_WAIT_S = 1.0  # a stream's longest sleep without news: its cursor then gives up on gaps that timed out


class OutboxHub:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], commits: OutboxSignal, *, poll_s: float, keep: int = KEEP
    ) -> None:
        self._sessions = sessions
        self._commits = commits
        self._poll_s = poll_s
        self._keep = keep
        self._cursor = LiveCursor(0)
        self._rows: dict[int, Held] = {}
        self._ids: list[int] = []  # the held ids, in order
        self._latest: dict[str, int] = {}  # case id → its newest held event: where the case is now
        self.floor: int | None = None  # every id above it is held or awaited by the hub's cursor; None: not started
        self.changed = OutboxSignal()  # new rows held: streams wake on it

    async def start(self) -> None:
        async with self._sessions() as session:
            last = (await session.scalar(select(OutboxRecord.id).order_by(OutboxRecord.id.desc()).limit(1))) or 0
            self._cursor = LiveCursor(last)
            await self._cursor.mark_uncommitted(session)
        self.floor = last

    async def run(self) -> None:
        while self.floor is None:
            try:
                await self.start()
            except Exception as exc:  # the database is away: streams read it themselves meanwhile
                log.warning("live_hub_start_failed", error=repr(exc))
                await asyncio.sleep(1.0)
        while True:
            woken = self._commits.armed()
            try:
                more = await self.read()
            except Exception as exc:  # the database is away: streams wait, the hub tries again
                log.warning("live_hub_read_failed", error=repr(exc))
                more = False
                await asyncio.sleep(1.0)
            if not more:  # this process's commits wake the hub at once; other replicas' are polled for
                await self._commits.wait(woken, max(self._poll_s, 0.05))

    async def read(self) -> bool:
        """Read rows committed since the last read (and late ones); True if there may be more right away."""
        columns = select(
            OutboxRecord.id,
            OutboxRecord.department_id,
            case((OutboxRecord.topic == CASE_EVENTS, OutboxRecord.value), else_=None),
            OutboxRecord.co_handlers,
            OutboxRecord.case_id,
            OutboxRecord.departed,
        )
        async with self._sessions() as session:
            late = []
            if self._cursor.gaps:
                runs = [OutboxRecord.id.between(lo, hi) for lo, hi in ranges(sorted(self._cursor.gaps))]
                late = list(await session.execute(columns.where(or_(*runs))))
            new = list(
                await session.execute(
                    columns.where(OutboxRecord.id > self._cursor.last).order_by(OutboxRecord.id).limit(HUB_PAGE)
                )
            )
        found = {
            i: Held(
                department,
                frame(v) if v is not None else None,
                helpers,
                case_id,
                departed,
                departure(v) if v is not None and departed else None,
            )
            for i, department, v, helpers, case_id, departed in [*late, *new]
        }
        accepted = self._cursor.advance([(i, b"") for i, *_ in late], [(i, b"") for i, *_ in new])
        for _, row_id, _ in accepted:
            self._hold(row_id, found[row_id])
        self._trim()
        if accepted:
            self.changed.set()
        return len(new) == HUB_PAGE

    def _hold(self, row_id: int, row: Held) -> None:
        self._rows[row_id] = row
        if row.frame is not None and row.case_id is not None and row_id > self._latest.get(row.case_id, 0):
            self._latest[row.case_id] = row_id
        if not self._ids or row_id > self._ids[-1]:
            self._ids.append(row_id)
        else:  # a late commit
            bisect.insort(self._ids, row_id)

    def _trim(self) -> None:
        drop = len(self._ids) - self._keep
        if drop > 0:
            for row_id in self._ids[:drop]:
                gone = self._rows.pop(row_id)
                if gone.case_id is not None and self._latest.get(gone.case_id) == row_id:
                    del self._latest[gone.case_id]
            # max: a late row below the floor (awaited since the start) must not lower it
            self.floor = max(self.floor or 0, self._ids[drop - 1])
            del self._ids[:drop]

    def open(self, start: int | None) -> LiveCursor | None:
        """A new stream's cursor from what the hub knows, without a query: from its newest row, or from `start`
        (a reconnect's Last-Event-ID) when that is within what it holds. Ids up to there that are not committed
        yet are the hub's own gaps. None when the hub cannot tell: the stream asks the database."""
        floor, last = self.floor, self._cursor.last
        start = last if start is None else start
        if floor is None or not floor <= start <= last:
            return None
        now = time.monotonic()
        return LiveCursor(start, {g: now for g in self._cursor.gaps if g <= start})

    def serves(self, cursor: LiveCursor) -> bool:
        """Whether everything this stream still needs is, or will be, held here."""
        floor, awaited = self.floor, self._cursor.gaps
        return floor is not None and cursor.last >= floor and all(g > floor or g in awaited for g in cursor.gaps)

    def take(self, cursor: LiveCursor, sees: Sees, left: Sees | None = None) -> tuple[list[Event], bool]:
        """Like `LiveCursor.read`, from memory: (events to send, whether there may be more right away). `left`:
        the rows that take a case away from the caller's department, sent so that a screen drops the case."""

        def shown(row_id: int) -> bytes | None:
            row = self._rows[row_id]
            if row.frame is None:
                return None
            if not sees(row):
                return row.departure if row.departure is not None and left is not None and left(row) else None
            # Only while the case is still the caller's: its newest event says where it is now (visible_to).
            now = self._rows[self._latest[row.case_id]] if row.case_id in self._latest else row
            return row.frame if now is row or sees(now) else None

        late = [(g, shown(g)) for g in sorted(cursor.gaps) if g in self._rows]
        start = bisect.bisect_right(self._ids, cursor.last)
        new = [(i, shown(i)) for i in self._ids[start : start + PAGE]]
        return cursor.advance(late, new), len(new) == PAGE
