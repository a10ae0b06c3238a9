"""A reply's delivery status after `queued`: which changes are allowed, and the case event announcing each one.

Delivery receipts (receipts.py) and the expiry of replies nobody reported on (expiry.py) both end here, so the
operator's live queue and other systems see the same `reply-delivered` / `reply-failed` event whichever decided.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from case_api.cases.access import co_handlers
from case_api.cases.lifecycle import snapshot
from case_api.cases.models import Case
from case_api.outbox import service as outbox
from shared.contracts.v1 import CaseChange

from .models import Reply, ReplyStatus


def may_become(current: str, new: ReplyStatus) -> bool:
    """Delivered is final: the citizen has the answer, so a later failure (a stale or duplicated receipt) cannot
    undo it. A failed reply may still turn out delivered (it was expired here, then the platform's receipt came):
    the truth wins."""
    return not (current == ReplyStatus.DELIVERED and new is ReplyStatus.FAILED)


def announces(current: str, new: ReplyStatus) -> bool:
    """Only a change of status is announced. A second failure (the platform's own receipt after the expiry here
    gave up, a receipt redelivered) refreshes the code, reason and attempts shown, but the operator was already
    told the reply failed."""
    return current != new


async def status_events(session: AsyncSession, changed: Sequence[tuple[Reply, str]]) -> list[dict[str, Any]]:
    """The outbox rows announcing each (reply, actor)'s new status, for the caller's outbox insert.

    The reply rows already hold their new status, code, reason and attempts. Two queries whatever the number:
    the cases, and their co-handling departments (who see the case's events too).
    """
    if not changed:
        return []
    case_ids = {reply.case_id for reply, _ in changed}
    cases = {c.id: c for c in (await session.scalars(select(Case).where(Case.id.in_(case_ids)))).all()}
    helpers = await co_handlers(session, list(cases))
    rows = []
    for reply, actor in changed:
        case = cases[reply.case_id]
        change = CaseChange(
            action=f"reply-{reply.status}",
            from_status=case.status,
            to_status=case.status,
            actor=actor,
            reason=reply.reason,
            details={"reply_id": str(reply.id), "platform_code": reply.platform_code, "attempts": reply.attempts},
        )
        rows.append(
            outbox.case_event_row(
                case.id,
                change,
                snapshot(case),
                department_id=case.department_id,
                co_handlers=helpers.get(case.id, ()),
            )
        )
    return rows
