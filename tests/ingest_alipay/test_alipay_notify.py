"""Gateway notifies as Alipay posts them: GBK form bodies, signed, with biz_content XML."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, urlencode

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from ingest_alipay.errors import BadSignature, MalformedNotify
from ingest_alipay.main import create_app
from ingest_alipay.notify import SERVICE_MESSAGE, decode_form, notify_charset, parse_message
from ingest_alipay.settings import Settings
from ingest_alipay.signature import sign, signing_content, verify_notify
from shared.contracts.v1 import Channel, InboundMessageRecord, MessageKind, PlatformEvent
from shared.settings import KafkaSettings, OutboundSettings
from tests.asgi import serving
from tests.ingest_alipay.test_alipay_gateway import alipay_checks
from tests.kafka_helpers import read_topic

RECEIVED = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)

# The text message captured from a real account (alipay.md), content changed to a citizen's report.
TEXT_MESSAGE = (
    "<XML><Text><Content><![CDATA[你好，小区门口路灯坏了]]></Content></Text>"
    "<FromAlipayUserId><![CDATA[2088102286952333]]></FromAlipayUserId>"
    "<AppId><![CDATA[2016010601068750]]></AppId><MsgType><![CDATA[text]]></MsgType>"
    "<CreateTime><![CDATA[1452082447533]]></CreateTime>"
    "<FromUserId><![CDATA[20881039297032193307797420113333]]></FromUserId>"
    "<MsgId><![CDATA[160106501407000001]]></MsgId>"
    '<UserInfo><![CDATA[{"logon_id":"xzz***@sina.com","user_name":"*小明"}]]></UserInfo></XML>'
)


def event_xml(event_type: str, action_param: str = "", *, msg_id: str = "") -> str:
    return (
        "<XML><AppId><![CDATA[2016010601068750]]></AppId><MsgType><![CDATA[event]]></MsgType>"
        f"<EventType><![CDATA[{event_type}]]></EventType><ActionParam><![CDATA[{action_param}]]></ActionParam>"
        "<FromUserId><![CDATA[20881039297032193307797420113333]]></FromUserId>"
        "<FromAlipayUserId><![CDATA[2088102286952333]]></FromAlipayUserId>"
        f"<CreateTime>1452082447533</CreateTime>{f'<MsgId>{msg_id}</MsgId>' if msg_id else ''}</XML>"
    )


def gbk_notify(alipay_key: RSAPrivateKey, biz_content: str = TEXT_MESSAGE) -> tuple[dict[str, str], bytes]:
    """Parameters and the form body, signed and percent-encoded in GBK as Alipay's gateway does."""
    params = {"service": SERVICE_MESSAGE, "sign_type": "RSA2", "charset": "GBK", "biz_content": biz_content}
    content = signing_content(params, exclude_sign_type=False)
    params["sign"] = sign(content, alipay_key, sign_type="RSA2", charset="GBK")
    return params, urlencode(params, encoding="gbk").encode("ascii")


# --- the form body --------------------------------------------------------------------------------


def test_a_gbk_body_decodes_and_its_signature_verifies(alipay_key: RSAPrivateKey) -> None:
    params, body = gbk_notify(alipay_key)
    assert b"%C4%E3%BA%C3" in body  # "你好" percent-encoded as GBK, not UTF-8

    decoded = decode_form(body, "utf-8")  # the form's own charset field wins over the header

    assert decoded == params
    verify_notify(decoded, alipay_key.public_key(), charset=notify_charset(decoded, "utf-8"))


def test_a_tampered_body_fails_verification(alipay_key: RSAPrivateKey) -> None:
    _, body = gbk_notify(alipay_key)
    tampered = body.replace(b"%C4%E3%BA%C3", quote("您好", encoding="gbk").encode())
    decoded = decode_form(tampered, None)
    assert "您好" in decoded["biz_content"]
    with pytest.raises(BadSignature):
        verify_notify(decoded, alipay_key.public_key(), charset="GBK")


def test_the_content_type_charset_applies_when_the_form_has_none() -> None:
    body = urlencode({"service": SERVICE_MESSAGE, "sign": "c2ln", "biz_content": "路灯"}, encoding="gbk")
    assert decode_form(body.encode(), "GBK")["biz_content"] == "路灯"
    assert notify_charset({}, "GBK") == "GBK"
    assert notify_charset({}, None) == "UTF-8"


async def test_a_notify_signed_in_the_content_type_charset_is_accepted_and_stored(
    kafka_settings: KafkaSettings, alipay_accounts_file: Path, alipay_key: RSAPrivateKey
) -> None:
    # Signed and encoded in GBK, but the charset only in the header: no `charset` field in the form.
    params = {"service": SERVICE_MESSAGE, "sign_type": "RSA2", "biz_content": TEXT_MESSAGE}
    body = signed_form(alipay_key, params, encoding="gbk")
    response = await notify(kafka_settings, alipay_accounts_file, body, f"{FORM}; charset=GBK")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/xml;charset=GBK"  # answered in the charset it was sent in
    [raw] = await read_topic(kafka_settings, kafka_settings.topics.inbox_messages, expect=1)
    assert InboundMessageRecord.from_bytes(raw.value).data.text == "你好，小区门口路灯坏了"


FORM = "application/x-www-form-urlencoded"


def signed_form(alipay_key: RSAPrivateKey, params: dict[str, str], *, encoding: str) -> str:
    """`params` signed by Alipay's key and percent-encoded, both over their bytes in `encoding`."""
    signed = {**params, "sign": sign(signing_content(params, exclude_sign_type=False), alipay_key, charset=encoding)}
    return urlencode(signed, encoding=encoding)


async def notify(kafka_settings: KafkaSettings, accounts_file: Path, body: str, content_type: str) -> httpx.Response:
    """One notify posted to a running ingest-alipay (delivery off), as Alipay's gateway sends it."""
    settings = Settings(accounts_file=accounts_file, kafka=kafka_settings, outbound=OutboundSettings(enabled=False))
    async with serving(create_app(settings)) as client:
        return await client.post("/webhooks/alipay/city", content=body, headers={"content-type": content_type})


@pytest.mark.parametrize(
    "content_type",
    [
        f'{FORM}; charset="GBK"',  # quoted, as MIME allows
        f"{FORM}; Charset=GBK",  # parameter names are case-insensitive
        f"{FORM};charset=GBK;foo=bar",  # the value ends at the next parameter
        f'{FORM}; CHARSET="gbk"; foo=bar',
    ],
)
async def test_the_content_type_charset_is_read_as_mime_defines_it(
    kafka_settings: KafkaSettings,
    alipay_accounts_file: Path,
    alipay_key: RSAPrivateKey,
    app_key: RSAPrivateKey,
    content_type: str,
) -> None:
    # A genuine GBK notify whose charset is only in the header.
    params = {"service": SERVICE_MESSAGE, "sign_type": "RSA2", "biz_content": TEXT_MESSAGE}
    response = await notify(
        kafka_settings, alipay_accounts_file, signed_form(alipay_key, params, encoding="gbk"), content_type
    )

    assert response.status_code == 200, response.text
    # The answer is one Alipay can read: well-formed, signed, declaring the charset by one clean name.
    assert response.headers["content-type"] == "text/xml;charset=GBK"
    assert alipay_checks(response.content, app_key.public_key())["charset"] == b"GBK"
    [raw] = await read_topic(kafka_settings, kafka_settings.topics.inbox_messages, expect=1)
    assert InboundMessageRecord.from_bytes(raw.value).data.text == "你好，小区门口路灯坏了"


@pytest.mark.parametrize(
    ("label", "written_in", "text", "answered_in"),
    [
        pytest.param("gbk", "gbk", "喆园小区路灯坏了", "GBK", id="gbk"),
        # What Java's GB2312 writer (and many a GBK writer claiming GB2312) sends: GBK-only characters, and
        # A1A4 for the middle dot of a transcribed name, which is U+00B7, not the katakana dot U+30FB.
        pytest.param("GB2312", "gbk", "买买提·艾力：喆园小区路灯坏了", "GBK", id="GB2312-as-GBK"),
        pytest.param("gb2312", "gbk", "堃珺镕", "GBK", id="gb2312-as-GBK"),
        pytest.param("Gb18030", "gb18030", "𠮷野家门口路灯坏了", "GB18030", id="gb18030"),
        pytest.param("utf-8", "utf-8", "𠮷野家门口路灯坏了", "UTF-8", id="utf-8"),
    ],
)
async def test_every_charset_alipay_uses_is_read_and_answered_by_its_canonical_name(
    kafka_settings: KafkaSettings,
    alipay_accounts_file: Path,
    alipay_key: RSAPrivateKey,
    app_key: RSAPrivateKey,
    label: str,
    written_in: str,
    text: str,
    answered_in: str,
) -> None:
    biz_content = TEXT_MESSAGE.replace("你好，小区门口路灯坏了", text)
    params = {"service": SERVICE_MESSAGE, "sign_type": "RSA2", "charset": label, "biz_content": biz_content}
    body = signed_form(alipay_key, params, encoding=written_in)
    response = await notify(kafka_settings, alipay_accounts_file, body, FORM)

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == f"text/xml;charset={answered_in}"
    assert alipay_checks(response.content, app_key.public_key())["charset"] == answered_in.encode()
    [raw] = await read_topic(kafka_settings, kafka_settings.topics.inbox_messages, expect=1)
    assert InboundMessageRecord.from_bytes(raw.value).data.text == text


@pytest.mark.parametrize(
    ("field", "header", "named"),
    [
        # Python's codec registry knows these, but they are no text encodings: bytes.decode cannot use them.
        ("rot13", None, "rot13"),
        ("hex", None, "hex"),
        ("base64", None, "base64"),
        ("zlib", None, "zlib"),
        # Text encodings, but not Alipay's: a body in them would be read wrongly, or not at all.
        ("utf-16", None, "utf-16"),
        ("ISO-8859-1", None, "ISO-8859-1"),
        (None, "rot13", "rot13"),
        (None, '"ISO-8859-1"', "ISO-8859-1"),
    ],
)
async def test_a_charset_alipay_does_not_use_is_refused_by_name(
    kafka_settings: KafkaSettings,
    alipay_accounts_file: Path,
    alipay_key: RSAPrivateKey,
    field: str | None,
    header: str | None,
    named: str,
) -> None:
    # Signed with Alipay's real key over the UTF-8 bytes: a valid signature makes no charset readable.
    params = {"service": SERVICE_MESSAGE, "sign_type": "RSA2", "biz_content": TEXT_MESSAGE}
    if field is not None:
        params["charset"] = field
    content_type = f"{FORM}; charset={header}" if header is not None else FORM
    response = await notify(
        kafka_settings, alipay_accounts_file, signed_form(alipay_key, params, encoding="utf-8"), content_type
    )

    assert response.status_code == 400, response.text
    assert f"unknown charset '{named}'" in response.json()["detail"]
    assert await read_topic(kafka_settings, kafka_settings.topics.inbox_messages, expect=1, timeout=0.5) == []


def test_utf8_is_the_default() -> None:
    body = urlencode({"service": SERVICE_MESSAGE, "sign": "c2ln", "biz_content": "路灯"})
    assert decode_form(body.encode(), None)["biz_content"] == "路灯"


def test_bytes_invalid_in_the_charset_are_malformed() -> None:
    body = b"service=x&sign=c2ln&charset=GBK&biz_content=%FF%FF"
    with pytest.raises(MalformedNotify, match="not valid GBK"):
        decode_form(body, None)
    with pytest.raises(MalformedNotify, match="not valid UTF-8"):
        decode_form(b"service=x&sign=c2ln&biz_content=%C4%E3", None)


def test_an_unknown_charset_is_malformed() -> None:
    with pytest.raises(MalformedNotify, match="unknown charset 'KLINGON'"):
        decode_form(b"service=x&sign=c2ln&charset=KLINGON", None)


@pytest.mark.parametrize(("body", "missing"), [(b"sign=c2ln&biz_content=x", "service"), (b"service=x", "sign")])
def test_a_body_without_service_or_sign_is_malformed(body: bytes, missing: str) -> None:
    with pytest.raises(MalformedNotify, match=f"missing {missing}"):
        decode_form(body, None)


def test_a_repeated_parameter_is_malformed() -> None:
    with pytest.raises(MalformedNotify, match="'biz_content' appears twice"):
        decode_form(b"service=x&sign=c2ln&biz_content=a&biz_content=b", None)


# --- the biz_content XML --------------------------------------------------------------------------


def test_a_text_message() -> None:
    message = parse_message(TEXT_MESSAGE, account_id="city-hall", received_at=RECEIVED)

    assert message.channel is Channel.ALIPAY
    assert message.kind is MessageKind.TEXT and message.is_citizen_message
    assert message.text == "你好，小区门口路灯坏了"
    assert message.sender_id == "2088102286952333"  # FromAlipayUserId: the id replies are sent to
    assert "20881039297032193307797420113333" in message.raw  # FromUserId stays on record
    assert message.sender_name == "*小明"
    assert message.recipient_id == "2016010601068750"
    assert message.platform_message_id == "160106501407000001"
    assert message.sent_at == datetime(2016, 1, 6, 12, 14, 7, 533000, tzinfo=UTC)  # CreateTime in ms
    assert message.received_at == RECEIVED
    assert (message.raw, message.raw_format) == (TEXT_MESSAGE, "xml")


def test_from_user_id_is_the_sender_when_the_alipay_user_id_is_absent() -> None:
    xml = TEXT_MESSAGE.replace("<FromAlipayUserId><![CDATA[2088102286952333]]></FromAlipayUserId>", "")
    assert parse_message(xml, account_id="a", received_at=RECEIVED).sender_id == "20881039297032193307797420113333"


def test_a_broken_user_info_loses_only_the_name() -> None:
    xml = TEXT_MESSAGE.replace('"user_name":"*小明"}', '"user_name":')
    assert parse_message(xml, account_id="a", received_at=RECEIVED).sender_name is None


@pytest.mark.parametrize(
    ("event_type", "action_param", "expected"),
    [
        ("follow", "", PlatformEvent(name="follow")),
        ("unfollow", "", PlatformEvent(name="unfollow")),
        ("click", "report_streetlight", PlatformEvent(name="click", key="report_streetlight")),
        (
            "enter",
            '{"scene":{"sceneId":"1234"}}',
            PlatformEvent(name="enter", key='{"scene":{"sceneId":"1234"}}'),
        ),
        ("verifygw", "", PlatformEvent(name="verifygw")),
    ],
)
def test_events(event_type: str, action_param: str, expected: PlatformEvent) -> None:
    message = parse_message(event_xml(event_type, action_param), account_id="a", received_at=RECEIVED)

    assert message.kind is MessageKind.EVENT and not message.is_citizen_message
    assert message.event == expected
    # No MsgId: the key alipay.md dedupes events by, identical when Alipay retries the same event.
    assert message.platform_message_id == f"20881039297032193307797420113333:1452082447533:{event_type}"


def test_an_event_type_in_capitals_is_lower_cased() -> None:
    message = parse_message(event_xml("CLICK", "k"), account_id="a", received_at=RECEIVED)
    assert message.event == PlatformEvent(name="click", key="k")


def test_an_event_with_a_msg_id_keeps_it() -> None:
    message = parse_message(event_xml("click", "k", msg_id="999"), account_id="a", received_at=RECEIVED)
    assert message.platform_message_id == "999"


def test_a_citizens_message_of_an_unknown_type_reaches_an_operator() -> None:
    xml = TEXT_MESSAGE.replace("<![CDATA[text]]>", "<![CDATA[image]]>").replace(
        "<Text><Content><![CDATA[你好，小区门口路灯坏了]]></Content></Text>",
        "<Image><MediaId>m1</MediaId></Image>",
    )
    message = parse_message(xml, account_id="a", received_at=RECEIVED)

    assert message.kind is MessageKind.OTHER and message.is_citizen_message  # opens or joins a case
    assert [a.kind for a in message.attachments] == ["image"] and message.event is None
    assert message.platform_message_id == "160106501407000001"
    assert "<MediaId>m1</MediaId>" in message.raw
    # Without a MsgId it is no citizen's message: recorded as an event, as before.
    no_id = xml.replace("<MsgId><![CDATA[160106501407000001]]></MsgId>", "")
    event = parse_message(no_id, account_id="a", received_at=RECEIVED)
    assert event.kind is MessageKind.EVENT and event.event == PlatformEvent(name="unknown:image")


BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
    '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
    "<XML><MsgType>text</MsgType><Text><Content>&lol3;</Content></Text></XML>"
)
EXTERNAL_ENTITY = (
    '<?xml version="1.0"?><!DOCTYPE XML [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    "<XML><MsgType>text</MsgType><Text><Content>&xxe;</Content></Text></XML>"
)


@pytest.mark.parametrize("xml", [BILLION_LAUGHS, EXTERNAL_ENTITY], ids=["billion-laughs", "external-entity"])
def test_entities_are_refused(xml: str) -> None:
    with pytest.raises(MalformedNotify, match="DTD or entities is refused"):
        parse_message(xml, account_id="a", received_at=RECEIVED)


@pytest.mark.parametrize(
    ("xml", "reason"),
    [
        ("", "empty biz_content"),
        ("<XML><MsgType>text", "not well-formed"),
        ("<root/>", "expected <XML>"),
        (TEXT_MESSAGE.replace("FromUserId", "X").replace("FromAlipayUserId", "Y"), "missing FromUserId"),
        (TEXT_MESSAGE.replace("<MsgType><![CDATA[text]]></MsgType>", ""), "missing MsgType"),
        (TEXT_MESSAGE.replace("1452082447533", "yesterday"), "not a millisecond timestamp"),
        (event_xml("").replace("<EventType><![CDATA[]]></EventType>", ""), "without EventType"),
    ],
)
def test_unreadable_biz_content_is_malformed(xml: str, reason: str) -> None:
    with pytest.raises(MalformedNotify, match=reason):
        parse_message(xml, account_id="a", received_at=RECEIVED)
