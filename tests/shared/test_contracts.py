from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from shared.contracts.v1 import (
    Attachment,
    CaseChange,
    CaseEvent,
    Channel,
    DecidedBy,
    DeliveryReceipt,
    DeliveryReceiptRecord,
    DeliveryStatus,
    InboundMessage,
    InboundMessageRecord,
    Location,
    MessageKind,
    PlatformEvent,
    ReplyCommand,
    ReplyCommandRecord,
    RoutedMessage,
    RoutedMessageRecord,
    RoutingDecision,
)

BEIJING = timezone(timedelta(hours=8))


def inbound(**overrides: object) -> InboundMessage:
    fields: dict[str, object] = {
        "channel": Channel.WECHAT,
        "account_id": "city-wechat",
        "platform_message_id": "6574261948839470964",
        "sender_id": "oFTYt0l9wQDDhwmx1js_d1T6zZkw",
        "sent_at": datetime(2026, 11, 24, 9, 30, tzinfo=BEIJING),
        "kind": MessageKind.LOCATION,
        "text": "文华北路修路，早上堵车严重",
        "attachments": [Attachment(kind="image", media_id="m1", url="http://x/y.jpg")],
        "location": Location(lat=30.6, lng=104.06, label="成都市"),
        "raw": "<xml/>",
        "raw_format": "xml",
    }
    fields.update(overrides)
    return InboundMessage(**fields)  # type: ignore[arg-type]


def test_inbound_record_round_trips_and_keys_by_contact() -> None:
    record = InboundMessageRecord.wrap(inbound(), source="ingest-wechat", trace="00-abc-def-01")
    back = InboundMessageRecord.from_bytes(record.to_bytes())
    assert back == record
    assert back.type == "inbox.message.received"
    assert back.schema_version == 1
    assert back.data.contact_key == "wechat:city-wechat:oFTYt0l9wQDDhwmx1js_d1T6zZkw"
    assert back.data.dedupe_key == "wechat:city-wechat:6574261948839470964"


def test_times_are_normalised_to_utc_and_naive_times_are_refused() -> None:
    message = inbound()
    assert message.sent_at == datetime(2026, 11, 24, 1, 30, tzinfo=UTC)
    assert message.sent_at.utcoffset() == timedelta(0)
    with pytest.raises(ValidationError):
        inbound(sent_at=datetime(2026, 11, 24, 9, 30))


def test_unknown_fields_from_a_newer_v1_producer_are_ignored() -> None:
    record = json.loads(InboundMessageRecord.wrap(inbound(), source="x").to_bytes())
    record["added_later"] = 1
    record["data"]["also_new"] = {"x": 1}
    assert InboundMessageRecord.model_validate(record).data.text == "文华北路修路，早上堵车严重"


def test_events_are_not_citizen_messages() -> None:
    assert inbound().is_citizen_message
    assert not inbound(kind=MessageKind.EVENT).is_citizen_message


def test_routed_record_round_trips() -> None:
    decision = RoutingDecision(
        category="transport",
        department="transport",
        confidence=0.8,
        decided_by=DecidedBy.RULE,
        explanation="keyword rule transport: 堵车",
        rule_id="transport@1",
    )
    record = RoutedMessageRecord.wrap(RoutedMessage(message=inbound(), decision=decision), source="router")
    back = RoutedMessageRecord.from_bytes(record.to_bytes())
    assert back == record
    assert back.data.decision.decided_by is DecidedBy.RULE


def test_confidence_outside_zero_to_one_is_refused() -> None:
    with pytest.raises(ValidationError):
        RoutingDecision(confidence=1.5)


def test_reply_and_receipt_round_trip() -> None:
    reply = ReplyCommand(
        reply_id=uuid.uuid4(),
        case_id=uuid.uuid4(),
        case_number="20261124-00001",
        channel=Channel.WEIBO,
        account_id="city-weibo",
        recipient_id="2489518277",
        text="您反映的问题已受理",
    )
    record = ReplyCommandRecord.wrap(reply, source="case-api")
    assert ReplyCommandRecord.from_bytes(record.to_bytes()) == record
    assert reply.contact_key == "weibo:city-weibo:2489518277"
    receipt = DeliveryReceipt(
        reply_id=reply.reply_id,
        case_id=reply.case_id,
        channel=Channel.WEIBO,
        account_id="city-weibo",
        status=DeliveryStatus.FAILED,
        attempts=3,
        platform_code="45015",
        reason="outside the reply window",
        finished_at=datetime.now(UTC),
    )
    receipt_record = DeliveryReceiptRecord.wrap(receipt, source="ingest-weibo")
    assert DeliveryReceiptRecord.from_bytes(receipt_record.to_bytes()) == receipt_record


def test_a_reply_commands_deadline_travels_in_utc_and_a_command_from_before_it_still_parses() -> None:
    fields = {
        "reply_id": str(uuid.uuid4()),
        "case_id": str(uuid.uuid4()),
        "case_number": "20261124-00001",
        "channel": "wechat",
        "account_id": "city-wechat",
        "recipient_id": "oFTYt0l9wQDDhwmx1js_d1T6zZkw",
        "text": "您反映的问题已受理",
    }
    assert ReplyCommand.model_validate(fields).expires_at is None  # its channel service applies its own TTL
    reply = ReplyCommand.model_validate(fields | {"expires_at": datetime(2026, 11, 24, 9, 45, tzinfo=BEIJING)})
    back = ReplyCommandRecord.from_bytes(ReplyCommandRecord.wrap(reply, source="case-api").to_bytes()).data
    assert back.expires_at == datetime(2026, 11, 24, 1, 45, tzinfo=UTC)
    assert back.expires_at.utcoffset() == timedelta(0)
    with pytest.raises(ValidationError):
        ReplyCommand.model_validate(fields | {"expires_at": datetime(2026, 11, 24, 9, 45)})


def test_case_event_is_cloudevents_1_0_structured_json() -> None:
    case_id = uuid.uuid4()
    change = CaseChange(action="dispatched", from_status="classified", to_status="dispatched", actor="op1")
    event = CaseEvent.for_change(case_id, change, {"id": str(case_id), "status": "dispatched"})
    doc = json.loads(event.to_bytes())
    # The attributes CloudEvents 1.0 requires, and the optional ones we promise.
    assert doc["specversion"] == "1.0"
    assert {"id", "source", "type", "subject", "time", "datacontenttype", "data"} <= doc.keys()
    assert doc["type"] == "gov.inbox.case.dispatched"
    assert doc["subject"] == str(case_id)
    assert doc["time"].endswith("Z")
    # Extension attribute names must be lower-case alphanumerics.
    extensions = doc.keys() - {
        "specversion",
        "id",
        "source",
        "type",
        "subject",
        "time",
        "datacontenttype",
        "data",
        "dataschema",
    }
    assert all(name.isalnum() and name.islower() for name in extensions)
    assert CaseEvent.from_bytes(event.to_bytes()) == event


def test_nul_characters_from_a_platform_are_replaced_not_stored() -> None:
    message = inbound(text="停水\x00了", raw='{"text":"停水\\u0000了"}')
    assert message.text == "停水\ufffd了" and "\x00" not in message.raw


def test_lone_surrogates_from_a_platform_are_replaced_so_the_record_can_be_produced() -> None:
    half = "\ud83d"  # an emoji cut in half, as a platform's JSON escape decodes
    message = inbound(
        text=f"路灯{half}",
        sender_name=half,
        attachments=[Attachment(kind="image", title=f"{half}图")],
        location=Location(lat=30.6, lng=104.06, label=half),
        event=PlatformEvent(name="click", key=half),
    )
    assert message.text == "路灯\ufffd" and message.sender_name == "\ufffd"
    assert message.attachments[0].title == "\ufffd图"
    assert message.location is not None and message.location.label == "\ufffd"
    assert message.event is not None and message.event.key == "\ufffd"
    record = InboundMessageRecord.wrap(message, source="ingest-weibo")
    assert InboundMessageRecord.from_bytes(record.to_bytes()) == record
    # Both halves arriving as separate characters make the emoji again.
    assert inbound(text="\ud83d\ude00").text == "😀"
