"""Writing to the outbox inside the caller's transaction: the record exists if and only if the change committed."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts.v1 import CaseChange, CaseEvent, ReplyCommand, ReplyCommandRecord, utcnow
from shared.topics import CASE_EVENTS, OUTBOUND_REPLIES

SOURCE = "case-api"
# The change detail naming the departments that lose the case with it (a transfer's, a return's, a new dispatch's,
# a removed co-handler's): a screen showing the case there drops it on this event.
DEPARTMENTS_LEFT = "departments_left"


def audience(departments: Collection[str]) -> str | None:
    """Co-handling departments as the outbox keeps them: ",a,b,", so `LIKE '%,a,%'` finds one exactly."""
    return f",{','.join(sorted(departments))}," if departments else None


def case_event_row(
    case_id: uuid.UUID,
    change: CaseChange,
    snapshot: dict[str, Any],
    *,
    department_id: str | None,
    co_handlers: Collection[str] = (),
) -> dict[str, Any]:
    event = CaseEvent.for_change(case_id, change, snapshot)
    return {
        "topic": CASE_EVENTS,
        "key": str(case_id),
        "value": event.to_bytes().decode(),
        "case_id": str(case_id),
        "department_id": department_id,
        "co_handlers": audience(co_handlers),
        "departed": audience(change.details.get(DEPARTMENTS_LEFT) or ()),
        "created_at": utcnow(),
        "published_at": None,
    }


def reply_command_row(command: ReplyCommand, *, department_id: str | None) -> dict[str, Any]:
    record = ReplyCommandRecord.wrap(command, source=SOURCE)
    return {
        "topic": OUTBOUND_REPLIES,
        "key": command.contact_key,
        "value": record.to_bytes().decode(),
        "case_id": str(command.case_id),
        "department_id": department_id,
        "co_handlers": None,
        "departed": None,
        "created_at": utcnow(),
        "published_at": None,
    }


async def add(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    from .models import OutboxRecord

    if rows:
        await session.execute(insert(OutboxRecord.__table__), rows)
