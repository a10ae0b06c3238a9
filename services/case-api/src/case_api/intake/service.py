"""Turn a batch of routed messages into contacts, cases and messages in one transaction.

Batching matters: a backlog must drain at ≥ 1,000 messages/s, so the work is a handful of set-based
statements per batch, not round trips per message. Idempotent: a message whose dedupe key is already stored
is skipped, so replays and platform retries never create anything twice.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select, union_all, update
from sqlalchemy.ext.asyncio import AsyncSession

from case_api.audit.models import AuditEntry
from case_api.cases.access import co_handlers
from case_api.cases.deadlines import DeadlinePolicy, end_wait, waited
from case_api.cases.lifecycle import Action, record, snapshot
from case_api.cases.models import Case, CaseDepartment, CaseStatus, Message
from case_api.cases.numbers import reserve_numbers
from case_api.catalog.models import Category, Department
from case_api.citizen.commands import handle_commands
from case_api.citizen.notices import Notices
from case_api.contacts.models import Contact
from case_api.outbox import service as outbox
from case_api.replies.models import Reply
from case_api.replies.service import build_reply
from shared.contracts.v1 import CaseChange, DecidedBy, RoutedMessage, RoutingDecision, utcnow

ACTOR = "system:intake"

Identity = tuple[str, str, str]  # channel, account_id, sender_id


@dataclass
class IntakeResult:
    stored: int = 0
    duplicates: int = 0
    cases_opened: int = 0
    auto_dispatched: int = 0
    events: int = 0


@dataclass(frozen=True)
class AutoDispatch:
    """Dispatch a new case to the proposed department without an operator when the learned model is at least
    this sure. The confidence is calibrated: choose it from the precision `inbox-router evaluate` measured on the
    city's own messages (e.g. its 98 % threshold). Keyword rules never dispatch alone: their confidence is a
    heuristic, not a measured precision."""

    min_confidence: float


async def _dispatchable(session: AsyncSession, fresh: list[RoutedMessage], auto: AutoDispatch | None) -> dict[str, str]:
    """category → department for the categories a new case may be dispatched to on its own in this batch."""
    if auto is None or not any(_sure(r.decision, auto) for r in fresh):
        return {}
    rows = await session.execute(
        select(Category.id, Category.department_id)
        .join(Department, Department.id == Category.department_id)
        .where(Category.active, Department.active)
    )
    return {category: department for category, department in rows}


def _sure(decision: RoutingDecision, auto: AutoDispatch) -> bool:
    return (
        decision.decided_by is DecidedBy.MODEL
        and decision.category is not None
        and decision.confidence is not None
        and decision.confidence >= auto.min_confidence
    )


def _identity(routed: RoutedMessage) -> Identity:
    m = routed.message
    return (m.channel.value, m.account_id, m.sender_id)


async def _contacts(
    session: AsyncSession, batch: list[RoutedMessage], now: datetime
) -> tuple[dict[Identity, uuid.UUID], set[uuid.UUID]]:
    """Every sender's contact id, creating those not seen before; and which contacts were created just now."""
    wanted: dict[Identity, str | None] = {}
    for routed in batch:
        wanted.setdefault(_identity(routed), routed.message.sender_name)
    # One branch per account (a batch spans a few): `sender_id IN (…)` under a fixed channel and account is one
    # range of the identity index, where a list of (channel, account, sender) tuples made PostgreSQL either plan
    # hundreds of index probes or scan every contact (benchmarks/NOTES.md). UNION ALL keeps that plan per branch
    # in one round trip.
    by_account: dict[tuple[str, str], list[str]] = defaultdict(list)
    for channel, account_id, sender_id in wanted:
        by_account[(channel, account_id)].append(sender_id)
    lookups = [
        select(Contact.channel, Contact.account_id, Contact.sender_id, Contact.id).where(
            Contact.channel == channel, Contact.account_id == account_id, Contact.sender_id.in_(senders)
        )
        for (channel, account_id), senders in by_account.items()
    ]
    rows = await session.execute(lookups[0] if len(lookups) == 1 else union_all(*lookups))
    ids: dict[Identity, uuid.UUID] = {(c, a, s): contact_id for c, a, s, contact_id in rows}
    known = list(ids.values())
    new = []
    for identity, name in wanted.items():
        if identity not in ids:
            contact_id = uuid.uuid4()
            new.append(
                {
                    "id": contact_id,
                    "channel": identity[0],
                    "account_id": identity[1],
                    "sender_id": identity[2],
                    "display_name": name,
                    "created_at": now,
                    "last_seen_at": now,
                    "person_id": contact_id,
                }
            )
    if new:
        await session.execute(insert(Contact.__table__), new)
        ids.update({(str(c["channel"]), str(c["account_id"]), str(c["sender_id"])): c["id"] for c in new})  # type: ignore[misc]
    if known:  # new contacts were inserted as seen now
        # No ORM objects to keep in step: skipping the session sync saves evaluating the WHERE on every loaded object.
        await session.execute(
            update(Contact)
            .where(Contact.id.in_(known))
            .values(last_seen_at=now)
            .execution_options(synchronize_session=False)
        )
    return ids, {cast(uuid.UUID, c["id"]) for c in new}


# What a new case's row leaves out; snapshot() reads them.
_UNSET_ON_NEW = dict.fromkeys(
    (
        "category_id",
        "department_id",
        "request_type",
        "promised_at",
        "waiting_since",
        "closed_at",
        "answer_failed_at",
        "breached_at",
        "rating",
    )
)


def _draft(row: dict[str, Any]) -> Case:
    """The new case as snapshot() reads it. A plain namespace: building an ORM instance per case only to read it
    back cost as much as the rest of the case's event (benchmarks/NOTES.md)."""
    return cast(Case, SimpleNamespace(**{**_UNSET_ON_NEW, **row}))


def _audit_row(case: Case, action: str, from_status: str | None, before: Case | None, now: datetime) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(),
        "case_id": case.id,
        "actor": ACTOR,
        "action": action,
        "at": now,
        "from_status": from_status,
        "to_status": case.status,
        "reason": None,
        "before": snapshot(before) if before is not None else None,
        "after": snapshot(case),
    }


def _event(
    case: Case, action: str, from_status: str | None, details: dict[str, Any], helpers: list[str] | None = None
) -> dict[str, Any]:
    change = CaseChange(action=action, from_status=from_status, to_status=case.status, actor=ACTOR, details=details)
    return outbox.case_event_row(
        case.id, change, snapshot(case), department_id=case.department_id, co_handlers=helpers or ()
    )


async def _acknowledge(
    session: AsyncSession,
    new_cases: list[dict[str, Any]],
    notices: Notices,
    sender_of: dict[uuid.UUID, str],
    now: datetime,
) -> list[dict[str, Any]]:
    """Tell each citizen their tracking number through their own channel (unless the account opts out); returns
    the outbox rows of the reply commands, for the caller's one outbox insert."""
    replies: list[dict[str, Any]] = []
    commands = []
    for row in new_cases:
        text = notices.ack_text(str(row["channel"]), str(row["account_id"]), str(row["number"]))
        if text is None:
            continue
        reply, command = build_reply(
            case_id=row["id"],
            case_number=str(row["number"]),
            channel=str(row["channel"]),
            account_id=str(row["account_id"]),
            recipient_id=sender_of[row["contact_id"]],
            department_id=None,
            text=text,
            created_by="system",
            now=now,
            automatic=True,
            ttl=notices.reply_ttl,
        )
        replies.append({column.key: getattr(reply, column.key) for column in Reply.__table__.columns})
        commands.append(command)
    if replies:  # one multi-row insert, not a unit-of-work flush of one object per case
        await session.execute(insert(Reply.__table__), replies)
    return commands


async def intake_batch(
    session: AsyncSession,
    batch: list[RoutedMessage],
    *,
    tz: ZoneInfo,
    policy: DeadlinePolicy,
    notices: Notices | None = None,
    auto_dispatch: AutoDispatch | None = None,
) -> IntakeResult:
    """`notices` switches on what the citizen is told automatically; without it nothing is sent. With
    `auto_dispatch`, a new case the model is sure about goes straight to its department."""
    result = IntakeResult()
    now = utcnow()
    keys = [r.message.dedupe_key for r in batch]
    stored = set((await session.scalars(select(Message.dedupe_key).where(Message.dedupe_key.in_(keys)))).all())
    fresh: list[RoutedMessage] = []
    for routed in batch:
        if routed.message.dedupe_key in stored:
            result.duplicates += 1
            continue
        stored.add(routed.message.dedupe_key)
        fresh.append(routed)
    if not fresh:
        return result

    contact_ids, new_contacts = await _contacts(session, fresh, now)
    # Follow-ups attach to the contact's open case (one open case per contact); a contact created just now has none.
    known = set(contact_ids.values()) - new_contacts
    open_case: dict[uuid.UUID, uuid.UUID] = {}
    if known:
        open_rows = await session.execute(
            select(Case.contact_id, Case.id)
            .where(Case.contact_id.in_(known), Case.status != CaseStatus.CLOSED)
            .order_by(Case.created_at)
        )
        open_case = {contact: case for contact, case in open_rows}
    handled = (
        await handle_commands(
            session,
            fresh,
            contact_of=lambda r: contact_ids[_identity(r)],
            open_case=open_case,
            notices=notices,
            policy=policy,
            now=now,
        )
        if notices
        else {}
    )
    sender_of = {contact: identity[2] for identity, contact in contact_ids.items()}
    dispatchable = await _dispatchable(session, fresh, auto_dispatch)
    auto_dispatched: set[uuid.UUID] = set()

    new_cases: list[dict[str, object]] = []
    # Weibo allows one reply to an @mention in 48 hours (weibo.md): an acknowledgement would use up the answer's.
    one_reply: set[uuid.UUID] = set()
    touched: dict[uuid.UUID, tuple[int, datetime]] = {}  # existing case → (added messages, last sent_at)
    messages: list[dict[str, object]] = []
    for routed in fresh:
        m, decision = routed.message, routed.decision
        contact_id = contact_ids[_identity(routed)]
        case_id: uuid.UUID | None = None
        tag: str | None = None
        if m.dedupe_key in handled:
            case_id, tag = handled[m.dedupe_key]
        elif m.is_citizen_message:
            case_id = open_case.get(contact_id)
            if case_id is None:
                case_id = uuid.uuid4()
                open_case[contact_id] = case_id
                if m.event is not None and m.event.name.startswith("mention:"):
                    one_reply.add(case_id)
                # The case exists from when the centre received the message, not from when a backlog let intake
                # reach it: its deadlines, response times and reporting day count from there.
                received = min(m.received_at, now)
                first_due = policy.first_response_due(
                    received, category_id=decision.category, request_type=decision.request_type
                )
                new_cases.append(
                    {
                        "id": case_id,
                        "status": CaseStatus.NEW.value,
                        "channel": m.channel.value,
                        "account_id": m.account_id,
                        "contact_id": contact_id,
                        "subject": m.text[:200],
                        # Set only when the case is dispatched on its own (below); every row has the same keys.
                        "category_id": None,
                        "department_id": None,
                        "request_type": None,
                        "proposed_category_id": decision.category,
                        "proposed_department_id": decision.department,
                        "proposed_request_type": decision.request_type,
                        "proposal_confidence": decision.confidence,
                        "proposal": decision.model_dump(mode="json"),
                        "message_count": 0,
                        "created_at": received,
                        "updated_at": now,
                        "last_message_at": m.sent_at,
                        "first_response_due_at": first_due,
                        "due_at": first_due,
                        "warn_at": policy.warn_at(
                            first_due, now=now, category_id=decision.category, request_type=decision.request_type
                        ),
                        "sla_state": "ok",
                        "resolution_due_at": policy.resolution_due(
                            received, category_id=decision.category, request_type=decision.request_type
                        ),
                        "escalated": False,
                        "reopen_count": 0,
                        "transfer_count": 0,
                        "version": 1,
                    }
                )
                if auto_dispatch and _sure(decision, auto_dispatch) and decision.category in dispatchable:
                    # The catalog's department for the category: the proposal's may name one that is gone.
                    new_cases[-1] |= {
                        "status": CaseStatus.DISPATCHED.value,
                        "category_id": decision.category,
                        "department_id": dispatchable[decision.category],
                        "request_type": decision.request_type,
                    }
                    auto_dispatched.add(case_id)
            count, last = touched.get(case_id, (0, m.sent_at))
            touched[case_id] = (count + 1, max(last, m.sent_at))
        else:
            result.events += 1
        messages.append(
            {
                "id": uuid.uuid4(),
                "dedupe_key": m.dedupe_key,
                "case_id": case_id,
                "contact_id": contact_id,
                "direction": "in",
                "channel": m.channel.value,
                "account_id": m.account_id,
                "platform_message_id": m.platform_message_id,
                "kind": m.kind.value,
                "text": m.text,
                "attachments": [a.model_dump(mode="json", exclude_none=True) for a in m.attachments],
                "location": m.location.model_dump(mode="json", exclude_none=True) if m.location else None,
                "event": {"name": tag}
                if tag
                else m.event.model_dump(mode="json", exclude_none=True)
                if m.event
                else None,
                "routing": decision.model_dump(mode="json"),
                "raw": m.raw,
                "sent_at": m.sent_at,
                "received_at": m.received_at,
            }
        )

    events: list[dict[str, Any]] = []
    commands: list[dict[str, Any]] = []
    audit: list[dict[str, Any]] = []
    if new_cases:
        # Numbered by the day the centre received the message, as the case is dated: after a backlog crossing
        # midnight, yesterday's messages keep yesterday's numbers. One reservation per day in the batch.
        by_day: dict[str, list[dict[str, Any]]] = {}
        for row in new_cases:
            by_day.setdefault(row["created_at"].astimezone(tz).date().isoformat(), []).append(row)  # type: ignore[attr-defined]
        for rows in by_day.values():
            numbers = await reserve_numbers(session, len(rows), now=rows[0]["created_at"], tz=tz)
            for row, number in zip(rows, numbers, strict=True):
                row["number"] = number
        for row in new_cases:
            count, last = touched.pop(row["id"])  # type: ignore[call-overload]
            row["message_count"], row["last_message_at"] = count, last
            case = _draft(row)
            auto = case.id in auto_dispatched
            # An automatically dispatched case is born new and dispatched in the same breath: two events, as if
            # an operator had confirmed it.
            created = _draft({**row, **_UNSET_ON_NEW, "status": CaseStatus.NEW.value}) if auto else case
            events.append(_event(created, "created", None, {"messages": count}))
            audit.append(_audit_row(created, "created", None, None, now))
            if auto:
                details = {"department_id": case.department_id, "via": "auto", "confidence": row["proposal_confidence"]}
                events.append(_event(case, "dispatched", CaseStatus.NEW.value, details))
                # On the trail as an operator's dispatch is (the action), though the event names what happened.
                audit.append(_audit_row(case, Action.DISPATCH.value, CaseStatus.NEW.value, created, now))
        await session.execute(insert(Case.__table__), new_cases)
        if auto_dispatched:
            lead = [
                {"case_id": r["id"], "department_id": r["department_id"], "role": "lead", "part": "", "status": "open"}
                | {"created_at": now, "completed_at": None, "note": None}
                for r in new_cases
                if r["id"] in auto_dispatched
            ]
            await session.execute(insert(CaseDepartment.__table__), lead)
        if notices:
            acknowledged = [row for row in new_cases if row["id"] not in one_reply]
            commands = await _acknowledge(session, acknowledged, notices, sender_of, now)
    answered: list[Case] = []  # cases that were waiting on the citizen, who has now written
    if touched:
        # Follow-ups: bump counters on the open cases they joined, and tell other systems. Locked (as every case
        # action locks its case) and read as committed now: an event naming the department a transfer just took
        # the case from would show that department the citizen's new message.
        locked = select(Case).where(Case.id.in_(list(touched))).order_by(Case.id).with_for_update()
        joined = (await session.scalars(locked)).all()
        helpers = await co_handlers(session, list(touched))
        for case in joined:
            count, last = touched[case.id]
            case.message_count += count
            case.last_message_at = max(case.last_message_at, last)
            case.updated_at = now
            events.append(_event(case, "message-added", case.status, {"messages": count}, helpers.get(case.id)))
            if case.waiting_since is not None:
                answered.append(case)
    await session.execute(insert(Message.__table__), messages)
    if audit:
        await session.execute(insert(AuditEntry.__table__), audit)
    await outbox.add(session, events + commands)  # one insert: each case's event, then its acknowledgement
    for case in answered:  # after "message-added": the clock runs again because of that message
        details = waited(case, now, via="citizen")
        changes = end_wait(case, policy, now)
        await record(
            session,
            case,
            "resumed",
            actor=ACTOR,
            now=now,
            changes=changes,
            details=details,
            policy=policy,
            helpers=helpers.get(case.id, ()),
        )
    result.stored, result.cases_opened, result.auto_dispatched = len(messages), len(new_cases), len(auto_dispatched)
    return result
