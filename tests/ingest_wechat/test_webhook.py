"""The WeChat webhook against a real broker: what the platform sees, and what lands on inbox.messages.v1."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from inbox_dev.simulator.wechat import WeChatAccount, message_xml, push, signed_query, text_xml
from ingest_wechat.main import create_app
from ingest_wechat.settings import Settings
from shared.accounts import AccountsFileError, load_accounts
from shared.contracts.v1 import InboundMessageRecord, MessageKind
from shared.settings import KafkaSettings, OutboundSettings
from tests.asgi import serving
from tests.kafka_helpers import read_topic

ACCOUNT = WeChatAccount(
    token="tok-123", app_id="wx1234567890abcd", encoding_aes_key="kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"
)
# The same credentials, pushing for another official account (as a centre that gives several the same token sees).
ELSEWHERE = replace(ACCOUNT, original_id="gh_0a1b2c3d4e5f")
URL = "/webhooks/wechat/city"


@pytest.fixture
def accounts_file(tmp_path: Path) -> Path:
    path = tmp_path / "accounts.yaml"
    path.write_text(
        "accounts:\n"
        f"  - {{id: city, channel: wechat, name: 城市服务, token: {ACCOUNT.token}, app_id: {ACCOUNT.app_id},"
        f" encoding_aes_key: {ACCOUNT.encoding_aes_key}, original_id: {ACCOUNT.original_id}}}\n"
        "  - {id: plain, channel: wechat, name: 无加密, token: tok-plain, app_id: wxplain}\n"
        f"  - {{id: safe, channel: wechat, name: 安全模式, token: {ACCOUNT.token}, app_id: {ACCOUNT.app_id},"
        f" encoding_aes_key: {ACCOUNT.encoding_aes_key}, message_mode: safe}}\n",
        encoding="utf-8",
    )
    return path


@pytest.fixture
async def client(kafka_settings: KafkaSettings, accounts_file: Path) -> AsyncIterator[httpx.AsyncClient]:
    # Webhooks only (replies have their own tests in tests/outbound): a delivery consumer adds a second per app.
    outbound = OutboundSettings(enabled=False)
    settings = Settings(accounts_file=accounts_file, kafka=kafka_settings, max_body_bytes=4096, outbound=outbound)
    async with serving(create_app(settings)) as c:
        yield c


async def records(kafka_settings: KafkaSettings, expect: int, timeout: float = 5.0) -> list[InboundMessageRecord]:
    raw = await read_topic(kafka_settings, kafka_settings.topics.inbox_messages, expect=expect, timeout=timeout)
    return [InboundMessageRecord.from_bytes(r.value) for r in raw]


async def test_handshake_echoes_echostr(client: httpx.AsyncClient) -> None:
    response = await client.get(URL, params=signed_query(ACCOUNT) | {"echostr": "5837397520665436492"})
    assert response.status_code == 200
    assert response.text == "5837397520665436492"


async def test_handshake_with_a_bad_signature_is_403(client: httpx.AsyncClient) -> None:
    query = signed_query(ACCOUNT) | {"echostr": "x", "signature": "0" * 40}
    response = await client.get(URL, params=query)
    assert response.status_code == 403
    assert "signature" in response.json()["detail"]


async def test_unknown_account_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/webhooks/wechat/nobody", params=signed_query(ACCOUNT) | {"echostr": "x"})
    assert response.status_code == 404
    assert "nobody" in response.json()["detail"]


@pytest.mark.parametrize("mode", ["plaintext", "compatible", "safe"])
async def test_text_push_is_produced_then_acknowledged(
    client: httpx.AsyncClient, kafka_settings: KafkaSettings, mode: str
) -> None:
    query, body = push(
        ACCOUNT,
        text_xml(ACCOUNT, sender="oCitizen1", text="小区门口垃圾三天没人清运", msg_id=1001),
        mode=mode,
    )
    response = await client.post(URL, params=query, content=body)
    assert response.status_code == 200
    assert response.text == "success"
    [record] = await records(kafka_settings, 1)
    assert record.data.kind is MessageKind.TEXT
    assert record.data.text == "小区门口垃圾三天没人清运"
    assert record.data.account_id == "city"
    assert record.data.platform_message_id == "1001"
    assert record.source == "ingest-wechat"


async def test_a_platform_retry_produces_no_second_record(
    client: httpx.AsyncClient, kafka_settings: KafkaSettings
) -> None:
    xml = text_xml(ACCOUNT, sender="oCitizen2", text="路灯不亮", msg_id=2002)
    for _ in range(3):  # WeChat tries three times when it does not hear back in 5 s
        query, body = push(ACCOUNT, xml)
        assert (await client.post(URL, params=query, content=body)).text == "success"
    assert len(await records(kafka_settings, 2, timeout=1.5)) == 1


async def test_forged_signature_is_403_and_produces_nothing(
    client: httpx.AsyncClient, kafka_settings: KafkaSettings
) -> None:
    query, body = push(ACCOUNT, text_xml(ACCOUNT, sender="oForger", text="伪造", msg_id=3003))
    query["signature"] = "f" * 40
    response = await client.post(URL, params=query, content=body)
    assert response.status_code == 403
    assert await records(kafka_settings, 1, timeout=1.0) == []


async def test_safe_mode_with_a_forged_msg_signature_is_403(
    client: httpx.AsyncClient, kafka_settings: KafkaSettings
) -> None:
    query, body = push(ACCOUNT, text_xml(ACCOUNT, sender="oForger", text="伪造", msg_id=3004), mode="safe")
    query["msg_signature"] = "0" * 40
    assert (await client.post(URL, params=query, content=body)).status_code == 403
    assert await records(kafka_settings, 1, timeout=1.0) == []


@pytest.mark.parametrize(
    ("outer", "inner", "mode"),
    [
        (ELSEWHERE, ELSEWHERE, "plaintext"),
        (ELSEWHERE, ELSEWHERE, "compatible"),
        (ELSEWHERE, ELSEWHERE, "safe"),
        (ACCOUNT, ELSEWHERE, "safe"),  # only the encrypted message, the signed one, names the other account
    ],
    ids=["plaintext", "compatible", "safe", "safe-inner-only"],
)
async def test_a_push_for_another_official_account_is_403_and_produces_nothing(
    client: httpx.AsyncClient, kafka_settings: KafkaSettings, outer: WeChatAccount, inner: WeChatAccount, mode: str
) -> None:
    query, body = push(outer, text_xml(inner, sender="oCitizen7", text="发错了账号", msg_id=7007), mode=mode)
    response = await client.post(URL, params=query, content=body)
    assert response.status_code == 403
    assert response.json()["detail"] == "this push is for official account gh_0a1b2c3d4e5f, not this account's"
    assert await records(kafka_settings, 1, timeout=1.0) == []


async def test_a_push_for_the_accounts_own_original_id_is_produced(
    client: httpx.AsyncClient, kafka_settings: KafkaSettings
) -> None:
    query, body = push(ACCOUNT, text_xml(ACCOUNT, sender="oCitizen8", text="井盖丢了", msg_id=8008), mode="safe")
    assert (await client.post(URL, params=query, content=body)).text == "success"
    [record] = await records(kafka_settings, 1)
    assert (record.data.account_id, record.data.recipient_id) == ("city", ACCOUNT.original_id)


async def test_without_an_original_id_configured_any_recipient_is_accepted(
    client: httpx.AsyncClient, kafka_settings: KafkaSettings
) -> None:
    plain = replace(ELSEWHERE, token="tok-plain", app_id="wxplain")
    query, body = push(plain, text_xml(plain, sender="oCitizen9", text="噪音扰民", msg_id=9009))
    assert (await client.post("/webhooks/wechat/plain", params=query, content=body)).text == "success"
    [record] = await records(kafka_settings, 1)
    assert (record.data.account_id, record.data.recipient_id) == ("plain", "gh_0a1b2c3d4e5f")


def test_an_original_id_that_is_not_one_is_refused_at_load(tmp_path: Path) -> None:
    path = tmp_path / "accounts.yaml"
    path.write_text("accounts:\n  - {id: a, channel: wechat, name: A, token: t, app_id: wx1, original_id: wx1}\n")
    with pytest.raises(AccountsFileError, match="original_id 'wx1' is not a WeChat original id"):
        load_accounts(path)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"this is not xml", "well-formed"),
        (b"<xml><MsgType>text</MsgType></xml>", "FromUserName"),
        (b"", "empty"),
    ],
)
async def test_malformed_body_is_400_with_the_reason(
    client: httpx.AsyncClient, kafka_settings: KafkaSettings, body: bytes, reason: str
) -> None:
    response = await client.post(URL, params=signed_query(ACCOUNT), content=body)
    assert response.status_code == 400
    assert reason in response.json()["detail"]
    assert await records(kafka_settings, 1, timeout=0.5) == []


async def test_oversized_body_is_413(client: httpx.AsyncClient) -> None:
    xml = text_xml(ACCOUNT, sender="oBig", text="长" * 5000, msg_id=4004)
    query, body = push(ACCOUNT, xml)
    response = await client.post(URL, params=query, content=body)
    assert response.status_code == 413


async def test_encrypted_push_to_an_account_without_a_key_is_400(client: httpx.AsyncClient) -> None:
    plain = WeChatAccount(token="tok-plain", app_id="wxplain", encoding_aes_key=ACCOUNT.encoding_aes_key)
    query, body = push(plain, text_xml(plain, sender="o1", text="x", msg_id=5005), mode="safe")
    response = await client.post("/webhooks/wechat/plain", params=query, content=body)
    assert response.status_code == 400
    assert "encoding_aes_key" in response.json()["detail"]


async def test_a_safe_mode_account_refuses_a_push_that_is_not_encrypted(
    client: httpx.AsyncClient, kafka_settings: KafkaSettings
) -> None:
    # Signed with the account's token, but the plaintext signature covers no body: anyone who saw one push's query
    # could send any citizen's message. In safe mode WeChat always encrypts.
    query, body = push(ACCOUNT, text_xml(ACCOUNT, sender="oForged", text="伪造", msg_id=5006))
    refused = await client.post("/webhooks/wechat/safe", params=query, content=body)
    assert refused.status_code == 403 and "safe mode" in refused.json()["detail"]
    query, body = push(ACCOUNT, text_xml(ACCOUNT, sender="oSafe", text="加密的消息", msg_id=5007), mode="safe")
    assert (await client.post("/webhooks/wechat/safe", params=query, content=body)).text == "success"
    [record] = await records(kafka_settings, 1)
    assert (record.data.sender_id, record.data.text) == ("oSafe", "加密的消息")


async def test_events_are_produced_as_events(client: httpx.AsyncClient, kafka_settings: KafkaSettings) -> None:
    xml = message_xml(ACCOUNT, sender="oFan", msg_type="event", fields={"Event": "subscribe", "EventKey": ""})
    query, body = push(ACCOUNT, xml)
    assert (await client.post(URL, params=query, content=body)).text == "success"
    [record] = await records(kafka_settings, 1)
    assert record.data.kind is MessageKind.EVENT
    assert record.data.event is not None and record.data.event.name == "subscribe"


async def test_health_is_ok_with_the_broker_up(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"broker": "ok"}


@pytest.mark.parametrize(
    ("msg_type", "fields", "create_time", "reason"),
    [
        ("location", {"Location_X": "91", "Location_Y": "113.3", "MsgId": "6001"}, None, "latitude/longitude"),
        ("event", {"Event": "LOCATION", "Latitude": "NaN", "Longitude": "113.3"}, None, "latitude/longitude"),
        ("text", {"Content": "x", "MsgId": "6002"}, 10**18, "CreateTime"),
    ],
    ids=["latitude-out-of-range", "event-latitude-nan", "create-time-beyond-any-year"],
)
async def test_impossible_values_are_400_with_the_reason(
    client: httpx.AsyncClient,
    kafka_settings: KafkaSettings,
    msg_type: str,
    fields: dict[str, str],
    create_time: int | None,
    reason: str,
) -> None:
    xml = message_xml(ACCOUNT, sender="oOdd", msg_type=msg_type, fields=fields, create_time=create_time)
    query, body = push(ACCOUNT, xml, mode="safe")
    response = await client.post(URL, params=query, content=body)
    assert response.status_code == 400
    assert reason in response.json()["detail"]
    assert await records(kafka_settings, 1, timeout=0.5) == []


async def test_a_location_with_an_unreadable_scale_is_stored_without_it(
    client: httpx.AsyncClient, kafka_settings: KafkaSettings
) -> None:
    fields = {"Location_X": "23.1", "Location_Y": "113.3", "Scale": "abc", "Label": "天河路", "MsgId": "6003"}
    query, body = push(ACCOUNT, message_xml(ACCOUNT, sender="oMap", msg_type="location", fields=fields))
    assert (await client.post(URL, params=query, content=body)).text == "success"
    [record] = await records(kafka_settings, 1)
    assert record.data.location is not None
    assert (record.data.location.lat, record.data.location.lng, record.data.location.scale) == (23.1, 113.3, None)


def signed_at(offset_s: int) -> str:
    return str(int(time.time()) + offset_s)


@pytest.mark.parametrize("mode", ["plaintext", "safe"])
@pytest.mark.parametrize(("offset_s", "side"), [(-3600, "behind"), (3600, "ahead of")], ids=["stale", "future"])
async def test_a_push_signed_outside_the_window_is_403_with_the_reason_and_produces_nothing(
    client: httpx.AsyncClient, kafka_settings: KafkaSettings, offset_s: int, side: str, mode: str
) -> None:
    # A captured query replayed an hour later, or one signed an hour ahead to outlive the window.
    xml = text_xml(ACCOUNT, sender="oReplayer", text="重放的消息", msg_id=10010)
    query, body = push(ACCOUNT, xml, mode=mode, timestamp=signed_at(offset_s))
    response = await client.post(URL, params=query, content=body)
    assert response.status_code == 403
    assert f"s {side} this server's clock, outside the 300 s window by 3" in response.json()["detail"]
    assert await records(kafka_settings, 1, timeout=1.0) == []


async def test_the_window_is_a_setting_and_refusals_outside_it_use_no_rate_limit(
    kafka_settings: KafkaSettings, accounts_file: Path
) -> None:
    settings = Settings(
        accounts_file=accounts_file,
        kafka=kafka_settings,
        outbound=OutboundSettings(enabled=False),
        webhook_max_age_s=60,
    )
    app = create_app(settings)
    async with serving(app) as client:

        async def status(offset_s: int, msg_id: int) -> int:
            xml = text_xml(ACCOUNT, sender="oClock", text=f"时钟 {offset_s}", msg_id=msg_id)
            query, body = push(ACCOUNT, xml, timestamp=signed_at(offset_s))
            return (await client.post(URL, params=query, content=body)).status_code

        assert [await status(offset, 11000 + offset) for offset in (-70, 70)] == [403, 403]
        assert len(app.state.limiter) == 0  # a 4xx: not charged to the account's bucket
        # Inside the window either way: the platform's clock may be a little ahead of ours, or behind.
        assert [await status(offset, 11000 + offset) for offset in (-50, 50)] == [200, 200]
    assert len(await records(kafka_settings, 3, timeout=1.5)) == 2


async def test_a_handshake_signed_outside_the_window_is_403(client: httpx.AsyncClient) -> None:
    response = await client.get(URL, params=signed_query(ACCOUNT, timestamp=signed_at(-3600)) | {"echostr": "42"})
    assert response.status_code == 403
    assert "handshake timestamp is 360" in response.json()["detail"]


async def test_a_signed_query_is_accepted_again_with_its_body_only(
    client: httpx.AsyncClient, kafka_settings: KafkaSettings
) -> None:
    query, body = push(ACCOUNT, text_xml(ACCOUNT, sender="oCitizen12", text="路面塌陷", msg_id=12012))
    forged = text_xml(ACCOUNT, sender="oCitizen12", text="伪造的投诉", msg_id=12013).encode()
    assert (await client.post(URL, params=query, content=body)).text == "success"
    # The query captured and sent again, with a body of the sender's choosing: the signature does not cover it.
    replayed = await client.post(URL, params=query, content=forged)
    assert replayed.status_code == 403
    assert replayed.json()["detail"] == "this signed query was already used for another push"
    # Nor respelt: the signature is compared without regard to case, and a plaintext push's msg_signature is unchecked.
    for respelt in (query | {"signature": query["signature"].upper()}, query | {"msg_signature": "x"}):
        assert (await client.post(URL, params=respelt, content=forged)).status_code == 403
    # The platform's retry repeats query and body: acknowledged (and dropped as a duplicate).
    retried = await client.post(URL, params=query, content=body)
    assert (retried.status_code, retried.text) == (200, "success")
    [record] = await records(kafka_settings, 2, timeout=1.5)
    assert record.data.text == "路面塌陷"


async def test_a_signed_query_whose_push_was_refused_stays_usable(
    client: httpx.AsyncClient, kafka_settings: KafkaSettings
) -> None:
    # Refused before it was stored (here for another official account): only an accepted push uses up its query.
    query, refused = push(ELSEWHERE, text_xml(ELSEWHERE, sender="oCitizen13", text="发错了账号", msg_id=13013))
    assert (await client.post(URL, params=query, content=refused)).status_code == 403
    body = text_xml(ACCOUNT, sender="oCitizen13", text="井盖松动", msg_id=13014).encode()
    assert (await client.post(URL, params=query, content=body)).text == "success"
    forged = text_xml(ACCOUNT, sender="oCitizen13", text="伪造", msg_id=13015).encode()
    assert (await client.post(URL, params=query, content=forged)).status_code == 403
    [record] = await records(kafka_settings, 2, timeout=1.5)
    assert record.data.text == "井盖松动"
