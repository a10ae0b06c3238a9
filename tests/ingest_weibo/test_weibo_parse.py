import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from inbox_dev.simulator.weibo import signed_query
from ingest_weibo.errors import MalformedPush
from ingest_weibo.main import create_app
from ingest_weibo.parse import parse_push
from ingest_weibo.settings import Settings
from shared.contracts.v1 import (
    Attachment,
    Channel,
    InboundMessage,
    InboundMessageRecord,
    Location,
    MessageKind,
    PlatformEvent,
)
from shared.settings import KafkaSettings, OutboundSettings
from tests.asgi import serving
from tests.kafka_helpers import read_topic

ACCOUNT = "wuhan-12345"
RECEIVED = datetime(2012, 7, 16, 10, 9, 21, tzinfo=UTC)
SENT_UTC = datetime(2012, 7, 16, 10, 9, 20, tzinfo=UTC)  # "Mon Jul 16 18:09:20 +0800 2012"
SENT_EPOCH = 1342433360

# The sample push from weibo.md, byte for byte.
TEXT_PUSH = (
    '{"type":"text","receiver_id":1902538057,"sender_id":2489518277,'
    '"created_at":"Mon Jul 16 18:09:20 +0800 2012","text":"文华北路修路，早上堵车严重","data":{}}'
).encode()


def push(msg_type: str, text: str = "", data: dict[str, Any] | None = None, **fields: Any) -> bytes:
    body = {
        "type": msg_type,
        "receiver_id": 1902538057,
        "sender_id": 2489518277,
        "created_at": "Mon Jul 16 18:09:20 +0800 2012",
        "text": text,
        "data": data if data is not None else {},
        **fields,
    }
    return json.dumps(body, ensure_ascii=False).encode()


def parse(body: bytes) -> InboundMessage:
    return parse_push(body, account_id=ACCOUNT, received_at=RECEIVED)


def test_text_push_from_the_doc() -> None:
    msg = parse(TEXT_PUSH)

    assert msg.channel is Channel.WEIBO
    assert msg.account_id == ACCOUNT
    assert msg.kind is MessageKind.TEXT
    assert msg.text == "文华北路修路，早上堵车严重"
    assert msg.sender_id == "2489518277"
    assert msg.recipient_id == "1902538057"
    assert msg.sent_at == SENT_UTC
    assert msg.received_at == RECEIVED
    assert msg.is_citizen_message
    assert (msg.attachments, msg.location, msg.event) == ([], None, None)
    assert msg.raw == TEXT_PUSH.decode()
    assert msg.raw_format == "json"
    assert msg.contact_key == f"weibo:{ACCOUNT}:2489518277"


def test_ids_beyond_double_precision_are_kept_exactly() -> None:
    msg = parse(push("text", "路灯不亮", sender_id=9007199254740993, receiver_id="9007199254740995"))
    assert (msg.sender_id, msg.recipient_id) == ("9007199254740993", "9007199254740995")


def test_position_becomes_a_location_and_keeps_the_text() -> None:
    msg = parse(push("position", "我在这里：光谷广场", {"longitude": "114.398", "latitude": 30.507}))

    assert msg.kind is MessageKind.LOCATION
    assert msg.location == Location(lat=30.507, lng=114.398)
    assert msg.text == "我在这里：光谷广场"
    assert msg.is_citizen_message


@pytest.mark.parametrize(("msg_type", "kind"), [("voice", MessageKind.VOICE), ("image", MessageKind.IMAGE)])
def test_media_uses_the_receivers_file_id(msg_type: str, kind: MessageKind) -> None:
    msg = parse(push(msg_type, "井盖丢失", {"vfid": 821804459, "tovfid": 821804460}))

    assert msg.kind is kind
    assert msg.attachments == [Attachment(kind=msg_type, media_id="821804460")]
    assert msg.text == "井盖丢失"
    assert '"vfid": 821804459' in msg.raw  # the sender's id is not lost


@pytest.mark.parametrize("msg_type", ["voice", "image"])
def test_media_falls_back_to_vfid(msg_type: str) -> None:
    assert parse(push(msg_type, data={"vfid": "821804459"})).attachments[0].media_id == "821804459"


@pytest.mark.parametrize(
    "subtype", ["follow", "unfollow", "subscribe", "unsubscribe", "scan", "scan_follow", "click", "view"]
)
def test_every_event_subtype_is_recorded_as_an_event(subtype: str) -> None:
    msg = parse(push("event", data={"subtype": subtype, "key": "menu_report", "ticket": "gQH47joAAAAA"}))

    assert msg.kind is MessageKind.EVENT
    assert msg.event == PlatformEvent(name=subtype, key="menu_report")
    assert not msg.is_citizen_message


def test_event_subtype_is_lower_cased_and_empty_key_is_none() -> None:
    assert parse(push("event", data={"subtype": "CLICK", "key": ""})).event == PlatformEvent(name="click")


def test_unknown_event_subtype_is_still_recorded() -> None:
    msg = parse(push("event", data={"subtype": "shake"}))
    assert (msg.kind, msg.event) == (MessageKind.EVENT, PlatformEvent(name="shake"))


@pytest.mark.parametrize(("subtype", "key"), [("status", 3470488383356787), ("comment", "3470489027123456")])
def test_mention_is_a_citizen_message_marked_as_a_mention(subtype: str, key: int | str) -> None:
    msg = parse(push("mention", "@武汉市民之家 汉口火车站出租车拒载", {"subtype": subtype, "key": key}))

    assert msg.kind is MessageKind.TEXT
    assert msg.is_citizen_message
    assert msg.text == "@武汉市民之家 汉口火车站出租车拒载"
    assert msg.event == PlatformEvent(name=f"mention:{subtype}", key=str(key))


def test_mention_of_unknown_subtype_is_recorded_not_opened() -> None:
    msg = parse(push("mention", "@武汉市民之家", {"subtype": "article", "key": 42}))
    assert (msg.kind, msg.event) == (MessageKind.EVENT, PlatformEvent(name="mention:article", key="42"))


@pytest.mark.parametrize("msg_type", ["Articles", "shake", "video"])
def test_unknown_type_is_recorded_as_event_never_rejected(msg_type: str) -> None:
    msg = parse(push(msg_type, "未知消息", {"whatever": [1, 2]}))

    assert msg.kind is MessageKind.EVENT
    assert msg.event == PlatformEvent(name=msg_type.lower())
    assert not msg.is_citizen_message


def test_missing_text_and_data_are_empty() -> None:
    body = b'{"type":"text","receiver_id":1,"sender_id":2,"created_at":"Mon Jul 16 18:09:20 +0800 2012"}'
    assert parse(body).text == ""


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "empty body"),
        (b"  \n", "empty body"),
        (b"type=text&text=hello", "not JSON"),
        (b'{"type":"text",', "not JSON"),
        (TEXT_PUSH.replace("文".encode(), b"\xff\xfe"), "not UTF-8"),
        (b'[{"type":"text"}]', "JSON list"),
        (b'"text"', "JSON str"),
        (push("text").replace(b'"type": "text"', b'"type": ""'), "missing type"),
        (push("text").replace(b'"type": "text"', b'"type": 1'), "missing type"),
        (json.dumps({"type": "text", "receiver_id": 1, "created_at": 1}).encode(), "missing sender_id"),
        (json.dumps({"type": "text", "sender_id": 1, "created_at": 1}).encode(), "missing receiver_id"),
        (push("text", sender_id=2.489518277e9), "sender_id is not an integer"),
        (push("text", sender_id=True), "sender_id is not an integer"),
        (push("text", receiver_id="weibo"), "receiver_id is not an integer"),
        (json.dumps({"type": "text", "sender_id": 1, "receiver_id": 2}).encode(), "missing created_at"),
        (push("text", created_at="2012-07-16 18:09:20"), "created_at"),
        (push("text", created_at="Mon Foo 16 18:09:20 +0800 2012"), "created_at"),
        (push("text", created_at="Mon Jul 32 18:09:20 +0800 2012"), "created_at"),
        (push("text", created_at="Mon Jul 16 18:09:20 CST 2012"), "created_at"),
        (push("text", created_at=10**20), "created_at"),
        (push("text", created_at=None), "created_at"),
        (push("text", text=["堵车"]), "text is not a string"),  # type: ignore[arg-type]
        (push("text", data=["堵车"]), "data is not a JSON object"),  # type: ignore[arg-type]
        (push("position", data={"longitude": 114.3}), "position without latitude"),
        (push("position", data={"longitude": 114.3, "latitude": 200}), "not valid coordinates"),
    ],
)
def test_malformed_push_is_refused_with_a_reason(body: bytes, reason: str) -> None:
    with pytest.raises(MalformedPush, match=reason):
        parse(body)


def test_malformed_push_is_a_value_error() -> None:
    assert issubclass(MalformedPush, ValueError)


@pytest.mark.parametrize(
    ("created_at", "expected"),
    [
        ("Mon Jul 16 18:09:20 +0800 2012", SENT_UTC),
        ("Mon Jul 16 05:09:20 -0500 2012", SENT_UTC),
        ("Sun Jan 1 07:30:00 +0800 2017", datetime(2016, 12, 31, 23, 30, tzinfo=UTC)),
        (SENT_EPOCH, SENT_UTC),
        (str(SENT_EPOCH), SENT_UTC),
    ],
)
def test_created_at_is_normalised_to_utc(created_at: str | int, expected: datetime) -> None:
    sent_at = parse(push("text", "路灯不亮", created_at=created_at)).sent_at
    assert sent_at == expected
    assert sent_at.tzinfo is UTC


def test_dedupe_key_names_sender_second_and_type() -> None:
    assert parse(TEXT_PUSH).platform_message_id.startswith(f"2489518277:{SENT_EPOCH}:text:")


def test_retried_push_gets_the_same_dedupe_key() -> None:
    first = parse(TEXT_PUSH)
    retry = parse_push(TEXT_PUSH, account_id=ACCOUNT, received_at=datetime(2012, 7, 16, 10, 9, 31, tzinfo=UTC))
    assert retry.dedupe_key == first.dedupe_key


def test_reserialised_retry_gets_the_same_dedupe_key() -> None:
    original = push("position", "光谷", {"longitude": 114.398, "latitude": 30.507})
    escaped = json.dumps(json.loads(original), indent=2, ensure_ascii=True).encode()
    reordered = push("position", "光谷", {"latitude": 30.507, "longitude": 114.398})
    keys = {parse(body).platform_message_id for body in (original, escaped, reordered)}
    assert len(keys) == 1


@pytest.mark.parametrize(
    "other",
    [
        push("text", "文华北路修路，晚上也堵"),
        push("text", "文华北路修路，早上堵车严重", created_at="Mon Jul 16 18:09:21 +0800 2012"),
        push("text", "文华北路修路，早上堵车严重", sender_id=2489518278),
    ],
)
def test_different_messages_get_different_dedupe_keys(other: bytes) -> None:
    assert parse(other).platform_message_id != parse(TEXT_PUSH).platform_message_id


def test_two_events_in_the_same_second_are_not_merged() -> None:
    follow = parse(push("event", data={"subtype": "scan_follow", "key": "qr_1", "ticket": "t"}))
    click = parse(push("event", data={"subtype": "click", "key": "menu_report"}))
    assert follow.platform_message_id != click.platform_message_id


# An emoji cut in half: its first UTF-16 surrogate, as a JSON escape, then "路灯".
HALF_EMOJI_PUSH = TEXT_PUSH.replace("文华北路修路，早上堵车严重".encode(), b"\\ud83d\\u8def\\u706f")


def test_half_an_emoji_is_replaced_and_the_message_can_be_produced() -> None:
    msg = parse(HALF_EMOJI_PUSH)

    assert msg.text == "\ufffd路灯"
    assert InboundMessageRecord.from_bytes(InboundMessageRecord.wrap(msg, source="t").to_bytes()).data == msg
    assert msg.platform_message_id == parse(HALF_EMOJI_PUSH).platform_message_id
    assert msg.platform_message_id != parse(push("text", "\ufffd路灯")).platform_message_id


async def test_half_an_emoji_over_http_is_stored_once_not_refused(
    kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    accounts = tmp_path / "accounts.yaml"
    accounts.write_text("accounts:\n  - {id: city, channel: weibo, name: w, app_secret: s3cret}\n")
    settings = Settings(accounts_file=accounts, kafka=kafka_settings, outbound=OutboundSettings(enabled=False))
    async with serving(create_app(settings)) as client:
        for _ in range(3):  # Weibo tries three times in all
            response = await client.post("/webhooks/weibo/city", params=signed_query("s3cret"), content=HALF_EMOJI_PUSH)
            assert response.status_code == 200, response.text
    raw = await read_topic(kafka_settings, kafka_settings.topics.inbox_messages, expect=2, timeout=1.5)
    assert [InboundMessageRecord.from_bytes(r.value).data.text for r in raw] == ["\ufffd路灯"]
