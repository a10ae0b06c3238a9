"""Where a live queue stream is in the outbox, so that it never skips an event.

Outbox ids are handed out when a row is inserted but become visible when its transaction commits. On PostgreSQL
two transactions can commit out of order: intake's batch holds ids 100–110 while an operator's action takes 111
and commits first. A stream that only asked for `id > last` would have moved past 100–110 for good and the
operator would never see those cases arrive. So the cursor remembers the ids it jumped over and asks for them
again for a grace period; a transaction either commits within it or rolled back, and then its ids never appear.
(SQLite has one writer at a time, so there ids always appear in order and no gap is ever filled late.)
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, and_, case, false, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute

from case_api.auth.models import Role, User
from case_api.cases import access
from case_api.cases.models import Case
from case_api.outbox.models import OutboxRecord
from shared.topics import CASE_EVENTS

GRACE_S = 30.0  # far longer than any transaction that writes to the outbox (a 500-message intake batch: ~0.5 s)
# Ids waited for at once. One intake batch of 500 new citizens writes up to ~1,500 rows (created, dispatched,
# acknowledgement), and they may all be outstanding when an operator's action commits first.
MAX_GAPS = 5_000
PAGE = 200


@dataclass(frozen=True, slots=True)
class Held:
    """An outbox row as the live hub holds it: only case events keep their frame."""

    department_id: str | None
    frame: bytes | None
    co_handlers: str | None = None  # ",a,b," as the outbox keeps it
    case_id: str | None = None
    departed: str | None = None  # ",a,b,": the departments this event takes the case away from
    departure: bytes | None = None  # what those departments are sent instead of the frame (`departure`)


Sees = Callable[[Held], bool]
Row = tuple[int, bytes | None]  # an outbox id and its event's frame, None when the caller may not see it
Event = tuple[int, int, bytes]  # resume id, outbox id, frame


def frame(value: str) -> bytes:
    """A case event as a server-sent event without its id (which is per stream): encoded once per event, not
    once per stream, and sent in one write with the others of its read (100 operators' screens at 200
    messages/s are some 60,000 events a second)."""
    try:
        kind = json.loads(value)["type"]
    except (ValueError, KeyError, TypeError):  # never from our own writers; one odd row must not stop the hub
        kind = "message"  # what a server-sent event without a type is
    data = "".join(f"data: {line}\n" for line in value.splitlines())
    return f"event: {kind}\n{data}\n".encode()


LEFT_EVENT = "gov.inbox.case.left"


def departure(value: str) -> bytes | None:
    """What a department a case has left is sent instead of the event that took it away: which case (id and
    number), when and why, and nothing of what the case holds now, which it may no longer read. Its screen drops
    the case. None for a value that is no case event (never from our own writers)."""
    try:
        event = json.loads(value)
        left = {
            "specversion": "1.0",
            "id": f"{event['id']}-left",
            "source": event["source"],
            "type": LEFT_EVENT,
            "subject": event["subject"],
            "time": event["time"],
            "data": {"number": event["data"]["case"]["number"], "cause": event["type"]},
        }
    except (ValueError, KeyError, TypeError):
        return None
    return frame(json.dumps(left, ensure_ascii=False))


def frames(events: list[Event]) -> bytes:
    """Events as one chunk of the stream, each with the id a reconnect resumes from."""
    return b"".join(b"id: %d\n%s" % (resume, event) for resume, _, event in events)


def ranges(ids: list[int]) -> list[tuple[int, int]]:
    """Sorted ids as runs of consecutive ids: the gaps are asked for with a few BETWEENs, not thousands of ids."""
    runs: list[tuple[int, int]] = []
    for i in ids:
        if runs and runs[-1][1] == i - 1:
            runs[-1] = (runs[-1][0], i)
        else:
            runs.append((i, i))
    return runs


@dataclass
class LiveCursor:
    last: int  # the highest outbox id this stream has looked at
    gaps: dict[int, float] = field(default_factory=dict)  # an id jumped over → when (time.monotonic())
    passed: int = field(init=False)  # the highest id sent on

    def __post_init__(self) -> None:
        self.passed = self.last

    def advance(self, late: list[Row], new: list[Row]) -> list[Event]:
        """Take the rows read for the gaps (`late`) and after `last` (`new`, in id order); return what to send
        as (resume id, outbox id, frame). The resume id is what a reconnecting client must send back
        (Last-Event-ID) to miss nothing: below every gap still waited for, so a reconnect asks for them again
        (and may see a few events twice, which a screen shows once by case and version).

        A row's frame is None when the caller may not see it: it still moves the cursor (it is no gap)."""
        now = time.monotonic()
        sent: list[tuple[int, bytes]] = []
        for row_id, value in late:
            if self.gaps.pop(row_id, None) is not None and value is not None:
                sent.append((row_id, value))
        for row_id, value in new:
            if row_id <= self.last:
                continue
            for missing in range(max(self.last + 1, row_id - MAX_GAPS), row_id):
                self.gaps[missing] = now
            self.last = row_id
            if value is not None:
                sent.append((row_id, value))
        expired = [g for g, since in self.gaps.items() if now - since > GRACE_S]
        for g in expired:
            del self.gaps[g]
        if len(self.gaps) > MAX_GAPS:  # keep the newest: the oldest are the likeliest rolled back
            for g in sorted(self.gaps)[: len(self.gaps) - MAX_GAPS]:
                del self.gaps[g]
        lowest_gap = min(self.gaps, default=None)
        out: list[Event] = []
        for row_id, value in sent:
            self.passed = max(self.passed, row_id)
            resume = self.passed if lowest_gap is None or lowest_gap > self.passed else lowest_gap - 1
            out.append((resume, row_id, value))
        return out

    async def mark_uncommitted(self, session: AsyncSession) -> None:
        """At the start of a stream: ids below the start that are not visible yet belong to transactions still
        running (or rolled back); wait for them like any gap."""
        low = max(self.last - MAX_GAPS, 0)
        present = set(
            await session.scalars(select(OutboxRecord.id).where(OutboxRecord.id > low, OutboxRecord.id <= self.last))
        )
        now = time.monotonic()
        for missing in range(low + 1, self.last + 1):
            if missing not in present:
                self.gaps[missing] = now

    async def read(
        self,
        session: AsyncSession,
        visible: ColumnElement[bool],
        still: StillVisible | None = None,
        leaving: ColumnElement[bool] | None = None,
    ) -> tuple[list[Event], bool]:
        """(events to send, whether there may be more right away). `leaving`: the rows that take a case away from
        the caller's department, which are sent to it as `departure`s."""
        wanted = visible if leaving is None else or_(visible, leaving)
        columns = select(
            OutboxRecord.id,
            case((wanted, OutboxRecord.value), else_=None),
            OutboxRecord.case_id,
            case((visible, True), else_=False),
        )
        late_rows: list[tuple[int, str | None, str | None, bool]] = []
        if self.gaps:
            runs = [OutboxRecord.id.between(lo, hi) for lo, hi in ranges(sorted(self.gaps))]
            late_rows = [tuple(r) for r in await session.execute(columns.where(or_(*runs)).order_by(OutboxRecord.id))]
        query = columns.where(OutboxRecord.id > self.last).order_by(OutboxRecord.id).limit(PAGE)
        new_rows = [tuple(r) for r in await session.execute(query)]
        shown = [c for _, v, c, theirs in late_rows + new_rows if v is not None and c is not None and theirs]
        allowed = await still(session, set(shown)) if still is not None and shown else None

        def row(i: int, value: str | None, case_id: str | None, theirs: bool) -> Row:
            if value is None:
                return (i, None)  # still moves the cursor: it is no gap
            if not theirs:
                return (i, departure(value))
            if allowed is not None and case_id is not None and case_id not in allowed:
                return (i, None)
            return (i, frame(value))

        late, new = [row(*r) for r in late_rows], [row(*r) for r in new_rows]
        return self.advance(late, new), len(new) == PAGE


def visible_to(role: str, department_id: str | None) -> ColumnElement[bool]:
    """Case events only; a handler's stream only their department's (none, for a handler without one)."""
    condition = OutboxRecord.topic == CASE_EVENTS
    if role != Role.HANDLER:
        return condition
    if department_id is None:
        return false()
    helping = _names(OutboxRecord.co_handlers, department_id)
    return and_(condition, or_(OutboxRecord.department_id == department_id, helping))


def leaving_from(role: str, department_id: str | None) -> ColumnElement[bool] | None:
    """The rows that take a case away from a handler's department; None for staff, who see every case."""
    if role != Role.HANDLER or department_id is None:
        return None
    return and_(OutboxRecord.topic == CASE_EVENTS, _names(OutboxRecord.departed, department_id))


def _names(departments: QueryableAttribute[str | None], department_id: str) -> ColumnElement[bool]:
    """Whether a ",a,b," column names the department (the commas make `LIKE` match it exactly)."""
    return departments.contains(f",{department_id},", autoescape=True)


StillVisible = Callable[[AsyncSession, set[str]], Awaitable[set[str]]]


def still_visible_to(user: User) -> StillVisible | None:
    """For a handler's stream read from the database (a replay further back than the hub holds): of the cases
    these events are about, the ones the handler may open now, by the rule `GET /cases/{id}` applies. A case
    transferred or re-dispatched elsewhere is not replayed to the department it left. None: staff see all."""
    if user.role != Role.HANDLER:
        return None

    async def check(session: AsyncSession, case_ids: set[str]) -> set[str]:
        ids = [uuid.UUID(c) for c in case_ids]
        found = await session.scalars(access.scope(select(Case.id).where(Case.id.in_(ids)), user))
        return {str(i) for i in found}

    return check


def seen_by(role: str, department_id: str | None) -> Sees:
    """`visible_to` for rows the hub holds (case events only, which are the rows that keep a value)."""
    if role != Role.HANDLER:
        return lambda row: True
    if department_id is None:
        return lambda row: False
    member = f",{department_id},"
    return lambda row: row.department_id == department_id or (row.co_handlers is not None and member in row.co_handlers)


def left_by(role: str, department_id: str | None) -> Sees | None:
    """`leaving_from` for rows the hub holds."""
    if role != Role.HANDLER or department_id is None:
        return None
    member = f",{department_id},"
    return lambda row: row.departed is not None and member in row.departed
