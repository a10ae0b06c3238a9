"""The router as a service on a real broker: inbound records in, routed records out, bad records dead-lettered."""

from __future__ import annotations

from pathlib import Path

from aiokafka import AIOKafkaProducer

from inbox_dev.broker import Broker
from inbox_dev.ports import free_port
from router.main import create_app
from router.settings import Settings
from shared.contracts.v1 import (
    Channel,
    InboundMessage,
    InboundMessageRecord,
    MessageKind,
    RoutedMessageRecord,
    utcnow,
)
from shared.kafka import ensure_topics
from shared.settings import KafkaSettings
from tests.asgi import serving
from tests.conftest import kafka_settings_for
from tests.kafka_helpers import read_topic


async def produce(kafka: KafkaSettings, items: list[tuple[bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers, acks="all")
    await producer.start()
    try:
        for key, value in items:
            await producer.send_and_wait(kafka.topics.inbox_messages, value=value, key=key)
    finally:
        await producer.stop()


def inbound(text: str, msg_id: str) -> InboundMessageRecord:
    message = InboundMessage(
        channel=Channel.WEIBO,
        account_id="city-weibo",
        platform_message_id=msg_id,
        sender_id="2489518277",
        sent_at=utcnow(),
        kind=MessageKind.TEXT,
        text=text,
    )
    return InboundMessageRecord.wrap(
        message, source="test", trace="00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    )


async def test_routes_messages_and_dead_letters_garbage(kafka_settings: KafkaSettings) -> None:
    good = inbound("公司拖欠工资三个月了", "m1")
    await produce(
        kafka_settings,
        [(b"k", good.to_bytes()), (b"k", b"{not json"), (b"k", inbound("你好", "m2").to_bytes())],
    )
    settings = Settings(kafka=kafka_settings, taxonomy_file=Path("config/taxonomy.yaml"))
    async with serving(create_app(settings)) as client:
        routed_raw = await read_topic(kafka_settings, kafka_settings.topics.inbox_routed, expect=2)
        dead = await read_topic(kafka_settings, kafka_settings.topics.inbox_messages + ".dlq", expect=1)
        health = await client.get("/healthz")
        metrics = (await client.get("/metrics")).text
    routed = [RoutedMessageRecord.from_bytes(r.value) for r in routed_raw]
    assert [r.data.message.platform_message_id for r in routed] == ["m1", "m2"]
    assert routed[0].data.decision.department == "hr-social"
    assert routed[0].trace == good.trace  # the trace follows the message
    assert routed_raw[0].key == b"weibo:city-weibo:2489518277"
    assert routed[1].data.decision.department is None
    assert len(dead) == 1 and dead[0].value == b"{not json"
    headers = {k: v.decode() for k, v in dead[0].headers}
    assert "Invalid JSON" in headers["reason"]
    assert headers["original_topic"] == kafka_settings.topics.inbox_messages
    assert headers["consumer"] == "router"
    assert health.status_code == 200
    assert "inbox_router_decisions_total" in metrics


async def test_health_turns_503_when_the_broker_goes_away(tmp_path: Path) -> None:
    broker = Broker(free_port(), log_path=tmp_path / "broker.log")
    broker.start()
    try:
        kafka = kafka_settings_for(broker)
        await ensure_topics(kafka.bootstrap_servers, kafka.topics.all(), partitions=1)
        async with serving(create_app(Settings(kafka=kafka, taxonomy_file=Path("config/taxonomy.yaml")))) as client:
            assert (await client.get("/healthz")).status_code == 200
            broker.stop()
            response = await client.get("/healthz")
            assert response.status_code == 503
            assert response.json()["checks"]["broker"] == "unreachable"
    finally:
        broker.stop()
