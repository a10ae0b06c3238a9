"""The Weibo webhook ties each push to its account: a push whose receiver_id is another account's uid is refused
when the account's uid is configured. And to its signed query: one signed too far from our clock is refused, and so
is one accepted before with another body."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from inbox_dev.simulator import weibo
from ingest_weibo.main import create_app
from ingest_weibo.settings import Settings
from shared.accounts import AccountsFileError, load_accounts
from shared.contracts.v1 import InboundMessageRecord
from shared.settings import KafkaSettings, OutboundSettings
from tests.asgi import serving
from tests.kafka_helpers import read_topic

SECRET = "s3cret"


@pytest.fixture
async def client(kafka_settings: KafkaSettings, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    accounts = tmp_path / "accounts.yaml"
    accounts.write_text(
        "accounts:\n"
        f"  - {{id: city, channel: weibo, name: 官方微博, app_secret: {SECRET}, uid: 1902538057}}\n"
        # Quoted, and beyond a double's 53 bits: compared as written.
        f"  - {{id: big, channel: weibo, name: 大号, app_secret: {SECRET}, uid: '9007199254740993'}}\n"
        f"  - {{id: open, channel: weibo, name: 未绑定, app_secret: {SECRET}}}\n",
        encoding="utf-8",
    )
    settings = Settings(accounts_file=accounts, kafka=kafka_settings, outbound=OutboundSettings(enabled=False))
    async with serving(create_app(settings)) as c:
        yield c


async def records(kafka_settings: KafkaSettings, expect: int, timeout: float = 5.0) -> list[InboundMessageRecord]:
    raw = await read_topic(kafka_settings, kafka_settings.topics.inbox_messages, expect=expect, timeout=timeout)
    return [InboundMessageRecord.from_bytes(r.value) for r in raw]


async def post(client: httpx.AsyncClient, account_id: str, receiver_id: int) -> httpx.Response:
    body = weibo.push_body(msg_type="text", sender_id=2489518277, receiver_id=receiver_id, text="文华北路修路")
    return await client.post(f"/webhooks/weibo/{account_id}", params=weibo.signed_query(SECRET), content=body)


async def test_a_push_for_another_account_is_403_and_produces_nothing(
    client: httpx.AsyncClient, kafka_settings: KafkaSettings
) -> None:
    response = await post(client, "city", 1902538058)
    assert response.status_code == 403
    assert response.json()["detail"] == "this push is for uid 1902538058, not this account's"
    assert await records(kafka_settings, 1, timeout=1.0) == []


@pytest.mark.parametrize(("account_id", "uid"), [("city", 1902538057), ("big", 9007199254740993)])
async def test_a_push_for_the_accounts_own_uid_is_produced(
    client: httpx.AsyncClient, kafka_settings: KafkaSettings, account_id: str, uid: int
) -> None:
    response = await post(client, account_id, uid)
    assert (response.status_code, response.text) == (200, "")
    [record] = await records(kafka_settings, 1)
    assert (record.data.account_id, record.data.recipient_id) == (account_id, str(uid))


async def test_without_a_uid_configured_any_receiver_is_accepted(
    client: httpx.AsyncClient, kafka_settings: KafkaSettings
) -> None:
    response = await post(client, "open", 1902538058)
    assert (response.status_code, response.text) == (200, "")
    [record] = await records(kafka_settings, 1)
    assert (record.data.account_id, record.data.recipient_id) == ("open", "1902538058")


@pytest.mark.parametrize("uid", ["weibo-city", "-1902538057", "true"])
def test_a_uid_that_is_not_one_is_refused_at_load(tmp_path: Path, uid: str) -> None:
    path = tmp_path / "accounts.yaml"
    path.write_text(f"accounts:\n  - {{id: a, channel: weibo, name: A, app_secret: s, uid: {uid}}}\n")
    with pytest.raises(AccountsFileError, match="is not a Weibo user id"):
        load_accounts(path)


def signed_at(offset_s: int, unit: str = "ms") -> str:
    """A timestamp `offset_s` from now, in milliseconds (what Weibo is seen to send) or seconds."""
    seconds = time.time() + offset_s
    return str(int(seconds * 1000) if unit == "ms" else int(seconds))


def text_push(text: str, *, sender_id: int = 2489518277) -> bytes:
    return weibo.push_body(msg_type="text", sender_id=sender_id, receiver_id=1902538057, text=text)


@pytest.mark.parametrize("unit", ["ms", "s"])
@pytest.mark.parametrize(("offset_s", "side"), [(-3600, "behind"), (3600, "ahead of")], ids=["stale", "future"])
async def test_a_push_signed_outside_the_window_is_403_with_the_reason_and_produces_nothing(
    client: httpx.AsyncClient, kafka_settings: KafkaSettings, offset_s: int, side: str, unit: str
) -> None:
    query = weibo.signed_query(SECRET, timestamp=signed_at(offset_s, unit))
    response = await client.post("/webhooks/weibo/city", params=query, content=text_push("重放的私信"))
    assert response.status_code == 403
    assert f"s {side} this server's clock, outside the 300 s window by 3" in response.json()["detail"]
    assert await records(kafka_settings, 1, timeout=1.0) == []


async def test_the_window_is_a_setting_in_either_unit(kafka_settings: KafkaSettings, tmp_path: Path) -> None:
    accounts = tmp_path / "accounts.yaml"
    accounts.write_text(f"accounts:\n  - {{id: city, channel: weibo, name: 官方微博, app_secret: {SECRET}}}\n")
    settings = Settings(
        accounts_file=accounts, kafka=kafka_settings, outbound=OutboundSettings(enabled=False), webhook_max_age_s=60
    )
    async with serving(create_app(settings)) as client:

        async def status(offset_s: int, unit: str) -> int:
            query = weibo.signed_query(SECRET, timestamp=signed_at(offset_s, unit))
            body = text_push(f"时钟 {offset_s} {unit}", sender_id=3000000000 + offset_s)
            return (await client.post("/webhooks/weibo/city", params=query, content=body)).status_code

        cases = [(offset, unit) for offset in (-70, 70, -50, 50) for unit in ("ms", "s")]
        assert [await status(*case) for case in cases] == [403] * 4 + [200] * 4
    assert len(await records(kafka_settings, 5, timeout=1.5)) == 4


async def test_a_handshake_signed_outside_the_window_is_403(client: httpx.AsyncClient) -> None:
    query = weibo.signed_query(SECRET, timestamp=signed_at(-3600)) | {"echostr": "42"}
    response = await client.get("/webhooks/weibo/city", params=query)
    assert response.status_code == 403
    assert "handshake timestamp is 360" in response.json()["detail"]


async def test_a_signed_query_is_accepted_again_with_its_body_only(
    client: httpx.AsyncClient, kafka_settings: KafkaSettings
) -> None:
    query, body = weibo.signed_query(SECRET), text_push("公园路灯不亮")
    assert (await client.post("/webhooks/weibo/city", params=query, content=body)).status_code == 200
    # The query captured and sent again, with a body of the sender's choosing: the signature does not cover it.
    replayed = await client.post("/webhooks/weibo/city", params=query, content=text_push("伪造的私信"))
    assert replayed.status_code == 403
    assert replayed.json()["detail"] == "this signed query was already used for another push"
    for respelt in (query["signature"].upper(), query["signature"] + " "):  # what the signature check forgives
        forged = text_push("伪造的私信")
        again = await client.post("/webhooks/weibo/city", params=query | {"signature": respelt}, content=forged)
        assert again.status_code == 403
    # Nor with the same body at another account the secret serves: the platform retries where it pushed.
    assert (await client.post("/webhooks/weibo/open", params=query, content=body)).status_code == 403
    # The platform's retry repeats query and body: acknowledged (and dropped as a duplicate).
    retried = await client.post("/webhooks/weibo/city", params=query, content=body)
    assert (retried.status_code, retried.text) == (200, "")
    [record] = await records(kafka_settings, 2, timeout=1.5)
    assert record.data.text == "公园路灯不亮"
