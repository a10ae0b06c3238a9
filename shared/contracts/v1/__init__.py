"""Contracts v1: every record on every topic. Changes inside v1 are additive only."""

from .case_events import CASE_EVENT_PREFIX, CaseChange, CaseEvent, CaseEventData
from .envelope import SCHEMA_VERSION, Contract, Envelope, UtcDatetime, utcnow
from .inbound import (
    Attachment,
    Channel,
    InboundMessage,
    InboundMessageRecord,
    Location,
    MessageKind,
    PlatformEvent,
)
from .outbound import (
    MAX_REPLY_CHARS,
    REPLY_EXPIRED,
    DeliveryReceipt,
    DeliveryReceiptRecord,
    DeliveryStatus,
    ReplyCommand,
    ReplyCommandRecord,
    ReplyKind,
    expired_reason,
)
from .routed import Candidate, DecidedBy, RoutedMessage, RoutedMessageRecord, RoutingDecision

__all__ = [
    "CASE_EVENT_PREFIX",
    "MAX_REPLY_CHARS",
    "REPLY_EXPIRED",
    "SCHEMA_VERSION",
    "Attachment",
    "Candidate",
    "CaseChange",
    "CaseEvent",
    "CaseEventData",
    "Channel",
    "Contract",
    "DecidedBy",
    "DeliveryReceipt",
    "DeliveryReceiptRecord",
    "DeliveryStatus",
    "Envelope",
    "InboundMessage",
    "InboundMessageRecord",
    "Location",
    "MessageKind",
    "PlatformEvent",
    "ReplyCommand",
    "ReplyCommandRecord",
    "ReplyKind",
    "RoutedMessage",
    "RoutedMessageRecord",
    "RoutingDecision",
    "UtcDatetime",
    "expired_reason",
    "utcnow",
]
