"""Gateway notifies: the form body, then the biz_content XML → the v1 inbound record.

The form's percent-encoded bytes are in the notify's own `charset` (often GBK), so the body is decoded
here rather than by a framework that assumes UTF-8. XML is parsed with DTDs refused (defusedxml).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from email.message import Message
from email.utils import collapse_rfc2231_value
from urllib.parse import unquote_to_bytes
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from shared.contracts.v1 import Attachment, Channel, InboundMessage, MessageKind, PlatformEvent

from .errors import MalformedNotify

SERVICE_CHECK = "alipay.service.check"
SERVICE_MESSAGE = "alipay.mobile.public.message.notify"

# The charsets Alipay encodes and signs notifies in, by lower-case label, each with the one name the notify is read,
# verified and answered in. Anything else is refused: Python's codec registry also holds non-text codecs (rot13,
# base64, zlib) that `bytes.decode` cannot use. GB2312 is read as GBK, its superset, as the WHATWG Encoding Standard
# does: text labelled GB2312 often carries GBK-only characters (rare characters in names), and Python's gb2312
# codec reads A1A4 and A1AA as U+30FB and U+2015 where GBK gives the middle dot and dash meant (U+00B7, U+2014).
_CHARSETS = {"utf-8": "UTF-8", "gbk": "GBK", "gb2312": "GBK", "gb18030": "GB18030"}


def _form_pairs(body: bytes) -> list[tuple[bytes, bytes]]:
    pairs = []
    for part in body.split(b"&"):
        if part:
            name, _, value = part.partition(b"=")
            pairs.append((unquote_to_bytes(name.replace(b"+", b" ")), unquote_to_bytes(value.replace(b"+", b" "))))
    return pairs


def parse_content_type_charset(content_type: str) -> str | None:
    """The `charset` parameter of a Content-Type header, as MIME reads it: any case, quotes removed, up to `;`."""
    header = Message()
    header["content-type"] = content_type
    value = header.get_param("charset")
    return (collapse_rfc2231_value(value) if value is not None else "") or None


def notify_charset(params: Mapping[str, str], content_type_charset: str | None) -> str:
    """The charset the notify was encoded (and signed) in: its `charset` field, else the header's, else UTF-8.

    Returned by its canonical name (`GBK`), the one to decode, verify and answer with; MalformedNotify for a charset
    Alipay does not use.
    """
    declared = params.get("charset") or content_type_charset or "utf-8"
    try:
        return _CHARSETS[declared.lower()]
    except KeyError:
        raise MalformedNotify(f"unknown charset {declared!r}: Alipay sends UTF-8, GBK, GB2312 or GB18030") from None


def decode_form(body: bytes, content_type_charset: str | None) -> dict[str, str]:
    """The notify's parameters, URL-decoded in the notify's charset."""
    pairs = _form_pairs(body)
    # Charset names are ASCII, so the field can be read before the charset is known.
    declared = next((v for k, v in pairs if k == b"charset"), b"").decode("ascii", errors="replace")
    charset = notify_charset({"charset": declared}, content_type_charset)
    params: dict[str, str] = {}
    try:
        for name, value in pairs:
            key = name.decode(charset)
            if key in params:
                # Which of two values Alipay signed is unknowable; a real notify never repeats a name.
                raise MalformedNotify(f"parameter {key!r} appears twice")
            params[key] = value.decode(charset)
    except UnicodeDecodeError as exc:
        raise MalformedNotify(f"body is not valid {charset}: {exc.reason} at byte {exc.start}") from exc
    for required in ("service", "sign"):
        if not params.get(required):
            raise MalformedNotify(f"missing {required}")
    return params


def _parse_xml(biz_content: str) -> Element:
    if not biz_content.strip():
        raise MalformedNotify("empty biz_content")
    try:
        root: Element = fromstring(biz_content.strip(), forbid_dtd=True)
    except DefusedXmlException as exc:
        raise MalformedNotify(f"biz_content with DTD or entities is refused: {type(exc).__name__}") from exc
    except ParseError as exc:
        raise MalformedNotify(f"biz_content is not well-formed XML: {exc}") from exc
    if root.tag.lower() != "xml":
        raise MalformedNotify(f"biz_content root is <{root.tag}>, expected <XML>")
    return root


def _text(root: Element, path: str) -> str:
    element = root.find(path)
    return (element.text or "").strip() if element is not None else ""


def _sender_name(user_info: str) -> str | None:
    # UserInfo is a courtesy (masked logon id and name); a broken one must not lose the message.
    try:
        info = json.loads(user_info) if user_info else None
    except ValueError:
        return None
    name = info.get("user_name") if isinstance(info, dict) else None
    return name if isinstance(name, str) and name else None


def parse_message(biz_content: str, *, account_id: str, received_at: datetime) -> InboundMessage:
    """A citizen message or event from a `alipay.mobile.public.message.notify` biz_content.

    The contact is FromAlipayUserId (2088…) when present: it is the id `custom.send` replies to (alipay.md's
    send example). `raw` keeps the whole biz_content, so FromUserId stays on record too.
    """
    root = _parse_xml(biz_content)
    from_user_id = _text(root, "FromUserId")
    sender = _text(root, "FromAlipayUserId") or from_user_id
    if not sender:
        raise MalformedNotify("missing FromUserId and FromAlipayUserId")
    msg_type = _text(root, "MsgType").lower()
    if not msg_type:
        raise MalformedNotify("missing MsgType")
    create_time = _text(root, "CreateTime")
    try:
        millis = int(create_time)
        # CreateTime is in milliseconds (alipay.md), unlike WeChat's seconds.
        sent_at = datetime.fromtimestamp(millis // 1000, UTC) + timedelta(milliseconds=millis % 1000)
    except (ValueError, OverflowError, OSError) as exc:
        raise MalformedNotify(f"CreateTime {create_time!r} is not a millisecond timestamp") from exc

    kind = MessageKind.EVENT
    text = ""
    event: PlatformEvent | None = None
    attachments: list[Attachment] = []
    if msg_type == "text":
        kind = MessageKind.TEXT
        content = root.find("Text/Content")
        text = (content.text or "") if content is not None else ""
    elif msg_type == "event":
        name = _text(root, "EventType").lower()
        if not name:
            raise MalformedNotify("event without EventType")
        # ActionParam is the menu key for click, a JSON object with `scene` for enter: kept as sent.
        event = PlatformEvent(name=name, key=_text(root, "ActionParam") or None)
    elif _text(root, "MsgId"):
        # Other message types are undocumented (alipay.md): acknowledged, never rejected, since a rejected
        # notify is retried and then lost. One with a MsgId is a citizen's (an image…): it reaches an operator;
        # the raw XML keeps whatever it carried.
        kind = MessageKind.OTHER
        attachments.append(Attachment(kind=msg_type))
    else:
        event = PlatformEvent(name=f"unknown:{msg_type}")

    # Messages carry MsgId. Events need not; alipay.md dedupes them by FromUserId + CreateTime + EventType,
    # which is stable across Alipay's retries of the same event, so it is the platform message id.
    dedupe_user = from_user_id or sender
    message_id = _text(root, "MsgId") or f"{dedupe_user}:{create_time}:{event.name if event else msg_type}"

    return InboundMessage(
        channel=Channel.ALIPAY,
        account_id=account_id,
        platform_message_id=message_id,
        sender_id=sender,
        sender_name=_sender_name(_text(root, "UserInfo")),
        recipient_id=_text(root, "AppId") or None,
        sent_at=sent_at,
        received_at=received_at,
        kind=kind,
        text=text,
        attachments=attachments,
        event=event,
        raw=biz_content,
        raw_format="xml",
    )
