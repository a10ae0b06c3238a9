"""Reading a topic from the beginning, the way another system consuming our events would."""

from __future__ import annotations

import asyncio
import time

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from shared.settings import KafkaSettings


async def read_topic(
    settings: KafkaSettings, topic: str, *, expect: int, timeout: float = 10.0
) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record on `topic` until `expect` arrived or `timeout` passed (then returns what it has)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers, enable_auto_commit=False, fetch_max_wait_ms=20
    )
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        if not partitions:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        records: list[ConsumerRecord[bytes, bytes]] = []
        deadline = time.monotonic() + timeout
        while len(records) < expect and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for rs in batch.values():
                records.extend(rs)
        return records
    finally:
        await consumer.stop()


async def settle(seconds: float = 0.5) -> None:
    """Give a consumer time to (not) act before asserting that nothing happened."""
    await asyncio.sleep(seconds)
