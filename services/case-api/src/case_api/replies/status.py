"""A reply's delivery status after `queued`: which changes are allowed, what they do to the case, and the case
event announcing each one.

Delivery receipts (receipts.py) and the expiry of replies nobody reported on (expiry.py) both end here, so the
operator's live queue and other systems see the same `reply-delivered` / `reply-failed` event whichever decided,
and a case whose answer failed comes back to the queue (`Case.answer_failed_at`) either way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from case_api.cases.access import co_handlers
from case_api.cases.lifecycle import snapshot
from case_api.cases.models import Case, CaseStatus
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


def _is_answer(reply: Reply) -> bool:
    return not reply.automatic and not reply.interim


async def _mark_answers(session: AsyncSession, cases: dict[Any, Case], changed: Sequence[tuple[Reply, str]]) -> None:
    """A case's latest answer failing marks the case (`answer_failed_at`), which brings it back to the queue of
    whoever answered; that answer delivered after all clears the mark. An older answer's fate changes nothing:
    the citizen has been answered since. A change of the mark is a change of the case (its version)."""
    answers = [reply for reply, _ in changed if _is_answer(reply)]
    if not answers:
        return
    latest = dict(
        (
            await session.execute(
                select(Reply.case_id, func.max(Reply.created_at))
                .where(
                    Reply.case_id.in_({r.case_id for r in answers}),
                    Reply.automatic.is_(False),
                    Reply.interim.is_(False),
                )
                .group_by(Reply.case_id)
            )
        ).all()
    )
    for reply in answers:
        case = cases[reply.case_id]
        # Closed (with a reason saying how the citizen was answered) or reopened: the mark would bring back a case
        # nobody has to answer again.
        if reply.created_at < latest[reply.case_id] or case.status != CaseStatus.REPLIED:
            continue
        failed_at = (reply.finished_at or reply.created_at) if reply.status == ReplyStatus.FAILED else None
        if (case.answer_failed_at is None) != (failed_at is None):
            case.answer_failed_at = failed_at
            case.version += 1


async def status_events(session: AsyncSession, changed: Sequence[tuple[Reply, str]]) -> list[dict[str, Any]]:
    """The outbox rows announcing each (reply, actor)'s new status, for the caller's outbox insert; first marks
    the cases whose latest answer failed, or clears the mark (`_mark_answers`), so the events carry it.

    The reply rows already hold their new status, code, reason and attempts. At most four queries, whatever the
    number: the cases (again, locked, for those whose answer changed), their latest answers, and their
    co-handling departments (who see the case's events too).
    """
    if not changed:
        return []
    case_ids = {reply.case_id for reply, _ in changed}
    cases = {c.id: c for c in (await session.scalars(select(Case).where(Case.id.in_(case_ids)))).all()}
    if answered := {reply.case_id for reply, _ in changed if _is_answer(reply)}:
        # Locked, in one order, and read again: an action writing the next answer meanwhile must not cross the
        # mark (or the version). Only these: acknowledgements and rating requests change nothing on the case.
        locked = select(Case).where(Case.id.in_(answered)).order_by(Case.id).with_for_update()
        (await session.scalars(locked.execution_options(populate_existing=True))).all()
        await _mark_answers(session, cases, changed)
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
