from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class Proposal(BaseModel):
    """What the router proposed, for the operator to confirm or correct."""

    category: str | None
    category_name: str | None = None
    department: str | None
    department_name: str | None = None
    request_type: str | None
    confidence: float | None
    decided_by: str | None = None
    explanation: str | None = None
    runner_up: dict[str, Any] | None = None


class ContactOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    channel: str
    account_id: str
    sender_id: str
    display_name: str | None


class CaseSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    number: str
    status: str
    channel: str
    account_id: str
    contact_id: uuid.UUID
    subject: str
    category_id: str | None
    department_id: str | None
    request_type: str | None
    proposal: Proposal | None
    message_count: int
    created_at: datetime
    updated_at: datetime
    last_message_at: datetime
    closed_at: datetime | None
    due_at: datetime | None
    first_response_due_at: datetime | None
    resolution_due_at: datetime | None
    promised_at: datetime | None
    waiting_since: datetime | None  # waiting on the citizen: the resolution clock stands still
    first_responded_at: datetime | None
    answer_failed_at: datetime | None  # the latest answer did not reach the citizen: answer again
    escalated: bool
    claimed_by: str | None
    claim_expires_at: datetime | None
    reopen_count: int
    transfer_count: int
    version: int


class MessageOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    direction: str
    kind: str
    text: str
    attachments: list[dict[str, Any]]
    location: dict[str, Any] | None
    platform_message_id: str
    sent_at: datetime
    received_at: datetime
    routing: dict[str, Any] | None


class DepartmentPart(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    department_id: str
    role: str
    part: str
    status: str
    completed_at: datetime | None
    note: str | None


class ReplyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    text: str
    interim: bool
    promised_at: datetime | None
    status: str
    attempts: int
    platform_code: str | None
    reason: str | None
    created_by: str
    created_at: datetime
    finished_at: datetime | None


class TransferOut(BaseModel):
    """The case leaving a department other than by closing: passed to another, returned by the department to the
    operators' queue, or pulled back by the operators (`recall`)."""

    model_config = ConfigDict(from_attributes=True)

    kind: Literal["transfer", "return", "recall"]
    from_department_id: str | None
    to_department_id: str | None  # None: back in the operators' queue
    suggested_department_id: str | None  # a return's idea of who owns the case
    reason: str
    actor: str
    at: datetime


class CaseDetail(CaseSummary):
    contact: ContactOut
    messages: list[MessageOut]
    departments: list[DepartmentPart]
    replies: list[ReplyOut]
    transfers: list[TransferOut]  # in order; a case returned by a department shows why and who it suggests
    allowed_actions: list[str]  # for the caller, in the case's current state


# Action bodies: every action is POST /api/v1/cases/{id}/<action> with one of these.
class Empty(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ClassifyIn(Empty):
    category_id: str
    request_type: str | None = None


class CoHandlerIn(Empty):
    department_id: str
    part: str = Field(default="", max_length=1000)


class DispatchIn(Empty):
    department_id: str | None = None  # default: the category's department
    co_handlers: list[CoHandlerIn] = Field(default_factory=list)


class ReplyIn(Empty):
    text: str = Field(min_length=1, max_length=2000)


class InterimReplyIn(ReplyIn):
    promised_at: AwareDatetime


class TransferIn(Empty):
    department_id: str
    reason: str = Field(min_length=1, max_length=1000)


class ReturnIn(Empty):
    reason: str = Field(min_length=1, max_length=1000)
    department_id: str | None = None  # who the department thinks owns it, for the operator to consider


class ReasonIn(Empty):
    reason: str = Field(min_length=1, max_length=1000)


class OptionalReasonIn(Empty):
    reason: str | None = Field(default=None, max_length=1000)


class CompletePartIn(Empty):
    note: str | None = Field(default=None, max_length=1000)


class AuditOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    actor: str
    action: str
    at: datetime
    from_status: str | None
    to_status: str | None
    reason: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None


class IllegalMoveOut(BaseModel):
    detail: str
    current_status: str
    allowed_actions: list[str]


class CasePage(BaseModel):
    items: list[CaseSummary]
    total: int
    next_cursor: str | None = None
