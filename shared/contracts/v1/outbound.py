"""`outbound.replies.v1` (send this to that citizen) and `outbound.receipts.v1` (what happened)."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import ClassVar
from uuid import UUID

from .envelope import Contract, Envelope, UtcDatetime
from .inbound import Channel


class ReplyKind(StrEnum):
    TEXT = "text"
    IMAGE = "image"


# The code of a reply that did not reach the citizen within its time to live: refused unsent by the channel service
# once the command's `expires_at` passed, or reported by case-api when no receipt came in time. case-api decides the
# deadline (its INBOX_REPLY_TTL_S from the moment it queued the reply), so the two sides cannot disagree about it.
# Both word it with `expired_reason`.
REPLY_EXPIRED = "expired"


def expired_reason(ttl: timedelta, detail: str) -> str:
    """What the operator reads, e.g. "expired: not delivered within 15 minutes; <detail>"."""
    return f"expired: not delivered within {_span(ttl)}; {detail}"


def _span(duration: timedelta) -> str:
    """A duration in the largest whole unit that states it: "2 hours", "15 minutes", "90 s"."""
    seconds = round(duration.total_seconds())
    for unit, size in (("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} s"


# The longest text a platform takes in one reply, where that is less than case-api lets anyone write (weibo.md: text
# ≤ 300 Chinese characters). case-api refuses a longer reply when it is written: the platform would fail it for good.
MAX_REPLY_CHARS: dict[Channel, int] = {Channel.WEIBO: 300}


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
    # Not sent from then on. Commands from before it was added carry none: their channel service counts its own
    # INBOX_REPLY_TTL_S from the envelope's `occurred_at` instead.
    expires_at: UtcDatetime | None = None

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
