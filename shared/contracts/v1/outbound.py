"""`outbound.replies.v1` (send this to that citizen) and `outbound.receipts.v1` (what happened)."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar
from uuid import UUID

from .envelope import Contract, Envelope, UtcDatetime
from .inbound import Channel


class ReplyKind(StrEnum):
    TEXT = "text"
    IMAGE = "image"


class ReplyCommand(Contract):
    reply_id: UUID  # delivery is at most once per reply id
    case_id: UUID
    case_number: str
    channel: Channel
    account_id: str
    recipient_id: str
    kind: ReplyKind = ReplyKind.TEXT
    text: str = ""
    media_id: str | None = None
    in_reply_to: str | None = None  # platform message id, where the platform threads replies

    @property
    def contact_key(self) -> str:
        return f"{self.channel}:{self.account_id}:{self.recipient_id}"


class DeliveryStatus(StrEnum):
    DELIVERED = "delivered"
    FAILED = "failed"


class DeliveryReceipt(Contract):
    reply_id: UUID
    case_id: UUID
    channel: Channel
    account_id: str
    status: DeliveryStatus
    attempts: int = 1
    platform_code: str | None = None
    reason: str | None = None
    finished_at: UtcDatetime


class ReplyCommandRecord(Envelope[ReplyCommand]):
    RECORD_TYPE: ClassVar[str] = "outbound.reply.requested"


class DeliveryReceiptRecord(Envelope[DeliveryReceipt]):
    RECORD_TYPE: ClassVar[str] = "outbound.reply.receipt"
