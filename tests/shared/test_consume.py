"""The consume loop on a real broker: a poison record goes to <topic>.dlq and the partition moves on; an
infrastructure outage is waited out with nothing dead-lettered."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from aiokafka import AIOKafkaProducer, ConsumerRecord

from shared.kafka import consume_batches, make_consumer, make_producer
from shared.settings import KafkaSettings
from tests.kafka_helpers import read_topic


async def produce(kafka: KafkaSettings, topic: str, values: list[bytes]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers, acks="all")
    await producer.start()
    for value in values:
        await producer.send_and_wait(topic, value, key=b"same-key")  # one partition, in order
    await producer.stop()


async def run_until(kafka: KafkaSettings, topic: str, handle: Any, done: Any, timeout: float = 20) -> None:
    consumer = make_consumer(kafka, topic, group_id="test", client_id="test")
    producer = make_producer(kafka, client_id="test")
    await consumer.start()
    await producer.start()
    task = asyncio.create_task(
        consume_batches(consumer, handle, settings=kafka, dead_letters=producer, service="test", poison_after=2)
    )
    deadline = time.monotonic() + timeout
    try:
        while not done() and time.monotonic() < deadline:  # noqa: ASYNC110 - polling a test condition
            await asyncio.sleep(0.05)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await consumer.stop()
        await producer.stop()


async def test_a_poison_record_is_dead_lettered_and_the_rest_processed(kafka_settings: KafkaSettings) -> None:
    topic = kafka_settings.topics.inbox_routed
    await produce(kafka_settings, topic, [b"one", b"poison", b"three"])
    processed: list[bytes] = []

    async def handle(records: list[ConsumerRecord[Any, Any]]) -> None:
        if any(r.value == b"poison" for r in records):
            raise ValueError("cannot make a case of this")
        processed.extend(r.value for r in records)

    await run_until(kafka_settings, topic, handle, lambda: len(processed) >= 2)
    assert processed == [b"one", b"three"]
    [dead] = await read_topic(kafka_settings, f"{topic}.dlq", expect=1)
    headers = {k: v.decode() for k, v in dead.headers}
    assert dead.value == b"poison" and "cannot make a case of this" in headers["reason"]
    assert headers["original_offset"] == "1"


async def test_an_outage_is_waited_out_without_dead_letters(kafka_settings: KafkaSettings) -> None:
    topic = kafka_settings.topics.inbox_routed
    await produce(kafka_settings, topic, [b"a", b"b"])
    processed: list[bytes] = []
    attempts = 0

    async def handle(records: list[ConsumerRecord[Any, Any]]) -> None:
        nonlocal attempts
        attempts += 1
        if attempts <= 4:  # the database is down for the first tries
            raise ConnectionRefusedError("database unreachable")
        processed.extend(r.value for r in records)

    await run_until(kafka_settings, topic, handle, lambda: len(processed) >= 2)
    assert processed == [b"a", b"b"]
    assert await read_topic(kafka_settings, f"{topic}.dlq", expect=1, timeout=1) == []


def test_database_refusing_connections_counts_as_infrastructure() -> None:
    from sqlalchemy.exc import DBAPIError, IntegrityError

    from shared.kafka import is_transient

    refusing = DBAPIError("SELECT 1", {}, Exception('database "x" is not currently accepting connections'))
    duplicate = IntegrityError("INSERT", {}, Exception("duplicate key"))
    assert is_transient(refusing) and is_transient(ConnectionRefusedError())
    assert not is_transient(duplicate) and not is_transient(ValueError("bad record"))


def test_a_record_the_database_cannot_store_is_not_infrastructure() -> None:
    from sqlalchemy.exc import DBAPIError

    from shared.kafka import is_transient

    class DriverError(Exception):
        sqlstate = "22021"  # invalid byte sequence: the record's fault, however often it is tried

    assert not is_transient(DBAPIError("INSERT", {}, DriverError("invalid byte sequence")))
