"""Weibo push JSON → the v1 inbound record."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from shared.contracts.v1 import Attachment, Channel, InboundMessage, Location, MessageKind, PlatformEvent

from .errors import MalformedPush

_MEDIA_KINDS = {"voice": MessageKind.VOICE, "image": MessageKind.IMAGE}
# Mentions of our account in a status or a comment are citizens talking to us; other subtypes are unknown.
_MENTION_SUBTYPES = {"status", "comment"}
# Month names parsed by hand: strptime's %b follows the process locale.
_MONTHS = {m: i for i, m in enumerate("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(), start=1)}


def parse_push(body: bytes, *, account_id: str, received_at: datetime) -> InboundMessage:
    """One message or event push, as the platform POSTed it (Content-Type undocumented, so the raw body)."""
    raw, payload = _load(body)
    msg_type = _require_str(payload, "type").lower()
    sender_id = _int64(payload, "sender_id")
    receiver_id = _int64(payload, "receiver_id")
    if "created_at" not in payload:
        raise MalformedPush("missing created_at")
    sent_at = _parse_created_at(payload["created_at"])
    text = payload.get("text")
    if text is None:
        text = ""
    elif not isinstance(text, str):
        raise MalformedPush("text is not a string")
    data = payload.get("data")
    if data is None:
        data = {}
    elif not isinstance(data, dict):
        raise MalformedPush("data is not a JSON object")

    kind = MessageKind.EVENT
    attachments: list[Attachment] = []
    location: Location | None = None
    event: PlatformEvent | None = None
    subtype = (_optional_str(data.get("subtype")) or "").lower()
    key = _optional_str(data.get("key"))

    if msg_type == "text":
        kind = MessageKind.TEXT
    elif msg_type == "position":
        kind = MessageKind.LOCATION
        location = _location(data)
    elif msg_type in _MEDIA_KINDS:
        kind = _MEDIA_KINDS[msg_type]
        # weibo.md downloads media by tovfid, so it wins; vfid is the fallback. Attachment has no field for
        # a second id: both stay in `raw`.
        media_id = _optional_str(data.get("tovfid")) or _optional_str(data.get("vfid"))
        attachments.append(Attachment(kind=msg_type, media_id=media_id))
    elif msg_type == "event":
        # The ticket (QR scans) has no field in PlatformEvent; it stays in `raw`.
        event = PlatformEvent(name=subtype or "event", key=key)
    elif msg_type == "mention" and subtype in _MENTION_SUBTYPES:
        kind = MessageKind.TEXT
        event = PlatformEvent(name=f"mention:{subtype}", key=key)
    elif msg_type == "mention":
        event = PlatformEvent(name=f"mention:{subtype}" if subtype else "mention", key=key)
    else:
        # Unknown types are acknowledged and recorded, never rejected (weibo.md): the platform would retry.
        event = PlatformEvent(name=msg_type)

    return InboundMessage(
        channel=Channel.WEIBO,
        account_id=account_id,
        platform_message_id=_dedupe_id(sender_id, sent_at, msg_type, text, data),
        sender_id=sender_id,
        recipient_id=receiver_id,
        sent_at=sent_at,
        received_at=received_at,
        kind=kind,
        text=text,
        attachments=attachments,
        location=location,
        event=event,
        raw=raw,
        raw_format="json",
    )


def _dedupe_id(sender_id: str, sent_at: datetime, msg_type: str, text: str, data: dict[str, Any]) -> str:
    """Pushes carry no message id; weibo.md says dedupe by sender_id + created_at + a hash of the text.

    The hash also covers type and data: events have no text, so a scan_follow and a click in the same
    second would otherwise collapse into one. A retry resends the same JSON, so it still gets the same key;
    data is canonicalised so key order or whitespace cannot change it.
    """
    canonical = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    # surrogatepass: a JSON escape can carry half an emoji, which strict UTF-8 cannot encode (the contract
    # replaces it later); hashed as sent, the retry still gets this key and other texts still get another.
    digest = hashlib.sha1((text + canonical).encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return f"{sender_id}:{int(sent_at.timestamp())}:{msg_type}:{digest}"


def _load(body: bytes) -> tuple[str, dict[str, Any]]:
    try:
        raw = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedPush(f"body is not UTF-8 (byte {exc.start})") from exc
    if not raw.strip():
        raise MalformedPush("empty body")
    try:
        payload = json.loads(raw.removeprefix("\ufeff"))
    except (ValueError, RecursionError) as exc:
        raise MalformedPush(f"body is not JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise MalformedPush(f"body is a JSON {type(payload).__name__}, expected an object")
    return raw, payload


def _require_str(payload: dict[str, Any], name: str) -> str:
    value = payload.get(name)
    if not isinstance(value, str) or not value.strip():
        raise MalformedPush(f"missing {name}")
    return value.strip()


def _int64(payload: dict[str, Any], name: str) -> str:
    """Weibo user ids are int64 in JSON: kept as text, exactly (they exceed a double's 53 bits)."""
    value = payload.get(name)
    if value is None or value == "":
        raise MalformedPush(f"missing {name}")
    if not _is_integer(value):
        raise MalformedPush(f"{name} is not an integer id: {value!r}")
    return str(value)


def _is_integer(value: Any) -> bool:
    if isinstance(value, str):
        return value.isascii() and value.isdigit()
    return isinstance(value, int) and not isinstance(value, bool)


def _optional_str(value: Any) -> str | None:
    if isinstance(value, bool) or value is None or value == "":
        return None
    return str(value) if isinstance(value, str | int) else None


def _parse_created_at(value: Any) -> datetime:
    """`Mon Jul 16 18:09:20 +0800 2012` (weibo.md); epoch seconds accepted in case a push carries those."""
    if _is_integer(value):
        try:
            return datetime.fromtimestamp(int(value), UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise MalformedPush(f"created_at {value!r} is out of range") from exc
    if isinstance(value, str):
        parts = value.split()
        if len(parts) == 6 and parts[1] in _MONTHS:
            _weekday, month, day, clock, offset, year = parts
            try:
                return datetime.strptime(f"{year}-{_MONTHS[month]:02d}-{day} {clock} {offset}", "%Y-%m-%d %H:%M:%S %z")
            except ValueError:
                pass
    raise MalformedPush(f"created_at {value!r} is neither like 'Mon Jul 16 18:09:20 +0800 2012' nor epoch seconds")


def _location(data: dict[str, Any]) -> Location:
    try:
        return Location(lat=data["latitude"], lng=data["longitude"])
    except KeyError as exc:
        raise MalformedPush(f"position without {exc.args[0]}") from exc
    except ValidationError as exc:
        raise MalformedPush("position latitude/longitude are not valid coordinates") from exc
