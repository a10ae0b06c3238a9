"""The case state machine: one table of allowed moves and one `transition()` that applies them.

Every change to a case goes through `transition()`: it refuses a move the table does not allow (naming the
current state and what is allowed), stamps actor and time, writes the audit row and the outbox event in the
caller's transaction. Nothing else assigns `Case.status`.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from case_api.audit.models import AuditEntry
from case_api.auth.models import Role
from case_api.outbox import service as outbox
from shared.contracts.v1 import CaseChange

from .access import co_handlers
from .deadlines import DeadlinePolicy, reschedule
from .models import Case, CaseStatus

S = CaseStatus
OPEN = frozenset({S.NEW, S.ACCEPTED, S.CLASSIFIED, S.DISPATCHED, S.REPLIED})
STAFF = frozenset({Role.ADMIN, Role.SUPERVISOR, Role.OPERATOR})
EVERYONE = STAFF | {Role.HANDLER}


class Action(StrEnum):
    ACCEPT = "accept"
    CLASSIFY = "classify"
    DISPATCH = "dispatch"
    REPLY = "reply"
    INTERIM_REPLY = "interim-reply"
    TRANSFER = "transfer"
    RETURN = "return"  # not this department's: back to the operators to dispatch again, reason required
    ESCALATE = "escalate"
    CLOSE = "close"
    REOPEN = "reopen"
    DISCARD = "discard"  # spam, duplicates, not a request: closed without an answer, reason required
    ADD_CO_HANDLER = "add-co-handler"
    REMOVE_CO_HANDLER = "remove-co-handler"  # the lead no longer needs a helper's part; reason required
    COMPLETE_PART = "complete-part"
    WAIT_ON_CITIZEN = "wait-on-citizen"  # ask the citizen for missing details; the resolution clock stops
    RESUME = "resume"  # the details came another way (phone, counter), or there is no point waiting longer


@dataclass(frozen=True)
class Move:
    sources: frozenset[CaseStatus]
    target: CaseStatus | None  # None: the status stays as it is
    roles: frozenset[Role]
    event: str  # CloudEvents type suffix: gov.inbox.case.<event>
    needs_reason: bool = False


MOVES: dict[Action, Move] = {
    Action.ACCEPT: Move(frozenset({S.NEW}), S.ACCEPTED, STAFF, "accepted"),
    # Classifying again before dispatch is a correction, and the router learns from it.
    Action.CLASSIFY: Move(frozenset({S.ACCEPTED, S.CLASSIFIED}), S.CLASSIFIED, STAFF, "classified"),
    Action.DISPATCH: Move(frozenset({S.CLASSIFIED}), S.DISPATCHED, STAFF, "dispatched"),
    # Operators may answer a consultation themselves once it is classified; departments answer what they own.
    Action.REPLY: Move(frozenset({S.CLASSIFIED, S.DISPATCHED, S.REPLIED}), S.REPLIED, EVERYONE, "replied"),
    Action.INTERIM_REPLY: Move(frozenset({S.DISPATCHED}), None, EVERYONE, "interim-replied"),
    Action.TRANSFER: Move(frozenset({S.DISPATCHED}), S.DISPATCHED, EVERYONE, "transferred", needs_reason=True),
    # A department that does not know who owns the case sends it back rather than guess (DESIGN: "ask for
    # transfer"); the operators dispatch it again, and the citizen's deadlines keep running meanwhile.
    Action.RETURN: Move(frozenset({S.DISPATCHED}), S.CLASSIFIED, EVERYONE, "returned", needs_reason=True),
    Action.ESCALATE: Move(OPEN, None, EVERYONE, "escalated", needs_reason=True),
    Action.CLOSE: Move(frozenset({S.REPLIED}), S.CLOSED, EVERYONE, "closed"),
    Action.REOPEN: Move(frozenset({S.CLOSED}), S.ACCEPTED, STAFF, "reopened", needs_reason=True),
    Action.DISCARD: Move(frozenset({S.NEW, S.ACCEPTED, S.CLASSIFIED}), S.CLOSED, STAFF, "discarded", needs_reason=True),
    Action.ADD_CO_HANDLER: Move(frozenset({S.DISPATCHED}), None, EVERYONE, "co-handler-added"),
    # Replied but not closable because a part is open that is no longer needed: the lead withdraws it.
    Action.REMOVE_CO_HANDLER: Move(
        frozenset({S.DISPATCHED, S.REPLIED}), None, EVERYONE, "co-handler-removed", needs_reason=True
    ),
    Action.COMPLETE_PART: Move(frozenset({S.DISPATCHED, S.REPLIED}), None, EVERYONE, "part-completed"),
    Action.WAIT_ON_CITIZEN: Move(frozenset({S.DISPATCHED}), None, EVERYONE, "waiting-on-citizen"),
    # The citizen's own answer resumes the clock by itself (intake); this is for answers that came another way.
    Action.RESUME: Move(frozenset({S.DISPATCHED}), None, EVERYONE, "resumed", needs_reason=True),
}


# A department acts on what was dispatched to it. A reopened case it led is visible to it, but until the operators
# dispatch it again the department could only bypass them (answer a case they reclassified for someone else).
_HANDLER_STATES = frozenset({S.DISPATCHED, S.REPLIED})


def handler_may_act(status: str) -> bool:
    return status in _HANDLER_STATES


def _applies(action: Action, status: str, role: str) -> bool:
    if status not in MOVES[action].sources:
        return False
    return role != Role.HANDLER or handler_may_act(status) or action is Action.ESCALATE


def _excluded(waiting: bool) -> frozenset[Action]:
    """Waiting on the citizen decides between wait and resume, whatever the status: the one that does not apply."""
    return frozenset({Action.WAIT_ON_CITIZEN} if waiting else {Action.RESUME})


class IllegalMove(Exception):
    """409: the case is not in a state this action applies to."""

    def __init__(self, case: Case, action: Action, allowed: list[str]) -> None:
        state = f"{case.status} and waiting on the citizen" if case.waiting_since else case.status
        super().__init__(f"cannot {action} a case that is {state}")
        self.current = case.status
        self.action = action
        self.allowed = allowed


class NotPermitted(Exception):
    """403: the caller's role may not take this action."""


class ReasonRequired(ValueError):
    """422: this action must say why."""


def allowed_actions(status: str, role: str, *, waiting: bool = False) -> list[str]:
    excluded = _excluded(waiting)
    return [a.value for a, m in MOVES.items() if _applies(a, status, role) and role in m.roles and a not in excluded]


def snapshot(case: Case) -> dict[str, Any]:
    """The case as other systems see it in events: state and assignment, no raw citizen identifiers."""

    def iso(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    return {
        "id": str(case.id),
        "number": case.number,
        "status": case.status,
        "channel": case.channel,
        "account_id": case.account_id,
        "contact_id": str(case.contact_id),
        "subject": case.subject,
        "category_id": case.category_id,
        "department_id": case.department_id,
        "request_type": case.request_type,
        "proposed_category_id": case.proposed_category_id,
        "proposed_department_id": case.proposed_department_id,
        "escalated": case.escalated,
        "created_at": iso(case.created_at),
        "due_at": iso(case.due_at),
        "first_response_due_at": iso(case.first_response_due_at),
        "resolution_due_at": iso(case.resolution_due_at),
        "promised_at": iso(case.promised_at),
        "waiting_since": iso(case.waiting_since),
        "closed_at": iso(case.closed_at),
        "answer_failed_at": iso(case.answer_failed_at),
        "version": case.version,
        "sla_state": case.sla_state,
        "breached_at": iso(case.breached_at),
        "rating": case.rating,
    }


def ensure_allowed(case: Case, action: Action, role: str, reason: str | None = None) -> Move:
    """Refuse an illegal move before any side effect is prepared."""
    move = MOVES[action]
    if role not in move.roles:
        raise NotPermitted(f"role {role} may not {action}")
    waiting = case.waiting_since is not None
    if not _applies(action, case.status, role) or action in _excluded(waiting):
        raise IllegalMove(case, action, allowed_actions(case.status, role, waiting=waiting))
    if move.needs_reason and not (reason and reason.strip()):
        raise ReasonRequired(f"{action} needs a reason")
    return move


async def transition(
    session: AsyncSession,
    case: Case,
    action: Action,
    *,
    actor: str,
    role: str,
    now: datetime,
    reason: str | None = None,
    changes: dict[str, Any] | None = None,
    details: dict[str, Any] | None = None,
    policy: DeadlinePolicy | None = None,
    helpers: Collection[str] | None = None,
) -> AuditEntry:
    """`helpers`: the case's co-handling departments when the caller already has them (a batch asks once for
    all its cases); otherwise they are looked up."""
    move = ensure_allowed(case, action, role, reason)
    before = snapshot(case)
    from_status = case.status
    for field, value in (changes or {}).items():
        setattr(case, field, value)
    if move.target is not None:
        case.status = move.target.value
    case.version += 1
    case.updated_at = now
    reschedule(case, now, policy)  # before the snapshot: the event tells other systems the deadline now due
    return await _announce(
        session,
        case,
        action.value,
        move.event,
        before=before,
        from_status=from_status,
        actor=actor,
        now=now,
        reason=reason,
        details=details,
        helpers=helpers,
    )


async def record(
    session: AsyncSession,
    case: Case,
    event: str,
    *,
    actor: str,
    now: datetime,
    reason: str | None = None,
    changes: dict[str, Any] | None = None,
    details: dict[str, Any] | None = None,
    policy: DeadlinePolicy | None = None,
    helpers: Collection[str] | None = None,
) -> AuditEntry:
    """A change that is not a move between states (a deadline passing, a rating): audited and announced alike."""
    before = snapshot(case)
    for field, value in (changes or {}).items():
        setattr(case, field, value)
    case.updated_at = now
    reschedule(case, now, policy)
    return await _announce(
        session,
        case,
        event,
        event,
        before=before,
        from_status=case.status,
        actor=actor,
        now=now,
        reason=reason,
        details=details,
        helpers=helpers,
    )


async def _announce(
    session: AsyncSession,
    case: Case,
    action: str,
    event: str,
    *,
    before: dict[str, Any],
    from_status: str,
    actor: str,
    now: datetime,
    reason: str | None,
    details: dict[str, Any] | None,
    helpers: Collection[str] | None,
) -> AuditEntry:
    after = snapshot(case)
    entry = AuditEntry(
        id=uuid.uuid4(),
        case_id=case.id,
        actor=actor,
        action=action,
        at=now,
        from_status=from_status,
        to_status=case.status,
        reason=reason,
        before=before,
        after=after,
    )
    session.add(entry)
    change = CaseChange(
        action=event, from_status=from_status, to_status=case.status, actor=actor, reason=reason, details=details or {}
    )
    if helpers is None:
        helpers = (await co_handlers(session, [case.id])).get(case.id, [])
    row = outbox.case_event_row(case.id, change, after, department_id=case.department_id, co_handlers=helpers)
    await outbox.add(session, [row])
    return entry
