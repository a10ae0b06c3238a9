"""`inbox.messages.v1`: one citizen message (or platform event), normalised from any channel."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from pydantic import Field, field_validator

from .envelope import Contract, Envelope, UtcDatetime, utcnow


class Channel(StrEnum):
    WECHAT = "wechat"
    WEIBO = "weibo"
    ALIPAY = "alipay"


class MessageKind(StrEnum):
    TEXT = "text"
    IMAGE = "image"
    VOICE = "voice"
    VIDEO = "video"
    LOCATION = "location"
    LINK = "link"
    EVENT = "event"  # follow, menu click, scan…: recorded, never opens a case


class Attachment(Contract):
    kind: str  # image | voice | video | shortvideo | link | file
    media_id: str | None = None
    url: str | None = None
    thumb_media_id: str | None = None
    format: str | None = None
    title: str | None = None


class Location(Contract):
    lat: float = Field(ge=-90, le=90)
    lng: float = Field(ge=-180, le=180)
    label: str | None = None
    scale: float | None = None


class PlatformEvent(Contract):
    name: str  # subscribe, unsubscribe, click, view, scan, location, … (lower case)
    key: str | None = None


def _no_nul(value: str) -> str:
    # A NUL cannot be stored in PostgreSQL text: a platform that sends one gets U+FFFD in its place.
    return value.replace("\x00", "\ufffd")


class InboundMessage(Contract):
    channel: Channel
    account_id: str
    platform_message_id: str  # the platform's id, or the dedupe key the platform implies
    sender_id: str
    sender_name: str | None = None
    recipient_id: str | None = None
    sent_at: UtcDatetime
    received_at: UtcDatetime = Field(default_factory=utcnow)
    kind: MessageKind
    text: str = ""
    attachments: list[Attachment] = Field(default_factory=list)
    location: Location | None = None
    event: PlatformEvent | None = None
    raw: str = ""  # the payload as the platform sent it (decrypted), kept for audit
    raw_format: str = ""  # xml | json | form

    @field_validator("platform_message_id", "sender_id", "sender_name", "recipient_id", "text", "raw", mode="after")
    @classmethod
    def _without_nul(cls, value: str | None) -> str | None:
        return _no_nul(value) if value else value

    @property
    def contact_key(self) -> str:
        """Kafka key: keeps one citizen's messages in order on one partition."""
        return f"{self.channel}:{self.account_id}:{self.sender_id}"

    @property
    def dedupe_key(self) -> str:
        return f"{self.channel}:{self.account_id}:{self.platform_message_id}"

    @property
    def is_citizen_message(self) -> bool:
        return self.kind is not MessageKind.EVENT


class InboundMessageRecord(Envelope[InboundMessage]):
    RECORD_TYPE: ClassVar[str] = "inbox.message.received"
