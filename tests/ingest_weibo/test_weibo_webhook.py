"""The Weibo webhook ties each push to its account: a push whose receiver_id is another account's uid is refused
when the account's uid is configured."""

from __future__ import annotations

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
