"""What goes on a case's audit trail besides its changes: supervisors' reads of a citizen's data."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from case_api.auth.models import Role, User
from shared.contracts.v1 import utcnow

from .models import AuditEntry


async def record_reads(session: AsyncSession, user: User, shown: Iterable[tuple[uuid.UUID, str]]) -> None:
    """Supervisors read across every department: each case whose citizen data an answer shows them (`shown`:
    case id and status) gets a "read" entry, all in one insert, in `session`'s transaction (the caller commits)."""
    if user.role != Role.SUPERVISOR:
        return
    now = utcnow()
    rows = [
        {
            "id": uuid.uuid4(),
            "case_id": case_id,
            "actor": user.username,
            "action": "read",
            "at": now,
            "from_status": status,
            "to_status": status,
            "reason": None,
            "before": None,
            "after": None,
        }
        for case_id, status in shown
    ]
    if rows:
        await session.execute(insert(AuditEntry.__table__), rows)


async def record_reads_apart(
    sessions: async_sessionmaker[AsyncSession], user: User, shown: Iterable[tuple[uuid.UUID, str]]
) -> None:
    """record_reads() in a transaction of its own, for a request whose session only reads (case_api.deps)."""
    if user.role == Role.SUPERVISOR:
        async with sessions() as writing, writing.begin():
            await record_reads(writing, user, shown)
