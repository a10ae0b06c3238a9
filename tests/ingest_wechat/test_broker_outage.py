"""When the broker cannot acknowledge, the platform must get a 5xx (so it retries), never `success`."""

from __future__ import annotations

from pathlib import Path

from inbox_dev.broker import Broker
from inbox_dev.ports import free_port
from inbox_dev.simulator.wechat import WeChatAccount, push, text_xml
from ingest_wechat.main import create_app
from ingest_wechat.settings import Settings
from shared.kafka import ensure_topics
from shared.settings import OutboundSettings
from tests.asgi import serving
from tests.conftest import kafka_settings_for

ACCOUNT = WeChatAccount(token="tok-outage", app_id="wxoutage")


async def test_broker_down_means_503_and_unhealthy(tmp_path: Path) -> None:
    accounts = tmp_path / "accounts.yaml"
    accounts.write_text("accounts:\n  - {id: city, channel: wechat, name: c, token: tok-outage, app_id: wxoutage}\n")
    broker = Broker(free_port(), log_path=tmp_path / "broker.log")
    broker.start()
    try:
        kafka = kafka_settings_for(broker).model_copy(update={"request_timeout_ms": 1500})
        await ensure_topics(kafka.bootstrap_servers, kafka.topics.all(), partitions=1)
        # Webhooks only: this test is about answering the platform while the broker is gone.
        settings = Settings(accounts_file=accounts, kafka=kafka, outbound=OutboundSettings(enabled=False))
        async with serving(create_app(settings)) as client:
            query, body = push(ACCOUNT, text_xml(ACCOUNT, sender="o1", text="停水了", msg_id=1))
            assert (await client.post("/webhooks/wechat/city", params=query, content=body)).text == "success"
            broker.stop()
            query, body = push(ACCOUNT, text_xml(ACCOUNT, sender="o1", text="还是停水", msg_id=2))
            response = await client.post("/webhooks/wechat/city", params=query, content=body)
            assert response.status_code == 503
            assert "retry" in response.json()["detail"]
            assert (await client.get("/healthz")).status_code == 503
    finally:
        broker.stop()
