"""What every ingest service refuses: example credentials in production, floods beyond any real burst, and
blaming the broker for a record that could never be produced."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic_core import PydanticSerializationError

from inbox_dev.simulator.wechat import WeChatAccount, push, text_xml
from ingest_wechat.main import create_app
from ingest_wechat.settings import Settings
from shared.contracts.v1 import Channel, InboundMessage, InboundMessageRecord, MessageKind
from shared.ingest import InboundPublisher
from shared.kafka import make_producer, stop_quietly
from shared.ratelimit import RateLimiter
from shared.settings import KafkaSettings, Mode, OutboundSettings
from tests.asgi import serving
from tests.kafka_helpers import read_topic


def test_the_bucket_allows_a_burst_then_the_steady_rate() -> None:
    limiter = RateLimiter(rate=10, burst=3)
    assert [limiter.take("a") for _ in range(3)] == [0, 0, 0]
    assert 0 < limiter.take("a") <= 0.1
    assert limiter.take("b") == 0  # accounts do not share a bucket


def test_a_look_at_the_bucket_uses_nothing_and_a_charge_is_paid_even_when_it_overdraws() -> None:
    limiter = RateLimiter(rate=0.01, burst=2)
    assert [limiter.peek("a") for _ in range(5)] == [0] * 5
    assert len(limiter) == 0  # nothing charged, no bucket made
    for _ in range(3):  # three let in together while the bucket held two: all three are paid for
        limiter.charge("a")
    assert limiter.peek("a") > 100  # a token in debt: two tokens to wait for at 0.01/s


async def test_production_refuses_the_example_credentials(kafka_settings: KafkaSettings) -> None:
    settings = Settings(
        mode=Mode.PRODUCTION,
        accounts_file=Path("config/accounts.example.yaml"),
        kafka=kafka_settings,
        outbound=OutboundSettings(enabled=False),
    )
    with pytest.raises(RuntimeError, match=r"example credentials: wechat:city-wechat\.token") as refused:
        async with serving(create_app(settings)):
            pass
    # Also what the example sets for local runs only: its recipient id would refuse every genuine push (403),
    # and its api_base sends replies to a fake platform on this machine.
    assert "wechat:city-wechat.original_id" in str(refused.value)
    assert "wechat:city-wechat.api_base" in str(refused.value)


def limited(kafka_settings: KafkaSettings, tmp_path: Path, **limits: Any) -> Settings:
    """ingest-wechat with one account, `city` (token `tok`), and the flood limits given."""
    accounts = tmp_path / "accounts.yaml"
    accounts.write_text("accounts:\n  - {id: city, channel: wechat, name: c, token: tok, app_id: wx1}\n")
    return Settings(accounts_file=accounts, kafka=kafka_settings, outbound=OutboundSettings(enabled=False), **limits)


async def test_a_flood_on_one_account_gets_429_with_retry_after(kafka_settings: KafkaSettings, tmp_path: Path) -> None:
    settings = limited(kafka_settings, tmp_path, webhook_rate_per_account=1, webhook_burst_per_account=2)
    account = WeChatAccount(token="tok", app_id="wx1")
    app = create_app(settings)
    async with serving(app) as client:
        codes = []
        for i in range(3):
            query, body = push(account, text_xml(account, sender="o1", text="x", msg_id=100 + i))
            response = await client.post("/webhooks/wechat/city", params=query, content=body)
            codes.append(response.status_code)
        assert codes == [200, 200, 429]
        assert int(response.headers["retry-after"]) >= 1
        # Made-up accounts are not found, and get no bucket each: memory stays bounded by the accounts file.
        for i in range(20):
            query, body = push(account, text_xml(account, sender="o1", text="x", msg_id=200 + i))
            assert (await client.post(f"/webhooks/wechat/nobody-{i}", params=query, content=body)).status_code == 404
        assert len(app.state.limiter) == 1


async def test_forged_pushes_do_not_use_up_the_accounts_bucket(kafka_settings: KafkaSettings, tmp_path: Path) -> None:
    settings = limited(
        kafka_settings,
        tmp_path,
        max_body_bytes=1024,
        webhook_rate_per_account=0.01,  # nothing refills during the test
        webhook_burst_per_account=2,
    )
    account = WeChatAccount(token="tok", app_id="wx1")
    forger = WeChatAccount(token="guessed", app_id="wx1")
    async with serving(create_app(settings)) as client:

        async def forged(text: str) -> int:
            query, body = push(forger, text_xml(forger, sender="oForger", text=text))
            return (await client.post("/webhooks/wechat/city", params=query, content=body)).status_code

        assert [await forged("伪造") for _ in range(10)] == [403] * 10  # five times the burst
        # Too big to be read, so refused before the signature could be checked: no more proof of origin.
        assert [await forged("长" * 1000) for _ in range(10)] == [413] * 10
        query, body = push(account, text_xml(account, sender="o1", text="路灯不亮", msg_id=500))
        genuine = await client.post("/webhooks/wechat/city", params=query, content=body)
        assert (genuine.status_code, genuine.text) == (200, "success")
    [record] = await read_topic(kafka_settings, kafka_settings.topics.inbox_messages, expect=1)
    assert InboundMessageRecord.from_bytes(record.value).data.text == "路灯不亮"


async def test_a_record_that_cannot_be_serialised_is_not_reported_as_a_broker_outage(
    kafka_settings: KafkaSettings,
) -> None:
    producer = make_producer(kafka_settings, client_id="test-guards")
    await producer.start()
    try:
        publisher = InboundPublisher(producer, topic=kafka_settings.topics.inbox_messages, source="test")
        # model_construct skips the contract's validation, as a bug before it would: half an emoji is left in.
        broken = InboundMessage.model_construct(
            channel=Channel.WEIBO,
            account_id="city",
            platform_message_id="1",
            sender_id="1",
            sent_at=datetime.now(UTC),
            kind=MessageKind.TEXT,
            text="\ud83d",
        )
        with pytest.raises(PydanticSerializationError):  # a 500 and a traceback, not a 503 "broker down"
            await publisher.publish(broken)
    finally:
        await stop_quietly(producer)
    assert await read_topic(kafka_settings, kafka_settings.topics.inbox_messages, expect=1, timeout=0.5) == []
