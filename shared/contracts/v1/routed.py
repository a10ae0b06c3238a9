"""`inbox.routed.v1`: an inbound message plus the router's decision about it."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from pydantic import Field

from .envelope import Contract, Envelope, UtcDatetime, utcnow
from .inbound import InboundMessage


class DecidedBy(StrEnum):
    RULE = "rule"
    MODEL = "model"
    NONE = "none"  # nothing matched: an operator classifies by hand
    SKIPPED = "skipped"  # not a citizen message (platform event)


class Candidate(Contract):
    category: str
    confidence: float = Field(ge=0, le=1)


class RoutingDecision(Contract):
    category: str | None = None
    category_name: str | None = None
    department: str | None = None
    department_name: str | None = None
    request_type: str | None = None
    confidence: float = Field(default=0.0, ge=0, le=1)
    runner_up: Candidate | None = None
    explanation: str = ""
    decided_by: DecidedBy = DecidedBy.NONE
    rule_id: str | None = None
    model_version: str | None = None
    taxonomy_version: str | None = None


class RoutedMessage(Contract):
    message: InboundMessage
    decision: RoutingDecision
    routed_at: UtcDatetime = Field(default_factory=utcnow)


class RoutedMessageRecord(Envelope[RoutedMessage]):
    RECORD_TYPE: ClassVar[str] = "inbox.message.routed"
