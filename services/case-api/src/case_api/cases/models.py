from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from case_api.db import Base, JsonType, UtcDateTime


class CaseStatus(StrEnum):
    NEW = "new"
    ACCEPTED = "accepted"
    CLASSIFIED = "classified"
    DISPATCHED = "dispatched"
    REPLIED = "replied"
    CLOSED = "closed"


class Case(Base):
    __tablename__ = "cases"
    __table_args__ = (
        Index("ix_cases_contact_status", "contact_id", "status"),  # threading: the contact's open case
        Index("ix_cases_status_created", "status", "created_at", "id"),  # queue and list, keyset order
        Index("ix_cases_created", "created_at", "id"),
        Index("ix_cases_queue", "status", "due_at", "id"),  # counting a queue by status
        # The queue in deadline order: open cases only (a few percent of all), so the first page is read straight
        # off the index instead of sorting every open case (benchmarks/NOTES.md).
        Index(
            "ix_cases_open_due",
            "due_at",
            "id",
            postgresql_where=text("status <> 'closed'"),
            sqlite_where=text("status <> 'closed'"),
        ),
        Index("ix_cases_department_due", "department_id", "status", "due_at", "id"),  # handlers' queue
        Index("ix_cases_sweep", "sla_state", "warn_at"),  # the sweeper's two scans
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    number: Mapped[str] = mapped_column(String(32), unique=True)  # tracking number citizens quote
    status: Mapped[str] = mapped_column(String(16), default=CaseStatus.NEW)
    channel: Mapped[str] = mapped_column(String(16))
    account_id: Mapped[str] = mapped_column(String(64))
    contact_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contacts.id"))
    subject: Mapped[str] = mapped_column(String(200), default="")
    # Decided by people (confirm/classify/dispatch); empty until then.
    category_id: Mapped[str | None] = mapped_column(ForeignKey("categories.id"))
    department_id: Mapped[str | None] = mapped_column(ForeignKey("departments.id"))
    request_type: Mapped[str | None] = mapped_column(String(32))
    # The router's proposal for the first message, shown to the operator.
    proposed_category_id: Mapped[str | None] = mapped_column(String(64))
    proposed_department_id: Mapped[str | None] = mapped_column(String(64))
    proposed_request_type: Mapped[str | None] = mapped_column(String(32))
    proposal_confidence: Mapped[float | None] = mapped_column(Float)
    proposal: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    message_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_message_at: Mapped[datetime] = mapped_column(UtcDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Deadlines: `due_at` is the next one the case is held to, so the queue can sort on one indexed column.
    first_response_due_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    resolution_due_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    promised_at: Mapped[datetime | None] = mapped_column(UtcDateTime)  # set by an interim reply
    # Asked the citizen for missing details; the resolution clock stands still until they answer (sla.yaml).
    waiting_since: Mapped[datetime | None] = mapped_column(UtcDateTime)
    due_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    first_responded_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Who the first response is counted for: the department holding the case when it was given, or when it
    # became late; "" the operators (no department yet). Passing a case on does not pass its lateness on.
    first_response_department_id: Mapped[str | None] = mapped_column(String(64))
    replied_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # When the case's latest answer failed to reach the citizen (replies/status.py), until another answer is
    # written or this one turns out delivered: it brings a replied case back to whoever must answer again.
    answer_failed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Who wrote the latest answer: its department, or "" the operators. A failed answer goes back to them.
    answered_department_id: Mapped[str | None] = mapped_column(String(64))
    escalated: Mapped[bool] = mapped_column(Boolean, default=False)
    escalated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    reopen_count: Mapped[int] = mapped_column(Integer, default=0)
    transfer_count: Mapped[int] = mapped_column(Integer, default=0)
    # A short lease so two operators never work the same case; expires by itself.
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claim_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    version: Mapped[int] = mapped_column(Integer, default=1)  # bumped by every transition
    # Supervision: `warn_at` is when the current deadline becomes "due soon"; the sweeper moves `sla_state`
    # from ok to warning to breached and announces each step once.
    warn_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    sla_state: Mapped[str] = mapped_column(String(10), default="ok")
    breached_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # When the last closing asked the citizen to rate the answer (none: it did not, e.g. closed with a reason).
    rating_requested_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # The citizen's 1–5 rating after closure.
    rating: Mapped[int | None] = mapped_column(Integer)
    rated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # The departments whose answer was rated, and whose closing was undone by the last reopening ("" the operators):
    # a reopened case dispatched elsewhere takes neither its old rating nor its reopening along.
    rated_department_id: Mapped[str | None] = mapped_column(String(64))
    reopened_department_id: Mapped[str | None] = mapped_column(String(64))


class CaseDepartment(Base):
    """The lead department and any co-handling departments (首问负责制), each with its part and status."""

    __tablename__ = "case_departments"
    # A handler sees the cases their department co-handles: found by department, not by scanning every part.
    __table_args__ = (Index("ix_case_departments_department", "department_id", "role"),)

    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id"), primary_key=True)
    department_id: Mapped[str] = mapped_column(ForeignKey("departments.id"), primary_key=True)
    role: Mapped[str] = mapped_column(String(8))  # lead | helper
    part: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(8), default="open")  # open | done
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    note: Mapped[str | None] = mapped_column(Text)


class TransferKind(StrEnum):
    TRANSFER = "transfer"  # from one department to another, counted for both in the statistics
    RETURN = "return"  # the department sent it back to the operators' queue: counted as its return
    RECALL = "recall"  # the operators pulled it back from the department: counted against nobody


class CaseTransfer(Base):
    """A case leaving a department other than by closing: passed on, returned or pulled back (`kind`)."""

    __tablename__ = "case_transfers"
    __table_args__ = (Index("ix_case_transfers_at", "at"), Index("ix_case_transfers_case", "case_id", "at"))

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cases.id"))
    from_department_id: Mapped[str | None] = mapped_column(String(64))
    to_department_id: Mapped[str | None] = mapped_column(String(64))
    suggested_department_id: Mapped[str | None] = mapped_column(String(64))  # a return's idea of who owns it
    kind: Mapped[str] = mapped_column(String(16), server_default=TransferKind.TRANSFER.value)
    reason: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(80))
    at: Mapped[datetime] = mapped_column(UtcDateTime)


class Message(Base):
    """A message in or out. Platform events are kept too (case_id empty): recorded, never a case."""

    __tablename__ = "messages"
    __table_args__ = (Index("ix_messages_case_sent", "case_id", "sent_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    dedupe_key: Mapped[str] = mapped_column(String(255), unique=True)  # idempotency across retries/replays
    case_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("cases.id"))
    contact_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("contacts.id"))
    direction: Mapped[str] = mapped_column(String(8), default="in")
    channel: Mapped[str] = mapped_column(String(16))
    account_id: Mapped[str] = mapped_column(String(64))
    platform_message_id: Mapped[str] = mapped_column(String(160))
    kind: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text, default="")
    attachments: Mapped[list[dict[str, Any]]] = mapped_column(JsonType, default=list)
    location: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    event: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    routing: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    raw: Mapped[str] = mapped_column(Text, default="")
    sent_at: Mapped[datetime] = mapped_column(UtcDateTime)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)


class CaseCounter(Base):
    """Per-day sequence behind tracking numbers; one row update per intake batch, not per case."""

    __tablename__ = "case_counters"

    day: Mapped[str] = mapped_column(String(8), primary_key=True)
    last: Mapped[int] = mapped_column(Integer)
