"""WeChat push XML → the v1 inbound record. XML is parsed with DTDs and entities refused (defusedxml)."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring
from pydantic import ValidationError

from shared.contracts.v1 import Attachment, Channel, InboundMessage, Location, MessageKind, PlatformEvent

from .errors import MalformedPush

_MEDIA_KINDS = {
    "image": MessageKind.IMAGE,
    "voice": MessageKind.VOICE,
    "video": MessageKind.VIDEO,
    "shortvideo": MessageKind.VIDEO,
}


def parse_xml(body: bytes | str) -> dict[str, str]:
    """Flat dict of the root's children (WeChat pushes are one level deep)."""
    if not body or not body.strip():
        raise MalformedPush("empty body")
    try:
        root: Element = fromstring(body, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise MalformedPush(f"XML with DTD or entities is refused: {type(exc).__name__}") from exc
    except ParseError as exc:
        raise MalformedPush(f"not well-formed XML: {exc}") from exc
    if root.tag.lower() != "xml":
        raise MalformedPush(f"root element is <{root.tag}>, expected <xml>")
    return {child.tag: (child.text or "").strip() for child in root}


def _require(fields: dict[str, str], name: str) -> str:
    value = fields.get(name)
    if not value:
        raise MalformedPush(f"missing {name}")
    return value


def _float(fields: dict[str, str], name: str) -> float:
    try:
        return float(_require(fields, name))
    except ValueError as exc:
        raise MalformedPush(f"{name} is not a number") from exc


def _location(
    fields: dict[str, str], lat: str, lng: str, *, label: str | None = None, scale: float | None = None
) -> Location:
    try:
        return Location(lat=_float(fields, lat), lng=_float(fields, lng), label=label, scale=scale)
    except ValidationError as exc:  # out of range, or NaN
        raise MalformedPush(f"{lat}/{lng} are not a valid latitude/longitude") from exc


def _scale(value: str | None) -> float | None:
    """The map's zoom level. It only accompanies the coordinates, so one that is not a number is dropped rather
    than the citizen's location with it (wechat.md gives it no format)."""
    if not value:
        return None
    try:
        scale = float(value)
    except ValueError:
        return None
    return scale if math.isfinite(scale) else None


def to_inbound(fields: dict[str, str], *, account_id: str, raw: str, received_at: datetime) -> InboundMessage:
    sender = _require(fields, "FromUserName")
    msg_type = _require(fields, "MsgType").lower()
    try:
        sent_at = datetime.fromtimestamp(int(_require(fields, "CreateTime")), UTC)
    except (ValueError, OverflowError, OSError) as exc:  # OSError: a year the C library cannot represent
        raise MalformedPush("CreateTime is not a unix timestamp") from exc

    kind = MessageKind.EVENT
    text = ""
    attachments: list[Attachment] = []
    location: Location | None = None
    event: PlatformEvent | None = None

    if msg_type == "text":
        kind, text = MessageKind.TEXT, fields.get("Content", "")
    elif msg_type in _MEDIA_KINDS:
        kind = _MEDIA_KINDS[msg_type]
        # Voice keeps WeChat's speech recognition as the text, so the router can classify it.
        text = fields.get("Recognition", "") if msg_type == "voice" else ""
        attachments.append(
            Attachment(
                kind=msg_type,
                media_id=fields.get("MediaId") or None,
                url=fields.get("PicUrl") or None,
                thumb_media_id=fields.get("ThumbMediaId") or None,
                format=fields.get("Format") or None,
            )
        )
    elif msg_type == "location":
        kind = MessageKind.LOCATION
        label = fields.get("Label") or None
        location = _location(fields, "Location_X", "Location_Y", label=label, scale=_scale(fields.get("Scale")))
        text = label or ""
    elif msg_type == "link":
        kind = MessageKind.LINK
        title, description = fields.get("Title", ""), fields.get("Description", "")
        text = "\n".join(t for t in (title, description) if t)
        attachments.append(Attachment(kind="link", url=fields.get("Url") or None, title=title or None))
    elif msg_type == "event":
        name = _require(fields, "Event").lower()
        event = PlatformEvent(name=name, key=fields.get("EventKey") or None)
        if name == "location" and fields.get("Latitude") and fields.get("Longitude"):
            location = _location(fields, "Latitude", "Longitude")
    elif fields.get("MsgId"):
        # A citizen's message of a type this code does not know (file, mini-program card…): acknowledged, never
        # rejected (the platform would retry forever), and shown to an operator rather than buried as an event.
        kind = MessageKind.OTHER
        attachments.append(Attachment(kind=msg_type, media_id=fields.get("MediaId"), title=fields.get("Title")))
    else:
        event = PlatformEvent(name=f"unknown:{msg_type}")

    # Ordinary messages carry MsgId; events are deduplicated by sender + CreateTime (wechat.md).
    msg_id = fields.get("MsgId")
    if msg_type == "event" or not msg_id:
        event_name = event.name if event else msg_type
        msg_id = f"{sender}:{fields['CreateTime']}:{event_name}"

    return InboundMessage(
        channel=Channel.WECHAT,
        account_id=account_id,
        platform_message_id=msg_id,
        sender_id=sender,
        recipient_id=fields.get("ToUserName") or None,
        sent_at=sent_at,
        received_at=received_at,
        kind=kind,
        text=text,
        attachments=attachments,
        location=location,
        event=event,
        raw=raw,
        raw_format="xml",
    )
