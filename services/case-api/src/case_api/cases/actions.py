"""What each case action does around the state machine: checks, side effects (replies, transfers, parts)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from case_api.audit.models import AuditEntry
from case_api.auth.models import Role, User
from case_api.catalog.models import Category, Department
from case_api.citizen.notices import Notices
from case_api.contacts.models import Contact
from case_api.outbox import service as outbox
from case_api.replies.models import Reply, ReplyStatus
from case_api.replies.service import build_reply
from case_api.sla import PromiseError
from shared.contracts.v1 import MAX_REPLY_CHARS, Channel

from . import access
from .deadlines import DeadlinePolicy, end_wait, waited
from .lifecycle import Action, allowed_actions, ensure_allowed, handler_may_act, record, transition
from .models import Case, CaseDepartment, CaseStatus, CaseTransfer, Message, TransferKind


class CaseNotFound(LookupError):
    """404 — also for a case the caller may not see, so its existence is not revealed."""


DUPLICATE_REPLY_WINDOW = timedelta(minutes=1)


class Conflict(Exception):
    """409 with a readable reason (claimed by someone else, parts still open, …)."""


class Invalid(ValueError):
    """422 with a readable reason (unknown department, promise in the past, …)."""


async def load_for_update(session: AsyncSession, case_id: uuid.UUID, user: User) -> Case:
    # FOR UPDATE serialises concurrent actions on one case on PostgreSQL (SQLite serialises writers anyway),
    # so audit rows and events keep the order in which the changes happened.
    case = await session.scalar(select(Case).where(Case.id == case_id).with_for_update())
    if case is None or not await access.can_see(session, user, case):
        raise CaseNotFound(case_id)
    return case


def check_claim(case: Case, user: User, now: datetime) -> None:
    """409 while a colleague holds the case: operators and handlers alike. Supervisors and administrators step in."""
    if (
        user.role in (Role.OPERATOR, Role.HANDLER)
        and case.claimed_by
        and case.claimed_by != user.username
        and case.claim_expires_at
        and case.claim_expires_at > now
    ):
        raise Conflict(f"case is claimed by {case.claimed_by} until {case.claim_expires_at.isoformat()}")


# What the lead department decides. A co-handling department's handlers see the case, escalate it and complete
# their own part; answering the citizen, passing the case on, closing it and choosing helpers stay with the lead.
LEAD_ONLY = frozenset(
    {
        Action.REPLY,
        Action.INTERIM_REPLY,
        Action.WAIT_ON_CITIZEN,
        Action.RESUME,
        Action.TRANSFER,
        Action.RETURN,
        Action.CLOSE,
        Action.ADD_CO_HANDLER,
        Action.REMOVE_CO_HANDLER,
    }
)


def _lead_only(case: Case, user: User) -> None:
    if not access.is_lead_handler(user, case):
        raise Conflict("only the lead department's handlers can do this")


def _left(*departments: str | None) -> dict[str, list[str]]:
    """The detail naming the departments a change takes the case away from (their live queues drop it)."""
    gone = sorted({d for d in departments if d})
    return {outbox.DEPARTMENTS_LEFT: gone} if gone else {}


def available(user: User, case: Case, parts: Sequence[CaseDepartment]) -> list[str]:
    """The case detail's `allowed_actions`: the table's moves for the caller's role in the case's state, less
    what their department's part and the case's parts rule out. A claim held by someone else is not looked at:
    the screen shows the claim."""
    lead = access.is_lead_handler(user, case)
    open_parts = {p.department_id for p in parts if p.role == "helper" and p.status == "open"}
    completable = open_parts & {user.department_id} if user.role == Role.HANDLER else open_parts
    ruled_out = {
        Action.COMPLETE_PART: not completable,
        Action.REMOVE_CO_HANDLER: not open_parts,
        Action.CLOSE: bool(open_parts),  # not before every part is done
        Action.ESCALATE: case.escalated,
    }
    offered = []
    for name in allowed_actions(case.status, user.role, waiting=case.waiting_since is not None):
        action = Action(name)
        if (action in LEAD_ONLY and not lead) or ruled_out.get(action, False):
            continue
        offered.append(name)
    return offered


async def _department(session: AsyncSession, department_id: str) -> Department:
    department = await session.get(Department, department_id)
    if department is None or not department.active:
        raise Invalid(f"no active department {department_id!r}")
    return department


async def _category(session: AsyncSession, category_id: str) -> Category:
    category = await session.get(Category, category_id)
    if category is None or not category.active:
        raise Invalid(f"no active category {category_id!r}")
    return category


class CaseActions:
    """One object per request: the session, the caller and the clock."""

    def __init__(
        self,
        session: AsyncSession,
        *,
        user: User,
        now: datetime,
        policy: DeadlinePolicy,
        notices: Notices | None = None,
    ) -> None:
        self.session = session
        self.user = user
        self.now = now
        self.policy = policy
        self.notices = notices

    def _check(self, case: Case, action: Action, reason: str | None = None) -> None:
        ensure_allowed(case, action, self.user.role, reason)
        if action in LEAD_ONLY:
            _lead_only(case, self.user)
        # Anyone may raise the alarm, and a helper (who cannot claim) finishes its part whoever holds the case.
        if action not in (Action.ESCALATE, Action.COMPLETE_PART):
            check_claim(case, self.user, self.now)

    async def _move(
        self,
        case: Case,
        action: Action,
        *,
        reason: str | None = None,
        changes: dict[str, Any] | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        await transition(
            self.session,
            case,
            action,
            actor=self.user.username,
            role=self.user.role,
            now=self.now,
            reason=reason,
            changes=changes,
            details=details,
            policy=self.policy,
        )

    async def accept(self, case: Case) -> None:
        check_claim(case, self.user, self.now)
        await self._move(case, Action.ACCEPT)

    async def classify(self, case: Case, *, category_id: str, request_type: str | None, via: str = "classify") -> None:
        self._check(case, Action.CLASSIFY)
        check_claim(case, self.user, self.now)
        category = await _category(self.session, category_id)
        details = {
            "category_id": category.id,
            "proposed_category_id": case.proposed_category_id,
            "corrected": case.proposed_category_id is not None and case.proposed_category_id != category.id,
            "previous_category_id": case.category_id,
            "via": via,
            # The router learns from corrections: it needs the text the operator classified.
            "text": case.subject,
        }
        # The deadline follows the request type the case keeps, not only one given just now. A reopened case
        # keeps the new period its reopening started: counted from receipt it would be long past.
        request_type = request_type or case.request_type or case.proposed_request_type
        changes: dict[str, object] = {"category_id": category.id, "request_type": request_type}
        if not case.reopen_count and not await self._dispatched_before(case):
            # The category's own resolution period from receipt, unless the deadline has passed already (the breach
            # stands) or the new period ran out before now (the case is not overdue by its classification).
            changes["resolution_due_at"] = self.policy.reclassified_due(
                case, category_id=category.id, request_type=request_type, now=self.now
            )
            # sla.yaml may give a category its own first response; one already passed is history, not redone,
            # and a shorter one is not applied once it has passed: nobody could have answered in time.
            first_due = self.policy.first_response_due(
                case.created_at, category_id=category.id, request_type=request_type
            )
            current = case.first_response_due_at
            if case.first_responded_at is None and (current is None or current > self.now) and first_due > self.now:
                changes["first_response_due_at"] = first_due
        await self._move(case, Action.CLASSIFY, changes=changes, details=details)

    async def _dispatched_before(self, case: Case) -> bool:
        """A case a department returned keeps the deadlines it had (moved by waits, promises, transfers): the
        citizen has waited since the message came, and correcting the category does not start that again."""
        if case.status != CaseStatus.CLASSIFIED:
            return False
        query = select(AuditEntry.id).where(AuditEntry.case_id == case.id, AuditEntry.action == Action.DISPATCH.value)
        return await self.session.scalar(query.limit(1)) is not None

    async def dispatch(
        self, case: Case, *, department_id: str | None, co_handlers: list[tuple[str, str]], via: str = "dispatch"
    ) -> None:
        self._check(case, Action.DISPATCH)
        check_claim(case, self.user, self.now)
        if department_id is None:
            category = await _category(self.session, case.category_id or "")
            department_id = category.department_id
        await _department(self.session, department_id)
        # The parts first: the event announcing the dispatch must not reach a department whose part just ended
        # (they get it as the one that takes the case away from them).
        previous = case.department_id  # after a reopening, the department that had the case before
        ended = await self._lead(case, department_id, new_round=True)
        details: dict[str, object] = {"department_id": department_id, "via": via}
        if ended:
            details["ended_co_handlers"] = ended
        details |= _left(*ended, previous if previous != department_id else None)
        # The operator's claim ends with their part of the work: the department's handlers take it from here.
        changes = {"department_id": department_id, "claimed_by": None, "claim_expires_at": None}
        await self._move(case, Action.DISPATCH, changes=changes, details=details)
        for helper, part in co_handlers:
            await self.add_co_handler(case, department_id=helper, part=part)

    async def confirm(self, case: Case) -> None:
        """Accept what is proposed in one step: accept, classify and dispatch as proposed. What a person already
        decided stays: a case with a category (classified, or reopened) keeps it, and one a department returned
        goes where that department suggested, not back to the router's choice that sent it there."""
        if case.category_id is not None and case.status in (CaseStatus.ACCEPTED, CaseStatus.CLASSIFIED):
            if case.status == CaseStatus.ACCEPTED:  # reopened: classified again as it was
                await self.classify(case, category_id=case.category_id, request_type=case.request_type, via="confirm")
            await self.dispatch(
                case, department_id=await self._confirmed_department(case), co_handlers=[], via="confirm"
            )
            return
        if not case.proposed_category_id or not case.proposed_department_id:
            raise Conflict("the router proposed no category and department for this case: classify it by hand")
        if case.status == CaseStatus.NEW:
            await self.accept(case)
        await self.classify(
            case, category_id=case.proposed_category_id, request_type=case.proposed_request_type, via="confirm"
        )
        await self.dispatch(case, department_id=case.proposed_department_id, co_handlers=[], via="confirm")

    async def _confirmed_department(self, case: Case) -> str | None:
        """Where confirming a classified case sends it; None: the department of the category the case has."""
        # Returned: no department, after one (a reopened case keeps the department that answered it).
        if case.department_id is None and await self._dispatched_before(case):  # its suggestion, or nothing
            if case.proposed_department_id is None:
                raise Conflict("the department returned this case without suggesting another: dispatch it by hand")
            return case.proposed_department_id
        if case.category_id == case.proposed_category_id:  # the operator agreed with the router's category
            return case.proposed_department_id
        return None  # the operator corrected the category: the router's department was for the other one

    async def _queue_reply(
        self,
        case: Case,
        text: str,
        *,
        interim: bool = False,
        promised_at: datetime | None = None,
        automatic: bool = False,
    ) -> Reply:
        if not automatic:
            limit = MAX_REPLY_CHARS.get(Channel(case.channel))
            if limit is not None and len(text) > limit:
                raise Invalid(
                    f"a {case.channel} reply takes at most {limit} characters and this one has {len(text)}: "
                    "shorten it, or send it as several replies"
                )
            await self._not_just_sent(case, text)
        contact = await self.session.get(Contact, case.contact_id)
        assert contact is not None
        last_inbound = await self.session.scalar(
            select(Message.platform_message_id)
            .where(Message.case_id == case.id, Message.direction == "in")
            .order_by(Message.sent_at.desc())
            .limit(1)
        )
        reply, command_row = build_reply(
            case_id=case.id,
            case_number=case.number,
            channel=case.channel,
            account_id=case.account_id,
            recipient_id=contact.sender_id,
            department_id=case.department_id,
            text=text,
            created_by="system" if automatic else self.user.username,
            now=self.now,
            interim=interim,
            promised_at=promised_at,
            automatic=automatic,
            in_reply_to=last_inbound,
            ttl=self.notices.reply_ttl if self.notices else None,
        )
        self.session.add(reply)
        await outbox.add(self.session, [command_row])
        return reply

    async def _not_just_sent(self, case: Case, text: str) -> None:
        """A double click, or a browser retrying a request whose answer was lost, must not message the citizen
        twice: the same text from the same person to the same case within a minute, with nothing happening to
        the case in between (a new message from the citizen, a reopening), is refused."""
        sent = await self.session.scalar(
            select(Reply.created_at)
            .where(
                Reply.case_id == case.id,
                Reply.created_by == self.user.username,
                Reply.text == text,
                Reply.created_at > self.now - DUPLICATE_REPLY_WINDOW,
                Reply.status != ReplyStatus.FAILED,  # sending a failed reply again is what the operator means
            )
            .limit(1)
        )
        if sent is not None and case.updated_at <= sent:
            ago = max(0, round((self.now - sent).total_seconds()))
            raise Conflict(f"this reply was already sent to the citizen {ago} s ago")

    def _first_response(self, case: Case) -> dict[str, object]:
        """The changes an answer makes to the first response: given now, unless given before; and counted for the
        department holding the case, unless it became late before (the sweeper counted it then)."""
        if case.first_responded_at is not None:
            return {}
        changes: dict[str, object] = {"first_responded_at": self.now}
        if case.first_response_department_id is None:
            changes["first_response_department_id"] = case.department_id or ""
        return changes

    async def reply(self, case: Case, *, text: str) -> Reply:
        self._check(case, Action.REPLY)
        check_claim(case, self.user, self.now)
        reply = await self._queue_reply(case, text, interim=False, promised_at=None)
        await self._move(
            case,
            Action.REPLY,
            changes={
                "replied_at": self.now,
                "answer_failed_at": None,  # a new answer is on its way; its own receipt decides again
                "answered_department_id": self.user.department_id if self.user.role == Role.HANDLER else "",
                **self._first_response(case),
                # Answered while still waiting for details: the wait ends here and does not count against them.
                **end_wait(case, self.policy, self.now),
            },
            details={"reply_id": str(reply.id)},
        )
        return reply

    async def wait_on_citizen(self, case: Case, *, text: str) -> Reply:
        """Ask the citizen for what is missing; the resolution clock stands still until they answer."""
        self._check(case, Action.WAIT_ON_CITIZEN)
        reply = await self._queue_reply(case, text, interim=True)
        await self._move(
            case,
            Action.WAIT_ON_CITIZEN,
            reason=text,
            changes={"waiting_since": self.now, **self._first_response(case)},
            details={"reply_id": str(reply.id)},
        )
        return reply

    async def resume(self, case: Case, *, reason: str) -> None:
        """Stop waiting without the citizen's message (they phoned, or waiting longer is pointless)."""
        self._check(case, Action.RESUME, reason)
        details = waited(case, self.now, via="staff")
        await self._move(
            case, Action.RESUME, reason=reason, changes=end_wait(case, self.policy, self.now), details=details
        )

    async def interim_reply(self, case: Case, *, text: str, promised_at: datetime) -> Reply:
        self._check(case, Action.INTERIM_REPLY)
        reopened_at = await self._reopened_at(case)
        try:
            resolution_due = self.policy.promised_due(
                case, promised_at=promised_at, now=self.now, reopened_at=reopened_at
            )
        except PromiseError as exc:
            raise Invalid(str(exc)) from exc
        reply = await self._queue_reply(case, text, interim=True, promised_at=promised_at)
        await self._move(
            case,
            Action.INTERIM_REPLY,
            changes={
                "promised_at": promised_at,
                "resolution_due_at": resolution_due,
                **self._first_response(case),
            },
            details={"reply_id": str(reply.id), "promised_at": promised_at.isoformat()},
        )
        return reply

    async def _reopened_at(self, case: Case) -> datetime | None:
        """When the case was last reopened (its audit entry), where its new resolution period started."""
        if not case.reopen_count:
            return None
        query = select(AuditEntry.at).where(AuditEntry.case_id == case.id, AuditEntry.action == Action.REOPEN.value)
        return await self.session.scalar(query.order_by(AuditEntry.at.desc()).limit(1))

    async def transfer(self, case: Case, *, department_id: str, reason: str) -> None:
        self._check(case, Action.TRANSFER, reason)
        await _department(self.session, department_id)
        if department_id == case.department_id:
            raise Invalid("the case is already with that department")
        previous = case.department_id
        await self._move(
            case,
            Action.TRANSFER,
            reason=reason,
            changes={
                "department_id": department_id,
                "claimed_by": None,  # held in the department the case leaves
                "claim_expires_at": None,
                "transfer_count": case.transfer_count + 1,
                "resolution_due_at": self.policy.transferred_due(case, now=self.now),
            },
            details={"from_department_id": previous, "to_department_id": department_id, **_left(previous)},
        )
        self._record_transfer(case, TransferKind.TRANSFER, previous, department_id, reason=reason)
        await self._lead(case, department_id)

    def _record_transfer(
        self,
        case: Case,
        kind: TransferKind,
        source: str | None,
        target: str | None,
        *,
        reason: str,
        suggested: str | None = None,
    ) -> None:
        """The case's passage for its history and for the statistics, which count each kind apart."""
        self.session.add(
            CaseTransfer(
                case_id=case.id,
                kind=kind.value,
                from_department_id=source,
                to_department_id=target,
                suggested_department_id=suggested,
                reason=reason,
                actor=self.user.username,
                at=self.now,
            )
        )

    async def send_back(self, case: Case, *, reason: str, suggested_department_id: str | None) -> None:
        """The department returns a case that is not theirs to the operators' queue, optionally naming who it
        thinks owns it. The round of work ends: its parts and their access go, as a new dispatch would end them,
        and so does any claim. The deadlines stay: the citizen has been waiting since the message came."""
        self._check(case, Action.RETURN, reason)
        if suggested_department_id is not None:
            await _department(self.session, suggested_department_id)
        # The parts first: the event below no longer reaches the departments whose part ended.
        _, ended = await self._end_parts(case, keep=None, helpers=True)
        returning = case.department_id
        details: dict[str, object] = {"from_department_id": returning}
        if suggested_department_id:
            details["suggested_department_id"] = suggested_department_id
        if ended:
            details["ended_co_handlers"] = ended
        details |= _left(returning, *ended)
        if case.waiting_since is not None:  # the operators cannot resume a wait: it ends here, the clock runs on
            details["waited"] = waited(case, self.now, via="return")
        await self._move(
            case,
            Action.RETURN,
            reason=reason,
            changes={
                "department_id": None,
                # What the operators' queue shows and filters by for a case without a department: the suggestion,
                # not the proposal that sent it to the department returning it.
                "proposed_department_id": suggested_department_id,
                "claimed_by": None,
                "claim_expires_at": None,
                **end_wait(case, self.policy, self.now),
            },
            details=details,
        )
        # The department's own return counts against it; staff pulling back a case they sent wrong does not.
        kind = TransferKind.RETURN if self.user.role == Role.HANDLER else TransferKind.RECALL
        self._record_transfer(case, kind, returning, None, reason=reason, suggested=suggested_department_id)

    async def _lead(self, case: Case, department_id: str, *, new_round: bool = False) -> list[str]:
        """Make `department_id` the case's one lead part, which always mirrors `Case.department_id`: a department
        the case left (by transfer, or a new dispatch after reopening) keeps no lead part and so no access.

        `new_round` (a dispatch: the first one, or one after reopening) also ends the co-handlers' parts: they were
        done for the answer the citizen already had (a case does not close with a part open), and a helper kept on
        would read the case, its new messages and its events for ever. The lead names its helpers again if it
        needs them. A transfer keeps them: the same round goes on, with parts still to do. What each department
        did stays in the audit trail and the events; the statistics count from cases and transfers, not parts.
        Returns the departments whose part ended."""
        parts, ended = await self._end_parts(case, keep=department_id, helpers=new_round)
        existing = next((p for p in parts if p.department_id == department_id), None)
        if existing is not None:  # led it before the reopening, or co-handled it until now
            existing.role, existing.part, existing.status = "lead", "", "open"
        else:
            self.session.add(
                CaseDepartment(
                    case_id=case.id,
                    department_id=department_id,
                    role="lead",
                    part="",
                    status="open",
                    created_at=self.now,
                )
            )
        # Gone before anything looks parts up again: a helper named anew, the event's audience.
        await self.session.flush()
        return ended

    async def _end_parts(
        self, case: Case, *, keep: str | None, helpers: bool
    ) -> tuple[list[CaseDepartment], list[str]]:
        """Delete the case's lead part, and its helpers' parts too when `helpers`, except `keep`'s. Returns the
        parts as they were and the helpers whose part ended; flushed, so the event that follows misses them."""
        parts = await access.parts_of(self.session, case.id)
        ended = []
        for part in parts:
            if part.department_id != keep and (part.role == "lead" or helpers):
                await self.session.delete(part)
                if part.role == "helper":
                    ended.append(part.department_id)
        await self.session.flush()
        return parts, sorted(ended)

    async def escalate(self, case: Case, *, reason: str) -> None:
        self._check(case, Action.ESCALATE, reason)
        if case.escalated:
            raise Conflict("the case is already escalated")
        await self._move(case, Action.ESCALATE, reason=reason, changes={"escalated": True, "escalated_at": self.now})

    async def close(self, case: Case, *, reason: str | None) -> None:
        self._check(case, Action.CLOSE)
        open_parts = (
            await self.session.scalars(
                select(CaseDepartment.department_id).where(
                    CaseDepartment.case_id == case.id, CaseDepartment.role == "helper", CaseDepartment.status == "open"
                )
            )
        ).all()
        if open_parts:
            raise Conflict(f"co-handling departments have not finished their part: {', '.join(open_parts)}")
        answer = await self.session.scalar(
            select(Reply)
            .where(Reply.case_id == case.id, Reply.automatic.is_(False), Reply.interim.is_(False))
            .order_by(Reply.created_at.desc())
            .limit(1)
        )
        # Closing tells the citizen the case is done and asks them to rate the answer: only once it reached them.
        # Otherwise the staff say how the citizen was answered, and no rating request goes.
        unconfirmed = answer is not None and answer.status != ReplyStatus.DELIVERED
        if answer is not None and unconfirmed and not reason:
            if answer.status == ReplyStatus.FAILED:
                raise Conflict(
                    f"the answer did not reach the citizen ({answer.reason or answer.platform_code or 'failed'}): "
                    "reply again, or close with a reason saying how they were answered"
                )
            ago = max(0, round((self.now - answer.created_at).total_seconds()))
            raise Conflict(
                f"the answer is still on its way to the citizen (queued {ago} s ago): close once it is delivered, "
                "or with a reason saying how they were answered"
            )
        rating = self.notices.rating_text(case.number) if self.notices and not unconfirmed else None
        await self._move(
            case,
            Action.CLOSE,
            reason=reason,
            changes={
                "closed_at": self.now,
                "claimed_by": None,
                "claim_expires_at": None,
                "answer_failed_at": None,  # answered another way (the reason says how): nothing to answer again
                "rating_requested_at": self.now if rating else None,
            },
        )
        if rating:
            await self._queue_reply(case, rating, automatic=True)

    async def reopen(self, case: Case, *, reason: str) -> None:
        await self._move(
            case,
            Action.REOPEN,
            reason=reason,
            changes={
                "closed_at": None,
                "reopen_count": case.reopen_count + 1,
                "reopened_department_id": case.department_id or "",  # whose answer it was, for the statistics
                # The first response stays as it was (SlaCalculator.reopened): the statistics count the first
                # answer the citizen got, and a new resolution period starts now.
                "replied_at": None,
                "resolution_due_at": self.policy.resolution_due(
                    self.now, category_id=case.category_id, request_type=case.request_type
                ),
                "promised_at": None,
                "waiting_since": None,
                "answer_failed_at": None,
            },
        )

    async def discard(self, case: Case, *, reason: str) -> None:
        check_claim(case, self.user, self.now)
        await self._move(case, Action.DISCARD, reason=reason, changes={"closed_at": self.now})

    async def add_co_handler(self, case: Case, *, department_id: str, part: str) -> None:
        self._check(case, Action.ADD_CO_HANDLER)
        await _department(self.session, department_id)
        existing = await self.session.get(CaseDepartment, (case.id, department_id))
        if department_id == case.department_id or existing is not None:
            raise Conflict(f"department {department_id!r} already works on this case")
        # The part first: the event announcing it then reaches the new department's live queue too.
        self.session.add(
            CaseDepartment(
                case_id=case.id,
                department_id=department_id,
                role="helper",
                part=part,
                status="open",
                created_at=self.now,
            )
        )
        await self._move(case, Action.ADD_CO_HANDLER, details={"department_id": department_id, "part": part})

    async def remove_co_handler(self, case: Case, *, department_id: str, reason: str) -> None:
        """The lead no longer needs a helper's open part (the case would otherwise not close). The part goes, and
        with it the department's access; a done part stays, as the record of what that department did."""
        self._check(case, Action.REMOVE_CO_HANDLER, reason)
        part = await self.session.get(CaseDepartment, (case.id, department_id))
        if part is None or part.role != "helper":
            raise Invalid(f"department {department_id!r} is not co-handling this case")
        if part.status == "done":
            raise Conflict("that part is already done: it stays on the case as the record of what was done")
        # The part first, as when a dispatch ends parts: the announcement no longer reaches that department.
        await self.session.delete(part)
        await self.session.flush()
        await self._move(
            case,
            Action.REMOVE_CO_HANDLER,
            reason=reason,
            details={"department_id": department_id, "part": part.part, **_left(department_id)},
        )

    async def complete_part(self, case: Case, *, department_id: str, note: str | None) -> None:
        self._check(case, Action.COMPLETE_PART)
        if self.user.role == Role.HANDLER and self.user.department_id != department_id:
            raise Conflict("a handler completes only their own department's part")
        part = await self.session.get(CaseDepartment, (case.id, department_id))
        if part is None or part.role != "helper":
            raise Invalid(f"department {department_id!r} is not co-handling this case")
        if part.status == "done":
            raise Conflict("that part is already done")
        # Done first: the department's access ends with its part, so the event reaches it as the case leaving.
        part.status, part.completed_at, part.note = "done", self.now, note
        details = {"department_id": department_id, "note": note, **_left(department_id)}
        await self._move(case, Action.COMPLETE_PART, reason=note, details=details)

    # Claims are not moves between states, but they decide who works a case: each claim (a renewal too) and each
    # release is one audit entry and one event, naming whose claim it ended when it was someone else's.
    async def claim(self, case: Case, *, lease: timedelta) -> None:
        check_claim(case, self.user, self.now)
        if not access.is_lead_handler(self.user, case):
            # A claim says who works the case; a helper's claim would keep operators off a case it does not own.
            raise Conflict("only the lead department's handlers claim a case; a co-handler completes its part")
        if case.status == CaseStatus.CLOSED:
            raise Conflict("a closed case cannot be claimed")
        if self.user.role == Role.HANDLER and not handler_may_act(case.status):
            # Claimed, it would keep the operators from dispatching it again (a reopened case).
            raise Conflict(f"a department claims a case dispatched to it; this one is {case.status}")
        expires = self.now + lease
        await self._claim_change(
            case, "claimed", claimed_by=self.user.username, expires=expires, details={"expires_at": expires.isoformat()}
        )

    async def release(self, case: Case) -> None:
        # Supervisors and administrators free a claim someone left behind; nobody else takes one from a colleague.
        if case.claimed_by not in (None, self.user.username) and self.user.role in (Role.OPERATOR, Role.HANDLER):
            raise Conflict(f"case is claimed by {case.claimed_by}")
        if case.claimed_by is None and case.claim_expires_at is None:
            return  # nothing held, nothing changed, nothing to record
        await self._claim_change(case, "released", claimed_by=None, expires=None, details={})

    async def _claim_change(
        self, case: Case, event: str, *, claimed_by: str | None, expires: datetime | None, details: dict[str, Any]
    ) -> None:
        # The snapshots leave claims out (they describe the case, not who has it open): the holder goes in the
        # event's details, and in the audit entry's reason when the claim was someone else's.
        previous = case.claimed_by
        taken = previous is not None and previous != self.user.username
        await record(
            self.session,
            case,
            event,
            actor=self.user.username,
            now=self.now,
            reason=f"was claimed by {previous}" if taken else None,
            changes={"claimed_by": claimed_by, "claim_expires_at": expires},
            details={**details, "previous_claimed_by": previous},
            policy=self.policy,
        )
