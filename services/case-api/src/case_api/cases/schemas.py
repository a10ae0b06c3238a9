from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


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


class CaseDetail(CaseSummary):
    contact: ContactOut
    messages: list[MessageOut]


class CasePage(BaseModel):
    items: list[CaseSummary]
    total: int
    next_cursor: str | None = None
