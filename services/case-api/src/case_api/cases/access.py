"""Who may see and act on which case: staff see all; a handler sees their department's cases only."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Collection
from typing import Any

from sqlalchemy import Boolean, ColumnElement, Select, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.visitors import InternalTraversal

from case_api.auth.models import Role, User

from .models import Case, CaseDepartment


class _InIndexable(ColumnElement[bool]):
    """`column IN (subquery)` that PostgreSQL can answer from an index inside an OR (`= ANY(ARRAY(…))`): the IN
    form becomes a hashed subplan there, which keeps the planner from combining the OR's arms by index and makes
    it filter every case of the statuses asked for, all departments' (benchmarks/NOTES.md)."""

    inherit_cache = True
    type = Boolean()
    # Both parts belong in the statement cache's key, and their parameters (the department) with them.
    _traverse_internals = [  # noqa: RUF012 (SQLAlchemy's own declaration style)
        ("column", InternalTraversal.dp_clauseelement),
        ("subquery", InternalTraversal.dp_clauseelement),
    ]

    def __init__(self, column: ColumnElement[Any], subquery: Select[Any]) -> None:
        self.column, self.subquery = column, subquery

    def self_group(self, against: Any = None) -> ColumnElement[Any]:
        return self  # a comparison already: not to be read as a boolean column (`… = 1` on SQLite)


@compiles(_InIndexable)
def _in_subquery(element: _InIndexable, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.column.in_(element.subquery), **kw)


@compiles(_InIndexable, "postgresql")
def _any_array(element: _InIndexable, compiler: SQLCompiler, **kw: Any) -> str:
    column, subquery = compiler.process(element.column, **kw), compiler.process(element.subquery, **kw)
    return f"{column} = ANY(ARRAY({subquery}))"


def visible_to(user: User, *, statuses: Collection[str] | None = None) -> ColumnElement[bool] | None:
    """A WHERE clause limiting cases to what `user` may see, or None for staff.

    `statuses`: the statuses the caller's own conditions allow, repeated here so that the department's arm is
    read off the (department_id, status, …) index rather than from every case the department ever had.
    """
    if user.role != Role.HANDLER:
        return None
    # The lead's part always mirrors `Case.department_id` (dispatch and transfer keep them together), so only
    # helper parts need the subquery: a handful of rows instead of every case the department ever led.
    co_handled = select(CaseDepartment.case_id).where(
        CaseDepartment.department_id == user.department_id,
        CaseDepartment.role == "helper",
        CaseDepartment.status == "open",  # a done part is the record of what it did, not access to what follows
    )
    led = Case.department_id == user.department_id
    if statuses is not None:
        led = and_(led, Case.status.in_(sorted(statuses)))
    return or_(led, _InIndexable(Case.id.expression, co_handled))


async def can_see(session: AsyncSession, user: User, case: Case) -> bool:
    if user.role != Role.HANDLER:
        return True
    if case.department_id == user.department_id:
        return True
    part = await session.get(CaseDepartment, (case.id, user.department_id))
    # As in visible_to: a lead part mirrors department_id, and a helper sees the case while its part is open.
    return part is not None and part.role == "helper" and part.status == "open"


async def co_handlers(session: AsyncSession, case_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, list[str]]:
    """Each case's co-handling departments with a part open: their handlers' live queues get the case's events too."""
    found: dict[uuid.UUID, list[str]] = defaultdict(list)
    if case_ids:
        rows = await session.execute(
            select(CaseDepartment.case_id, CaseDepartment.department_id).where(
                CaseDepartment.case_id.in_(list(case_ids)),
                CaseDepartment.role == "helper",
                CaseDepartment.status == "open",
            )
        )
        for case_id, department_id in rows:
            found[case_id].append(department_id)
    return found


async def parts_of(session: AsyncSession, case_id: uuid.UUID) -> list[CaseDepartment]:
    """The departments working on a case: the lead first, then the helpers in the order they were named."""
    parts = await session.scalars(
        select(CaseDepartment)
        .where(CaseDepartment.case_id == case_id)
        .order_by(CaseDepartment.role != "lead", CaseDepartment.created_at, CaseDepartment.department_id)
    )
    return list(parts.all())


def is_lead_handler(user: User, case: Case) -> bool:
    return user.role != Role.HANDLER or case.department_id == user.department_id


def scope(query: Any, user: User, *, statuses: Collection[str] | None = None) -> Any:
    clause = visible_to(user, statuses=statuses)
    return query if clause is None else query.where(clause)
