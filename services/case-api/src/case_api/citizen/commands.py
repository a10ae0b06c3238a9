"""Messages that are answers, not new problems: a progress query (查询/进度) gets the status of the citizen's
cases back; a 1–5 score after closure is the rating of the case just closed. Neither opens a case."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from case_api.auth.models import Role, User
from case_api.cases.deadlines import DeadlinePolicy
from case_api.cases.lifecycle import record
from case_api.cases.models import Case, CaseStatus
from case_api.outbox import service as outbox
from case_api.replies.service import build_reply
from shared.contracts.v1 import MessageKind, RoutedMessage

from .notices import (
    PROGRESS_LINE,
    RATED_FLAGGED_TEXT,
    RATED_REOPENED_TEMPLATE,
    RATED_TEXT,
    Notices,
    progress_query,
    rating,
)

# What a citizen is told, in their language, without internal detail.
PUBLIC_STATUS = {
    CaseStatus.NEW: "已收到",
    CaseStatus.ACCEPTED: "已受理",
    CaseStatus.CLASSIFIED: "已受理",
    CaseStatus.DISPATCHED: "办理中",
    CaseStatus.REPLIED: "已答复",
    CaseStatus.CLOSED: "已办结",
}
WAITING_ON_YOU = "待您补充材料"  # a department asked the citizen for details and waits for the answer
CLOSED_UNANSWERED = "已关闭"  # discarded (a duplicate, spam): nothing was done, so not "已办结"


def public_status(case: Case) -> str:
    """What a case's state is called to the citizen (progress replies, the public tracking page)."""
    if case.waiting_since is not None:
        return WAITING_ON_YOU
    if case.status == CaseStatus.CLOSED and case.replied_at is None:
        return CLOSED_UNANSWERED
    return PUBLIC_STATUS[CaseStatus(case.status)]


SYSTEM = User(username="system:citizen", role=Role.ADMIN.value, display_name="system")


def _progress_text(history: list[Case], number: str | None) -> str:
    def lines(cases: list[Case]) -> list[str]:
        return [PROGRESS_LINE.format(number=c.number, status=public_status(c)) for c in cases]

    shown = [c for c in history if c.number == number] if number else history[:5]
    if number and not shown:
        return "\n".join([f"没有找到编号{number}的诉求。您最近的诉求：", *lines(history[:5])])
    return "\n".join(lines(shown))


async def handle_commands(
    session: AsyncSession,
    fresh: list[RoutedMessage],
    *,
    contact_of: Callable[[RoutedMessage], uuid.UUID],
    open_case: dict[uuid.UUID, uuid.UUID],
    notices: Notices,
    policy: DeadlinePolicy,
    now: datetime,
) -> dict[str, tuple[uuid.UUID, str]]:
    """Handle the batch's commands; returns dedupe key → (case the message belongs to, what it was)."""
    candidates: list[tuple[RoutedMessage, uuid.UUID, str, Any]] = []
    for routed in fresh:
        message = routed.message
        if message.kind is not MessageKind.TEXT:
            continue
        contact_id = contact_of(routed)
        is_query, number = progress_query(message.text)
        if is_query:
            candidates.append((routed, contact_id, "progress-query", number))
        elif notices.request_rating and (score := rating(message.text)) is not None and contact_id not in open_case:
            # Only where rating requests go out: elsewhere nobody asked, and "2" may mean anything.
            candidates.append((routed, contact_id, "rating", score))
    if not candidates:
        return {}
    history: dict[uuid.UUID, list[Case]] = defaultdict(list)
    for case in (
        await session.scalars(
            select(Case).where(Case.contact_id.in_({c[1] for c in candidates})).order_by(Case.created_at.desc())
        )
    ).all():
        history[case.contact_id].append(case)

    handled: dict[str, tuple[uuid.UUID, str]] = {}
    commands: list[dict[str, Any]] = []

    def answer(case: Case, message: Any, text: str) -> None:
        reply, row = build_reply(
            case_id=case.id,
            case_number=case.number,
            channel=case.channel,
            account_id=case.account_id,
            recipient_id=message.sender_id,
            department_id=case.department_id,
            text=text,
            created_by="system",
            now=now,
            automatic=True,
            in_reply_to=message.platform_message_id,
            ttl=notices.reply_ttl,
        )
        session.add(reply)
        commands.append(row)

    for routed, contact_id, kind, value in candidates:
        message, cases = routed.message, history.get(contact_id, [])
        if kind == "progress-query":
            if not cases:
                continue  # nothing to report: an operator sees it as an ordinary message
            # Filed on the case it names, so that case's history shows the citizen asked; else on the newest.
            about = next((c for c in cases if c.number == value), cases[0])
            answer(about, message, _progress_text(cases, value))
            handled[message.dedupe_key] = (about.id, kind)
            continue
        # The citizen answers the latest rating request: the one sent when the last of their cases closed asking
        # for one (not one discarded as spam, nor one closed with a reason, say answered by phone).
        asked = [
            c
            for c in cases
            if c.status == CaseStatus.CLOSED
            and c.rating_requested_at is not None
            and c.rating_requested_at >= now - notices.rating_window
        ]
        if not asked:
            continue  # not an answer to a rating request: an ordinary message
        closed = max(asked, key=lambda c: c.rating_requested_at or now)
        # Rated since this request: the same score sent again. The first one stands (an older case's request is
        # not what a second digit answers), and no new case opens for a digit. After a reopening the citizen rates
        # the new answer; the earlier rating stays in the audit trail.
        if closed.rated_at is not None and closed.rated_at >= (closed.rating_requested_at or now):
            handled[message.dedupe_key] = (closed.id, "rating-again")
            continue
        await record(
            session,
            closed,
            "rated",
            actor="citizen",
            now=now,
            changes={"rating": value, "rated_at": now, "rated_department_id": closed.department_id or ""},
            details={"rating": value},
        )
        thanks = RATED_TEXT
        if value <= notices.low_rating:
            reason = f"市民评分{value}分（不满意）"
            if notices.low_rating_action == "reopen":
                from case_api.cases.actions import CaseActions  # the same reopen an operator does

                await CaseActions(session, user=SYSTEM, now=now, policy=policy).reopen(closed, reason=reason)
                open_case[contact_id] = closed.id  # what the citizen writes next in this batch joins it
                thanks = RATED_REOPENED_TEMPLATE.format(number=closed.number)
            else:
                thanks = RATED_FLAGGED_TEXT
                await record(
                    session,
                    closed,
                    "low-rating-flagged",
                    actor="system:citizen",
                    now=now,
                    reason=reason,
                    changes={"escalated": True, "escalated_at": now},
                )
        answer(closed, message, thanks)
        handled[message.dedupe_key] = (closed.id, kind)
    await outbox.add(session, commands)
    return handled
