from __future__ import annotations

import pytest
from aiokafka import AIOKafkaProducer

from inbox_dev.dlq import replay
from shared.settings import KafkaSettings
from tests.kafka_helpers import read_topic


async def test_dead_letters_go_back_to_their_topic_once(kafka_settings: KafkaSettings) -> None:
    source = kafka_settings.topics.inbox_routed
    producer = AIOKafkaProducer(bootstrap_servers=kafka_settings.bootstrap_servers, acks="all")
    await producer.start()
    for value in (b"fixed-1", b"fixed-2"):
        await producer.send_and_wait(
            f"{source}.dlq", value, key=b"k", headers=[("original_topic", source.encode()), ("reason", b"bug 42")]
        )
    await producer.stop()

    dry = await replay(
        kafka_settings.bootstrap_servers, f"{source}.dlq", dry_run=True, idle_ms=800, session_timeout_ms=2000
    )
    assert dry.replayed == 2 and dry.reasons == {"bug 42": 2}
    assert await read_topic(kafka_settings, source, expect=1, timeout=0.5) == []

    done = await replay(kafka_settings.bootstrap_servers, f"{source}.dlq", idle_ms=800, session_timeout_ms=2000)
    again = await replay(kafka_settings.bootstrap_servers, f"{source}.dlq", idle_ms=800, session_timeout_ms=2000)
    assert (done.replayed, again.replayed) == (2, 0)
    assert [r.value for r in await read_topic(kafka_settings, source, expect=2)] == [b"fixed-1", b"fixed-2"]


async def test_a_record_dead_lettered_several_times_goes_back_once(kafka_settings: KafkaSettings) -> None:
    # Its batch was retried through a database outage after the bad record had been set aside each time.
    source = kafka_settings.topics.inbox_routed
    producer = AIOKafkaProducer(bootstrap_servers=kafka_settings.bootstrap_servers, acks="all")
    await producer.start()
    for value, offset in ((b"bad", b"7"), (b"bad", b"7"), (b"bad", b"7"), (b"other", b"8")):
        origin = [("original_topic", source.encode()), ("original_partition", b"0"), ("original_offset", offset)]
        await producer.send_and_wait(f"{source}.dlq", value, key=b"k", headers=[*origin, ("reason", b"unreadable")])
    await producer.stop()
    done = await replay(kafka_settings.bootstrap_servers, f"{source}.dlq", idle_ms=800, session_timeout_ms=2000)
    assert (done.replayed, done.copies_skipped) == (2, 2)
    assert [r.value for r in await read_topic(kafka_settings, source, expect=3, timeout=1.5)] == [b"bad", b"other"]


async def test_only_dead_letter_topics_are_replayed(kafka_settings: KafkaSettings) -> None:
    with pytest.raises(ValueError, match="not a dead-letter topic"):
        await replay(kafka_settings.bootstrap_servers, kafka_settings.topics.inbox_routed)
