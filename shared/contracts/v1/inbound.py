"""`inbox.messages.v1`: one citizen message (or platform event), normalised from any channel."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, ClassVar

from pydantic import AfterValidator, Field

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
    # A citizen's message of a type we cannot show (a file, a mini-program card…): it opens or joins a case like
    # any other, its attachment names the type and `raw` keeps what it carried, so an operator sees it.
    OTHER = "other"


_SURROGATE = re.compile("[\ud800-\udfff]")


def _storable(value: str) -> str:
    """What a platform sent, with what no store or encoder accepts replaced by U+FFFD rather than refused.

    A NUL cannot be stored in PostgreSQL text. A lone UTF-16 surrogate (an emoji cut in half, sent as a JSON
    escape) cannot be encoded as UTF-8 at all, so the record could not even be produced.
    """
    value = value.replace("\x00", "\ufffd")
    if _SURROGATE.search(value):
        # Through UTF-16: a pair that arrived as two separate halves is joined, a lone half is replaced.
        value = value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return value


# Every string that comes from a platform.
PlatformStr = Annotated[str, AfterValidator(_storable)]


class Attachment(Contract):
    kind: PlatformStr  # image | voice | video | shortvideo | link | file
    media_id: PlatformStr | None = None
    url: PlatformStr | None = None
    thumb_media_id: PlatformStr | None = None
    format: PlatformStr | None = None
    title: PlatformStr | None = None


class Location(Contract):
    lat: float = Field(ge=-90, le=90)
    lng: float = Field(ge=-180, le=180)
    label: PlatformStr | None = None
    scale: float | None = None


class PlatformEvent(Contract):
    name: PlatformStr  # subscribe, unsubscribe, click, view, scan, location, … (lower case)
    key: PlatformStr | None = None


class InboundMessage(Contract):
    channel: Channel
    account_id: str
    platform_message_id: PlatformStr  # the platform's id, or the dedupe key the platform implies
    sender_id: PlatformStr
    sender_name: PlatformStr | None = None
    recipient_id: PlatformStr | None = None
    sent_at: UtcDatetime
    received_at: UtcDatetime = Field(default_factory=utcnow)
    kind: MessageKind
    text: PlatformStr = ""
    attachments: list[Attachment] = Field(default_factory=list)
    location: Location | None = None
    event: PlatformEvent | None = None
    raw: PlatformStr = ""  # the payload as the platform sent it (decrypted), kept for audit
    raw_format: str = ""  # xml | json | form

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
