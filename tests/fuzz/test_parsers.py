"""Hostile input to every platform parser: whatever arrives, the answer is the parser's own "malformed" error
(a 400 with a reason) or a message that can be produced, never a crash that would become a 500."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from ingest_alipay.errors import MalformedNotify
from ingest_alipay.notify import decode_form, parse_message
from ingest_wechat.errors import MalformedPush as WeChatMalformed
from ingest_wechat.parse import parse_xml, to_inbound
from ingest_weibo.errors import MalformedPush as WeiboMalformed
from ingest_weibo.parse import parse_push
from shared.contracts.v1 import InboundMessage, InboundMessageRecord

NOW = datetime(2026, 11, 24, tzinfo=UTC)
FIELDS = [
    "ToUserName",
    "FromUserName",
    "CreateTime",
    "MsgType",
    "Content",
    "MsgId",
    "Event",
    "EventKey",
    "Location_X",
    "Location_Y",
    "Scale",
    "Label",
    "MediaId",
    "PicUrl",
    "Recognition",
    "Url",
    "Title",
]


def producible(message: InboundMessage) -> None:
    InboundMessageRecord.from_bytes(InboundMessageRecord.wrap(message, source="fuzz").to_bytes())


hostile_text = st.one_of(
    st.text(max_size=300),
    st.sampled_from(
        [
            "",
            "-1",
            "9" * 400,
            "1e309",
            "NaN",
            "<![CDATA[x]]>",
            "'; DROP TABLE cases; --",
            "<script>alert(1)</script>",
            "\x00",
            "\ud7ff",
            "\ud83d",  # half an emoji
            "text",
            "event",
            "location",
        ]
    ),
)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_wechat_xml_parser_never_crashes_on_bytes(body: bytes) -> None:
    try:
        fields = parse_xml(body)
        producible(to_inbound(fields, account_id="a", raw="", received_at=NOW))
    except WeChatMalformed:
        pass


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(FIELDS), hostile_text, max_size=len(FIELDS)))
def test_wechat_messages_with_hostile_fields_never_crash(fields: dict[str, str]) -> None:
    try:
        producible(to_inbound(fields, account_id="a", raw="", received_at=NOW))
    except WeChatMalformed:
        pass


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats()
    | st.text(max_size=50)
    | st.sampled_from(["\ud83d", "\ude00路灯"]),  # half an emoji, as a JSON escape
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=1000),
        st.dictionaries(
            st.sampled_from(["type", "sender_id", "receiver_id", "created_at", "text", "data"]), json_values
        ).map(lambda d: json.dumps(d).encode()),
    )
)
def test_weibo_parser_never_crashes(body: bytes) -> None:
    try:
        producible(parse_push(body, account_id="a", received_at=NOW))
    except WeiboMalformed:
        pass


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=1500), st.sampled_from([None, "GBK", "utf-8", "latin-1", "no-such-charset"]))
def test_alipay_form_decoder_never_crashes(body: bytes, charset: str | None) -> None:
    try:
        decode_form(body, charset)
    except MalformedNotify:
        pass


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=1500))
def test_alipay_biz_content_parser_never_crashes(biz_content: str) -> None:
    try:
        producible(parse_message(biz_content, account_id="a", received_at=NOW))
    except MalformedNotify:
        pass


def test_deeply_nested_json_is_refused_cleanly() -> None:
    body = ("[" * 100_000 + "]" * 100_000).encode()
    try:
        parse_push(body, account_id="a", received_at=NOW)
    except WeiboMalformed:
        pass
