"""The one queue: every channel and account, for the caller's role, ordered by deadline; and its live stream."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from sqlalchemy import ColumnElement, and_, func, or_, select
from sse_starlette import EventSourceResponse

from case_api.auth.deps import CurrentUser
from case_api.auth.models import Role, User
from case_api.auth.service import revoked
from case_api.cases import access, cursors
from case_api.cases.models import Case, CaseStatus, CaseTransfer, TransferKind
from case_api.cases.schemas import CasePage, CaseSummary
from case_api.deps import SessionDep
from case_api.outbox.models import OutboxRecord
from shared.contracts.v1 import Channel, utcnow

from .hub import HUB_WAIT_S
from .live import LiveCursor, frames, leaving_from, left_by, seen_by, still_visible_to, visible_to

router = APIRouter(prefix="/api/v1/queue", tags=["queue"])
MAX_EVENT_ID = 2**63 - 1  # outbox ids are 64-bit integers
USER_RECHECK_S = 30.0  # how soon a live queue notices its user was disabled or given another role

# What each role works on by default; an explicit `status` filter overrides it.
DEFAULT_STATUSES: dict[str, tuple[CaseStatus, ...]] = {
    Role.OPERATOR: (CaseStatus.NEW, CaseStatus.ACCEPTED, CaseStatus.CLASSIFIED),
    Role.HANDLER: (CaseStatus.DISPATCHED,),
    Role.SUPERVISOR: (
        CaseStatus.NEW,
        CaseStatus.ACCEPTED,
        CaseStatus.CLASSIFIED,
        CaseStatus.DISPATCHED,
        CaseStatus.REPLIED,
    ),
    Role.ADMIN: (CaseStatus.NEW, CaseStatus.ACCEPTED, CaseStatus.CLASSIFIED, CaseStatus.DISPATCHED, CaseStatus.REPLIED),
}


@router.get("", response_model=CasePage, summary="The caller's work queue, most urgent deadline first")
async def queue(
    session: SessionDep,
    user: CurrentUser,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: str | None = None,
    status: Annotated[list[CaseStatus] | None, Query()] = None,
    channel: Channel | None = None,
    account_id: str | None = None,
    category_id: str | None = None,
    department_id: str | None = None,
    overdue: bool | None = None,
    escalated: bool | None = None,
    waiting: Annotated[bool | None, Query(description="waiting on the citizen for missing details")] = None,
    returned: Annotated[bool | None, Query(description="ever returned to the operators by a department")] = None,
    answer_failed: Annotated[
        bool | None, Query(description="the latest answer did not reach the citizen (answer again)")
    ] = None,
    q: Annotated[str | None, Query(max_length=100, description="text in the case subject")] = None,
) -> CasePage:
    statuses = status or DEFAULT_STATUSES[user.role]
    in_status: ColumnElement[bool] = Case.status.in_([s.value for s in statuses])
    replied = Case.status == CaseStatus.REPLIED.value
    possible = {s.value for s in statuses}  # every status the conditions below can let through
    # A failed answer goes back to whoever wrote it: a department, or "" the operators (older cases: the holder).
    answerer = func.coalesce(Case.answered_department_id, Case.department_id, "")
    failed = Case.answer_failed_at.is_not(None)
    if status is None and user.role == Role.HANDLER:
        # A citizen writing back after the answer ("still not fixed") joins the replied case, and an answer
        # can fail to reach them: the department must see either again without looking through all it answered.
        ours = and_(failed, answerer == user.department_id)
        again = and_(replied, or_(Case.last_message_at > Case.replied_at, ours))
        in_status, possible = or_(in_status, again), possible | {CaseStatus.REPLIED.value}
    elif status is None and user.role == Role.OPERATOR:
        # The operators answer consultations themselves, and any case if need be: theirs to answer again.
        again = and_(replied, failed, answerer == "")
        in_status, possible = or_(in_status, again), possible | {CaseStatus.REPLIED.value}
    conditions: list[Any] = [in_status]
    if channel:
        conditions.append(Case.channel == channel.value)
    if account_id:
        conditions.append(Case.account_id == account_id)
    if category_id:
        conditions.append(
            or_(
                Case.category_id == category_id,
                and_(Case.category_id.is_(None), Case.proposed_category_id == category_id),
            )
        )
    if department_id:
        conditions.append(
            or_(
                Case.department_id == department_id,
                and_(Case.department_id.is_(None), Case.proposed_department_id == department_id),
            )
        )
    if overdue is not None:
        late = and_(Case.due_at.is_not(None), Case.due_at < utcnow())
        conditions.append(late if overdue else ~late)
    if escalated is not None:
        conditions.append(Case.escalated.is_(escalated))
    if waiting is not None:
        conditions.append(Case.waiting_since.is_not(None) if waiting else Case.waiting_since.is_(None))
    if returned is not None:
        # Returns are a small share of the transfers, which are a small share of the cases.
        returns = select(CaseTransfer.case_id).where(CaseTransfer.kind == TransferKind.RETURN.value)
        conditions.append(Case.id.in_(returns) if returned else Case.id.not_in(returns))
    if answer_failed is not None:
        conditions.append(failed if answer_failed else ~failed)
    if q:
        escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        conditions.append(Case.subject.like(f"%{escaped}%", escape="\\"))
    base = access.scope(select(Case).where(*conditions), user, statuses=possible)
    counted = select(func.count()).select_from(Case).where(*conditions)
    total = (await session.execute(access.scope(counted, user, statuses=possible))).scalar_one()
    # Deadline first; cases without one (answered) last. Keyset on (due_at, id) keeps deep pages fast, and
    # NULLS LAST (rather than sorting on `due_at IS NULL`) lets the database read the order off ix_cases_open_due.
    query = base.order_by(Case.due_at.asc().nulls_last(), Case.id)
    if cursor:
        try:
            due, case_id = cursors.decode(cursor)
        except cursors.InvalidCursor as exc:
            raise HTTPException(400, str(exc)) from exc
        if due is None:
            query = query.where(Case.due_at.is_(None), Case.id > case_id)
        else:
            query = query.where(
                or_(Case.due_at.is_(None), Case.due_at > due, and_(Case.due_at == due, Case.id > case_id))
            )
    rows = list((await session.scalars(query.limit(limit + 1))).all())
    next_cursor = cursors.encode(rows[limit - 1].due_at, rows[limit - 1].id) if len(rows) > limit else None
    return CasePage(items=[CaseSummary.model_validate(r) for r in rows[:limit]], total=total, next_cursor=next_cursor)


@router.get("/events", summary="Server-sent events: every case change the caller may see, as it happens")
async def events(
    request: Request,
    user: CurrentUser,
    session: SessionDep,
    last_event_id: Annotated[int | None, Query(alias="after", ge=0, le=MAX_EVENT_ID)] = None,
) -> EventSourceResponse:
    """Each event's id is where to resume: a reconnecting client sends it back (Last-Event-ID) and misses
    nothing; after an outage it may see an event twice (the case's version tells)."""
    # A stream stays open for a whole shift. The request's session (it found the user) would hold its pooled
    # connection, inside a transaction, until the operator leaves: some twenty open queues exhausted the pool
    # and every other request waited. Hand it back now; the stream reads with short sessions of its own.
    await session.close()
    header = request.headers.get("last-event-id")
    start = last_event_id
    if start is None and header and header.isdigit() and int(header) <= MAX_EVENT_ID:
        start = int(header)  # a mangled header is no reason to refuse the stream: it starts from now instead
    visible, sees = visible_to(user.role, user.department_id), seen_by(user.role, user.department_id)
    leaving, left = leaving_from(user.role, user.department_id), left_by(user.role, user.department_id)
    still = still_visible_to(user)
    who, expires = (user.id, user.role, user.department_id, True), request.state.token_expires
    issued = request.state.token_issued

    async def stream() -> AsyncIterator[bytes]:
        # Read-only sessions: on SQLite the others begin IMMEDIATE and would queue each read behind intake's writes.
        sessions, hub = request.app.state.read_sessions, request.app.state.live_hub
        # A fresh subscriber starts from now, not from the beginning of history. The hub knows where "now" is
        # (a hundred screens reconnecting after a restart need not each ask the database).
        cursor = hub.open(start)
        if cursor is None:
            async with sessions() as session:
                first = start if start is not None else (await session.scalar(select(func.max(OutboxRecord.id)))) or 0
                cursor = LiveCursor(first)
                await cursor.mark_uncommitted(session)
        checked = time.monotonic()
        # No is_disconnected() here: EventSourceResponse already listens for the disconnect and cancels this
        # generator, and asking again on every wake-up was a fifth of what a hundred open streams cost.
        while True:
            if time.monotonic() - checked > USER_RECHECK_S:
                # A stream lasts a shift: one whose user was disabled or moved since it opened ends here, and
                # the screen's reconnect is refused or sees its new scope.
                checked = time.monotonic()
                async with sessions() as session:
                    now = await session.get(User, user.id)
                if (
                    now is None
                    or (now.id, now.role, now.department_id, now.active) != who
                    or time.time() > expires
                    or revoked(now, issued)
                ):
                    return  # an expired or revoked token ends its stream too: the screen signs in again
            woken = hub.changed.armed()
            if hub.serves(cursor):  # the usual case: no query of its own
                events, more = hub.take(cursor, sees, left)
            else:  # further back than the hub holds (a reconnect after a while): the database, until caught up
                async with sessions() as session:
                    events, more = await cursor.read(session, visible, still, leaving)
            if events:
                yield frames(events)  # bytes go out as they are: one write for the whole read
            if not more:  # the hub wakes every stream when it holds new rows
                await hub.changed.wait(woken, HUB_WAIT_S)

    return EventSourceResponse(stream(), ping=15)
