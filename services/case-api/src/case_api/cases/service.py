"""Reading cases: filtered lists with keyset pagination, and one case with its messages."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from case_api.auth.models import User
from case_api.contacts.models import Contact
from case_api.replies.models import Reply

from . import access, cursors
from .cursors import InvalidCursor
from .models import Case, CaseDepartment, CaseTransfer, Message


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    created, case_id = cursors.decode(cursor)
    if created is None:  # the case list's cursors always carry a creation time
        raise InvalidCursor()
    return created, case_id


def _filtered(
    query: Select[Any],
    *,
    status: str | None,
    channel: str | None,
    account_id: str | None,
    department_id: str | None,
) -> Select[Any]:
    if status:
        query = query.where(Case.status == status)
    if channel:
        query = query.where(Case.channel == channel)
    if account_id:
        query = query.where(Case.account_id == account_id)
    if department_id:
        query = query.where(
            or_(
                Case.department_id == department_id,
                and_(Case.department_id.is_(None), Case.proposed_department_id == department_id),
            )
        )
    return query


async def list_cases(
    session: AsyncSession,
    *,
    user: User,
    limit: int,
    cursor: str | None = None,
    status: str | None = None,
    channel: str | None = None,
    account_id: str | None = None,
    department_id: str | None = None,
) -> tuple[list[Case], int, str | None]:
    """Newest first. Keyset pagination on (created_at, id) keeps deep pages as fast as the first."""
    filters = {"status": status, "channel": channel, "account_id": account_id, "department_id": department_id}
    query = access.scope(_filtered(select(Case), **filters), user).order_by(Case.created_at.desc(), Case.id.desc())
    if cursor:
        created, case_id = decode_cursor(cursor)
        query = query.where(or_(Case.created_at < created, and_(Case.created_at == created, Case.id < case_id)))
    rows = list((await session.scalars(query.limit(limit + 1))).all())
    count = access.scope(_filtered(select(func.count()).select_from(Case), **filters), user)
    total = (await session.execute(count)).scalar_one()
    next_cursor = cursors.encode(rows[limit - 1].created_at, rows[limit - 1].id) if len(rows) > limit else None
    return rows[:limit], total, next_cursor


@dataclass
class CaseView:
    case: Case
    contact: Contact
    messages: list[Message]
    parts: list[CaseDepartment]
    replies: list[Reply]
    transfers: list[CaseTransfer]


async def get_case(
    session: AsyncSession, *, case_id: uuid.UUID, user: User, check_access: bool = True
) -> CaseView | None:
    """One case with everything an operator needs on screen; None when missing or not visible to `user`."""
    case = await session.get(Case, case_id)
    if case is None or (check_access and not await access.can_see(session, user, case)):
        return None
    contact = await session.get(Contact, case.contact_id)
    assert contact is not None  # foreign key
    messages = await session.scalars(
        select(Message).where(Message.case_id == case_id).order_by(Message.sent_at, Message.id)
    )
    parts = await access.parts_of(session, case_id)
    replies = await session.scalars(select(Reply).where(Reply.case_id == case_id).order_by(Reply.created_at))
    transfers = await session.scalars(
        select(CaseTransfer).where(CaseTransfer.case_id == case_id).order_by(CaseTransfer.at, CaseTransfer.id)
    )
    return CaseView(case, contact, list(messages.all()), parts, list(replies.all()), list(transfers.all()))
