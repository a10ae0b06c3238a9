"""What every ingest service refuses: example credentials in production, and floods beyond any real burst."""

from __future__ import annotations

from pathlib import Path

import pytest

from inbox_dev.simulator.wechat import WeChatAccount, push, text_xml
from ingest_wechat.main import create_app
from ingest_wechat.settings import Settings
from shared.ratelimit import RateLimiter
from shared.settings import KafkaSettings, Mode, OutboundSettings
from tests.asgi import serving


def test_the_bucket_allows_a_burst_then_the_steady_rate() -> None:
    limiter = RateLimiter(rate=10, burst=3)
    assert [limiter.take("a") for _ in range(3)] == [0, 0, 0]
    assert 0 < limiter.take("a") <= 0.1
    assert limiter.take("b") == 0  # accounts do not share a bucket


async def test_production_refuses_the_example_credentials(kafka_settings: KafkaSettings) -> None:
    settings = Settings(
        mode=Mode.PRODUCTION,
        accounts_file=Path("config/accounts.example.yaml"),
        kafka=kafka_settings,
        outbound=OutboundSettings(enabled=False),
    )
    with pytest.raises(RuntimeError, match=r"example credentials: wechat:city-wechat\.token"):
        async with serving(create_app(settings)):
            pass


async def test_a_flood_on_one_account_gets_429_with_retry_after(kafka_settings: KafkaSettings, tmp_path: Path) -> None:
    accounts = tmp_path / "accounts.yaml"
    accounts.write_text("accounts:\n  - {id: city, channel: wechat, name: c, token: tok, app_id: wx1}\n")
    settings = Settings(
        accounts_file=accounts,
        kafka=kafka_settings,
        outbound=OutboundSettings(enabled=False),
        webhook_rate_per_account=1,
        webhook_burst_per_account=2,
    )
    account = WeChatAccount(token="tok", app_id="wx1")
    async with serving(create_app(settings)) as client:
        codes = []
        for i in range(3):
            query, body = push(account, text_xml(account, sender="o1", text="x", msg_id=100 + i))
            response = await client.post("/webhooks/wechat/city", params=query, content=body)
            codes.append(response.status_code)
        assert codes == [200, 200, 429]
        assert int(response.headers["retry-after"]) >= 1
