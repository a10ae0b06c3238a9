"""The ceiling for "produce with acks=all": a bare aiokafka producer loop with the product's producer settings,
as many sends in flight as the webhook benchmark has connections, records the size of a real inbound record."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

from inbox_dev.simulator.wechat import WeChatAccount, text_xml
from shared.contracts.v1 import Channel, InboundMessage, InboundMessageRecord, MessageKind
from shared.kafka import ensure_topics, make_producer
from shared.settings import KafkaSettings

from .common import percentile


def inbound_record(i: int) -> tuple[bytes, bytes]:
    """(key, value) shaped exactly like what ingest-wechat produces for a text push."""
    raw = text_xml(WeChatAccount(token="t", app_id="a"), sender=f"oBench{i % 5000:05d}", text="小区门口路灯坏了好几天")
    message = InboundMessage(
        channel=Channel.WECHAT,
        account_id="city-wechat",
        platform_message_id=str(10**15 + i),
        sender_id=f"oBench{i % 5000:05d}",
        sent_at=datetime.now(UTC),
        kind=MessageKind.TEXT,
        text="小区门口路灯坏了好几天",
        raw=raw,
        raw_format="xml",
    )
    return message.contact_key.encode(), InboundMessageRecord.wrap(message, source="bench").to_bytes()


async def saturate(bootstrap: str, *, duration: float, in_flight: int) -> dict[str, float]:
    topic = "bench.producer.v1"
    await ensure_topics(bootstrap, [topic], partitions=4)
    producer = make_producer(KafkaSettings(bootstrap_servers=bootstrap), client_id="bench-producer")
    await producer.start()
    records = [inbound_record(i) for i in range(1000)]
    latencies: list[float] = []
    try:
        await producer.send_and_wait(topic, value=records[0][1], key=records[0][0])  # metadata, connections
        end = time.perf_counter() + duration

        async def worker(offset: int) -> None:
            i = offset
            while time.perf_counter() < end:
                key, value = records[i % len(records)]
                started = time.perf_counter()
                await producer.send_and_wait(topic, value=value, key=key)
                latencies.append(time.perf_counter() - started)
                i += in_flight

        await asyncio.gather(*(worker(n) for n in range(in_flight)))
    finally:
        await producer.stop()
    ms = [x * 1000 for x in latencies]
    return {"throughput": len(latencies) / duration, "p50_ms": percentile(ms, 50), "p99_ms": percentile(ms, 99)}
