from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ingest_wechat.errors import MalformedPush
from ingest_wechat.parse import parse_xml, to_inbound
from shared.contracts.v1 import MessageKind

NOW = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
HEAD = (
    "<xml><ToUserName><![CDATA[gh_47bd9550a0a1]]></ToUserName><FromUserName><![CDATA[oFTYt0l9wQDDhwmx1js_d1T6zZkw]]>"
    "</FromUserName><CreateTime>1530689641</CreateTime>"
)


def parse(body: str):
    return to_inbound(parse_xml(body), account_id="city", raw=body, received_at=NOW)


def test_text_sample_from_the_docs() -> None:
    m = parse(
        HEAD + "<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[文本消息]]></Content>"
        "<MsgId>6574261948839470964</MsgId></xml>"
    )
    assert m.kind is MessageKind.TEXT
    assert m.text == "文本消息"
    assert m.platform_message_id == "6574261948839470964"
    assert m.sender_id == "oFTYt0l9wQDDhwmx1js_d1T6zZkw"
    assert m.recipient_id == "gh_47bd9550a0a1"
    assert m.sent_at == datetime(2018, 7, 4, 7, 34, 1, tzinfo=UTC)
    assert m.raw_format == "xml" and "文本消息" in m.raw


def test_image() -> None:
    m = parse(
        HEAD + "<MsgType>image</MsgType><PicUrl>http://mmbiz/1.jpg</PicUrl><MediaId>media1</MediaId>"
        "<MsgId>1</MsgId></xml>"
    )
    assert m.kind is MessageKind.IMAGE
    assert m.attachments[0].media_id == "media1" and m.attachments[0].url == "http://mmbiz/1.jpg"


def test_voice_keeps_recognition_as_text() -> None:
    m = parse(
        HEAD + "<MsgType>voice</MsgType><MediaId>v1</MediaId><Format>amr</Format>"
        "<Recognition><![CDATA[楼下烧烤油烟太大]]></Recognition><MsgId>2</MsgId></xml>"
    )
    assert m.kind is MessageKind.VOICE
    assert m.text == "楼下烧烤油烟太大"
    assert m.attachments[0].format == "amr"


@pytest.mark.parametrize("msg_type", ["video", "shortvideo"])
def test_video_kinds(msg_type: str) -> None:
    m = parse(
        HEAD + f"<MsgType>{msg_type}</MsgType><MediaId>v</MediaId><ThumbMediaId>t</ThumbMediaId><MsgId>3</MsgId></xml>"
    )
    assert m.kind is MessageKind.VIDEO
    assert m.attachments[0].kind == msg_type and m.attachments[0].thumb_media_id == "t"


def test_location() -> None:
    m = parse(
        HEAD + "<MsgType>location</MsgType><Location_X>30.657</Location_X><Location_Y>104.066</Location_Y>"
        "<Scale>15</Scale><Label><![CDATA[成都市锦江区]]></Label><MsgId>4</MsgId></xml>"
    )
    assert m.kind is MessageKind.LOCATION
    assert (m.location.lat, m.location.lng, m.location.label) == (30.657, 104.066, "成都市锦江区")


@pytest.mark.parametrize("scale", ["abc", "NaN", "inf", ""])
def test_a_scale_that_is_not_a_number_is_dropped_not_the_location(scale: str) -> None:
    m = parse(
        HEAD + "<MsgType>location</MsgType><Location_X>30.657</Location_X><Location_Y>104.066</Location_Y>"
        f"<Scale>{scale}</Scale><MsgId>4</MsgId></xml>"
    )
    assert (m.location.lat, m.location.lng, m.location.scale) == (30.657, 104.066, None)


def test_link() -> None:
    m = parse(
        HEAD + "<MsgType>link</MsgType><Title>标题</Title><Description>描述</Description>"
        "<Url>http://example.org/a</Url><MsgId>5</MsgId></xml>"
    )
    assert m.kind is MessageKind.LINK
    assert m.text == "标题\n描述"
    assert m.attachments[0].url == "http://example.org/a"


@pytest.mark.parametrize("event", ["subscribe", "unsubscribe", "CLICK", "VIEW", "SCAN", "LOCATION"])
def test_events_are_recorded_with_a_sender_and_time_dedupe_key(event: str) -> None:
    extra = "<Latitude>30.1</Latitude><Longitude>104.2</Longitude>" if event == "LOCATION" else ""
    m = parse(HEAD + f"<MsgType>event</MsgType><Event>{event}</Event><EventKey>menu_1</EventKey>{extra}</xml>")
    assert m.kind is MessageKind.EVENT and not m.is_citizen_message
    assert m.event.name == event.lower()
    assert m.platform_message_id.startswith("oFTYt0l9wQDDhwmx1js_d1T6zZkw:1530689641")
    if event == "LOCATION":
        assert m.location.lat == 30.1


def test_msg_type_is_compared_case_insensitively() -> None:
    assert parse(HEAD + "<MsgType>TEXT</MsgType><Content>x</Content><MsgId>6</MsgId></xml>").kind is MessageKind.TEXT


def test_a_citizens_message_of_an_unknown_type_reaches_an_operator() -> None:
    m = parse(HEAD + "<MsgType>miniprogrampage</MsgType><Title>办事指南</Title><MsgId>7</MsgId></xml>")
    assert m.kind is MessageKind.OTHER and m.is_citizen_message and m.event is None
    assert [(a.kind, a.title) for a in m.attachments] == [("miniprogrampage", "办事指南")]
    # Without a MsgId it is no citizen's message: recorded as an event.
    e = parse(HEAD + "<MsgType>newfeature</MsgType></xml>")
    assert e.kind is MessageKind.EVENT and e.event.name == "unknown:newfeature"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("", "empty"),
        ("not xml", "well-formed"),
        ("<root><a>1</a></root>", "expected <xml>"),
        ("<xml><MsgType>text</MsgType></xml>", "FromUserName"),
        (HEAD.replace("1530689641", "yesterday") + "<MsgType>text</MsgType></xml>", "CreateTime"),
        (
            HEAD + "<MsgType>location</MsgType><Location_X>north</Location_X><Location_Y>1</Location_Y></xml>",
            "number",
        ),
        (HEAD.replace("1530689641", str(10**18)) + "<MsgType>text</MsgType></xml>", "CreateTime"),
        (
            HEAD + "<MsgType>location</MsgType><Location_X>91</Location_X><Location_Y>104.066</Location_Y></xml>",
            "Location_X/Location_Y are not a valid latitude/longitude",
        ),
        (
            HEAD + "<MsgType>location</MsgType><Location_X>30.6</Location_X><Location_Y>-inf</Location_Y></xml>",
            "latitude/longitude",
        ),
        (
            HEAD + "<MsgType>event</MsgType><Event>LOCATION</Event><Latitude>NaN</Latitude>"
            "<Longitude>104.2</Longitude></xml>",
            "Latitude/Longitude are not a valid latitude/longitude",
        ),
    ],
)
def test_malformed_pushes_say_why(body: str, reason: str) -> None:
    with pytest.raises(MalformedPush, match=reason):
        parse(body)


def test_entity_expansion_is_refused() -> None:
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>'
        "<xml><Content>&b;</Content></xml>"
    )
    with pytest.raises(MalformedPush, match="DTD or entities"):
        parse_xml(bomb)
    external = '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]><xml><C>&x;</C></xml>'
    with pytest.raises(MalformedPush):
        parse_xml(external)
