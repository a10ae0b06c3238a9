"""The consume loop on a real broker: a poison record goes to <topic>.dlq and the partition moves on; an
infrastructure outage is waited out with nothing dead-lettered."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from aiokafka import AIOKafkaProducer, ConsumerRecord
from aiokafka.errors import KafkaTimeoutError

from shared.kafka import consume_batches, make_consumer, make_producer
from shared.settings import KafkaSettings
from tests.kafka_helpers import read_topic


async def produce(kafka: KafkaSettings, topic: str, values: list[bytes]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers, acks="all")
    await producer.start()
    for value in values:
        await producer.send_and_wait(topic, value, key=b"same-key")  # one partition, in order
    await producer.stop()


async def run_until(
    kafka: KafkaSettings, topic: str, handle: Any, done: Any, timeout: float = 20, skip: tuple[int, int] | None = None
) -> None:
    """Consume until `done()`; `skip=(offset, times)` makes the broker's fetches leave that record out."""
    consumer = make_consumer(kafka, topic, group_id="test", client_id="test")
    if skip is not None:
        skipping(consumer, *skip)
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


def poison_handler(processed: list[bytes]) -> Any:
    """Handles every record but the one whose value is b"poison", which fails for a reason of its own."""

    async def handle(records: list[ConsumerRecord[Any, Any]]) -> None:
        if any(r.value == b"poison" for r in records):
            raise ValueError("cannot make a case of this")
        processed.extend(r.value for r in records)

    return handle


async def test_a_poison_record_is_dead_lettered_and_the_rest_processed(kafka_settings: KafkaSettings) -> None:
    topic = kafka_settings.topics.inbox_routed
    await produce(kafka_settings, topic, [b"one", b"poison", b"three"])
    processed: list[bytes] = []
    handle = poison_handler(processed)
    await run_until(kafka_settings, topic, handle, lambda: len(processed) >= 2)
    assert processed == [b"one", b"three"]
    [dead] = await read_topic(kafka_settings, f"{topic}.dlq", expect=1)
    headers = {k: v.decode() for k, v in dead.headers}
    assert dead.value == b"poison" and "cannot make a case of this" in headers["reason"]
    assert headers["original_offset"] == "1"


async def test_a_broker_blip_while_dead_lettering_is_waited_out(kafka_settings: KafkaSettings) -> None:
    topic = kafka_settings.topics.inbox_routed
    await produce(kafka_settings, topic, [b"one", b"poison", b"three"])
    processed: list[bytes] = []
    handle = poison_handler(processed)
    consumer = make_consumer(kafka_settings, topic, group_id="test", client_id="test")
    producer = make_producer(kafka_settings, client_id="test")
    await consumer.start()
    await producer.start()
    sends, dead_lettered, real_send = [0], [], producer.send_and_wait

    async def away_once(*args: Any, **kwargs: Any) -> Any:
        sends[0] += 1
        if sends[0] == 1:
            raise KafkaTimeoutError()  # what aiokafka raises while the broker is away
        dead_lettered.append(await real_send(*args, **kwargs))

    producer.send_and_wait = away_once
    task = asyncio.create_task(
        consume_batches(consumer, handle, settings=kafka_settings, dead_letters=producer, service="t", poison_after=2)
    )
    try:
        await produce(kafka_settings, topic, [b"four"])  # traffic after the blip is still consumed
        deadline = time.monotonic() + 20
        while not (b"four" in processed and dead_lettered) and not task.done() and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        assert not task.done(), task.exception()
        assert b"four" in processed
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await consumer.stop()
        await producer.stop()
    [dead] = await read_topic(kafka_settings, f"{topic}.dlq", expect=1)
    assert dead.value == b"poison"


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


async def test_a_lone_record_that_fails_like_everything_else_is_waited_out(kafka_settings: KafkaSettings) -> None:
    """At quiet times a batch is one record: a fault of the system (a missing column after a deploy, a bug) must
    not send each citizen's message to the dead-letter topic as it arrives. A value the database refuses does go."""
    topic = kafka_settings.topics.inbox_routed
    await produce(kafka_settings, topic, [b"lone"])
    attempts = [0]

    async def broken(records: list[ConsumerRecord[Any, Any]]) -> None:
        attempts[0] += 1
        raise AttributeError("'NoneType' object has no attribute 'department_id'")  # a bug, for every record

    await run_until(kafka_settings, topic, broken, lambda: attempts[0] >= 6)
    assert attempts[0] >= 6 and await read_topic(kafka_settings, f"{topic}.dlq", expect=1, timeout=1) == []

    from sqlalchemy.exc import IntegrityError

    async def refused(records: list[ConsumerRecord[Any, Any]]) -> None:
        raise IntegrityError("INSERT", {}, Exception("value too long for the column"))

    await run_until(kafka_settings, topic, refused, lambda: False, timeout=4)  # the same record, read again
    [dead] = await read_topic(kafka_settings, f"{topic}.dlq", expect=1)
    assert dead.value == b"lone"


def test_database_refusing_connections_counts_as_infrastructure() -> None:
    from sqlalchemy.exc import DBAPIError, IntegrityError
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    from shared.kafka import is_transient

    refusing = DBAPIError("SELECT 1", {}, Exception('database "x" is not currently accepting connections'))
    duplicate = IntegrityError("INSERT", {}, Exception("duplicate key"))
    assert is_transient(refusing) and is_transient(ConnectionRefusedError())
    assert is_transient(PoolTimeout("QueuePool limit of size 10 overflow 10 reached"))  # the API holds them all
    assert not is_transient(duplicate) and not is_transient(ValueError("bad record"))


def test_a_record_the_database_cannot_store_is_not_infrastructure() -> None:
    from sqlalchemy.exc import DBAPIError

    from shared.kafka import is_transient

    class DriverError(Exception):
        sqlstate = "22021"  # invalid byte sequence: the record's fault, however often it is tried

    assert not is_transient(DBAPIError("INSERT", {}, DriverError("invalid byte sequence")))


def skipping(consumer: Any, offset: int, times: int) -> None:
    """Make the consumer's fetches leave out the record at `offset` the first `times` times it comes back, as
    Tansu 0.6 does under concurrent producers (it answers with a batch written after one not yet readable)."""
    real = consumer.getmany
    left = [times]

    async def getmany(*args: Any, **kwargs: Any) -> dict[Any, list[ConsumerRecord[Any, Any]]]:
        fetched = await real(*args, **kwargs)
        for records in fetched.values():
            if left[0] > 0 and any(r.offset == offset for r in records):
                left[0] -= 1
                records[:] = [r for r in records if r.offset != offset]
        return {tp: rs for tp, rs in fetched.items() if rs}

    consumer.getmany = getmany


async def consume_skipping(kafka: KafkaSettings, topic: str, *, times: int, want: int, offset: int = 2) -> list[bytes]:
    processed: list[bytes] = []

    async def handle(records: list[ConsumerRecord[Any, Any]]) -> None:
        processed.extend(r.value for r in records)

    await run_until(kafka, topic, handle, lambda: len(processed) >= want, skip=(offset, times))
    return processed


async def test_a_record_the_broker_left_out_of_a_fetch_is_fetched_again(kafka_settings: KafkaSettings) -> None:
    topic = kafka_settings.topics.inbox_messages
    values = [f"m{i}".encode() for i in range(6)]
    await produce(kafka_settings, topic, values)
    # Left out of three fetches in a row, then readable: nothing lost, nothing twice, order kept.
    assert await consume_skipping(kafka_settings, topic, times=3, want=6) == values


async def test_a_record_left_out_at_the_very_start_is_fetched_again(kafka_settings: KafkaSettings) -> None:
    topic = kafka_settings.topics.inbox_messages
    values = [f"m{i}".encode() for i in range(4)]
    await produce(kafka_settings, topic, values)
    # The first fetch of a new group starts at m1: only the log's start says m0 is missing.
    assert await consume_skipping(kafka_settings, topic, times=2, want=4, offset=0) == values


async def test_a_hole_that_never_fills_is_accepted_after_the_wait(kafka_settings: KafkaSettings) -> None:
    topic = kafka_settings.topics.inbox_messages
    await produce(kafka_settings, topic, [f"m{i}".encode() for i in range(4)])
    kafka = kafka_settings.model_copy(update={"offset_gap_wait_s": 0.3})
    started = time.monotonic()
    # A compacted topic on a real Kafka has such holes for good: the consumer must not stop there.
    assert await consume_skipping(kafka, topic, times=10**6, want=3) == [b"m0", b"m1", b"m3"]
    assert time.monotonic() - started < 10


async def test_a_stop_that_arrives_as_a_commit_completes_still_stops_the_loop(kafka_settings: KafkaSettings) -> None:
    """Python 3.11's wait_for loses a cancellation that meets a completing commit; the service's shutdown then
    waited for ever on a loop that ran on (a CI run hung in an outbound test this way)."""
    topic = kafka_settings.topics.inbox_messages
    await produce(kafka_settings, topic, [b"one"])
    consumer = make_consumer(kafka_settings, topic, group_id="test", client_id="test")
    loop = asyncio.get_running_loop()
    committing, release = loop.create_future(), loop.create_future()

    async def commit(offsets: Any = None) -> None:
        committing.set_result(None)
        await release

    async def handle(records: list[ConsumerRecord[Any, Any]]) -> None:
        pass

    consumer.commit = commit
    await consumer.start()
    task = asyncio.create_task(consume_batches(consumer, handle, settings=kafka_settings))
    try:
        await asyncio.wait_for(committing, 20)
        release.set_result(None)
        task.cancel()  # the service stops just as the commit completes
        done, _ = await asyncio.wait({task}, timeout=5)
        assert task in done and task.cancelled()
    finally:
        task.cancel()
        await consumer.stop()
