"""Kafka helpers every service uses: producer/consumer factories, topic creation, the batch consume loop.

Delivery rules (DESIGN: Non-negotiables): producers wait for acks=all; consumers commit offsets only after
their batch is durable, and on failure rewind to the batch start so nothing is skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.client import AIOKafkaClient
from aiokafka.errors import IllegalStateError, TopicAlreadyExistsError
from aiokafka.structs import OffsetAndMetadata
from pydantic import BaseModel, ValidationError

from .settings import KafkaSettings
from .topics import dead_letter_topic

log = structlog.get_logger(__name__)

ModelT = TypeVar("ModelT", bound=BaseModel)
T = TypeVar("T")
Record = ConsumerRecord  # aiokafka's record: .topic .partition .offset .key .value .headers


def make_producer(settings: KafkaSettings, *, client_id: str) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=settings.bootstrap_servers,
        client_id=client_id,
        acks="all",
        enable_idempotence=settings.enable_idempotence,
        linger_ms=settings.linger_ms,
        request_timeout_ms=settings.request_timeout_ms,
    )


def make_consumer(settings: KafkaSettings, *topics: str, group_id: str, client_id: str) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        *topics,
        bootstrap_servers=settings.bootstrap_servers,
        client_id=client_id,
        group_id=group_id,
        enable_auto_commit=False,
        # "latest" is unreliable on Tansu (KAFKA-LOCAL.md) and a new group must not skip a backlog anyway.
        auto_offset_reset="earliest",
        fetch_max_wait_ms=settings.fetch_max_wait_ms,
        session_timeout_ms=settings.session_timeout_ms,
        heartbeat_interval_ms=settings.heartbeat_interval_ms,
        max_poll_records=settings.max_poll_records,
    )


async def ensure_topics(bootstrap_servers: str, names: Iterable[str], *, partitions: int) -> None:
    """Create topics explicitly with a fixed partition count (auto-creation differs between brokers)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [NewTopic(n, num_partitions=partitions, replication_factor=1) for n in names if n not in existing]
        if missing:
            try:
                await admin.create_topics(missing)
            except TopicAlreadyExistsError:
                pass  # another process won the race
    finally:
        await admin.close()


async def broker_reachable(client: AIOKafkaClient, *, timeout: float = 2.0) -> bool:
    try:
        await asyncio.wait_for(client.fetch_all_metadata(), timeout)
    except Exception:
        return False
    return True


async def publish_many(producer: AIOKafkaProducer, topic: str, items: Sequence[tuple[str, bytes]]) -> None:
    """Send a batch and wait until the broker acknowledged every record (acks=all)."""
    futures = [await producer.send(topic, value=value, key=key.encode()) for key, value in items]
    if futures:
        await asyncio.gather(*futures)


@dataclass(frozen=True)
class Parsed(Generic[ModelT]):
    record: ConsumerRecord[Any, Any]
    value: ModelT


async def parse_or_dead_letter(
    records: Sequence[ConsumerRecord[Any, Any]],
    model: type[ModelT],
    *,
    producer: AIOKafkaProducer,
    service: str,
) -> list[Parsed[ModelT]]:
    """Parse each record; one that cannot be parsed goes to `<topic>.dlq` with the reason, never dropped."""
    good: list[Parsed[ModelT]] = []
    bad: list[tuple[ConsumerRecord[Any, Any], str]] = []
    for record in records:
        try:
            good.append(Parsed(record, model.model_validate_json(record.value)))
        except (ValidationError, ValueError, TypeError) as exc:
            bad.append((record, str(exc)[:2000]))
    for record, reason in bad:
        log.warning("dead_letter", topic=record.topic, offset=record.offset, reason=reason[:200])
        await _dead_letter(producer, record, reason, service)
    return good


BatchHandler = Callable[[list[ConsumerRecord[Any, Any]]], Awaitable[None]]
Fetched = dict[TopicPartition, list[ConsumerRecord[Any, Any]]]


class OffsetContinuity:
    """Hands on only records that follow, without a hole, the last record handed on from their partition.

    Tansu 0.6 (the embedded broker) can answer a fetch with a record batch written after one it has not made
    readable yet: three producers writing one partition, the consumer got offsets 38, 40, 41 … and never 39
    (about 1 record in 10,000 at 200 messages/s; benchmarks/NOTES.md). aiokafka accepts a fetch that starts
    past the requested offset, because Kafka's compaction legitimately leaves holes, so the record would be lost
    without a word. Here the partition is sent back to the hole and fetched again until the record appears.
    Our topics are neither compacted nor transactional, so a hole that lasts `give_up_s` is logged and accepted
    (a real Kafka topic someone compacted must not stop the consumer).
    """

    def __init__(self, consumer: AIOKafkaConsumer, *, give_up_s: float) -> None:
        self._consumer = consumer
        self._give_up_s = give_up_s
        self._next: dict[TopicPartition, int] = {}
        self._hole: dict[TopicPartition, tuple[int, float]] = {}  # the offset waited for, since when
        self._asked: dict[TopicPartition, int] = {}  # what `_next` was when the group's commit was last asked
        self.holes = False  # whether the last check sent a partition back to a hole

    async def check(self, fetched: Fetched) -> Fetched:
        self.holes = False
        if self._give_up_s <= 0:  # switched off (KAFKA_OFFSET_GAP_WAIT_S=0)
            return fetched
        usable: Fetched = {}
        for tp, records in fetched.items():
            position = await self._expected(tp, records[0].offset)
            kept: list[ConsumerRecord[Any, Any]] = []
            for record in records:
                if record.offset > position and self._wait_for(tp, position):
                    with contextlib.suppress(IllegalStateError):  # revoked meanwhile: its new owner carries on
                        self._consumer.seek(tp, position)
                    self.holes = True
                    break
                kept.append(record)  # in order, or after a hole given up on
                position = record.offset + 1
            else:
                self._hole.pop(tp, None)
            if kept:
                usable[tp] = kept
                self._next[tp] = position
        return usable

    def rewind(self, tp: TopicPartition, offset: int) -> None:
        """The batch failed and the partition goes back to `offset`: expect that next."""
        self._next[tp] = offset

    async def _expected(self, tp: TopicPartition, first: int) -> int:
        """Where this fetch should start. Asks the group's committed offset when this consumer has not handed
        anything on from the partition yet (a hole at the very start counts too), and when the fetch starts past
        where it left off: another member may have handled those records meanwhile (a rebalance)."""
        expected = self._next.get(tp)
        if expected is not None and first <= expected:
            return expected
        if expected is not None and self._asked.get(tp) == expected:
            return expected  # asked already for this hole: no OffsetFetch per re-fetch
        committed = await self._ask(self._consumer.committed(tp))
        if expected is not None:
            self._asked[tp] = expected
            return expected if committed is None else max(expected, committed)
        if committed is None:  # a new group starts at the log's start ("earliest")
            start = await self._ask(self._consumer.beginning_offsets([tp]))
            committed = start.get(tp) if start else None
        return first if committed is None else committed

    @staticmethod
    async def _ask(request: Awaitable[T]) -> T | None:
        try:  # aiokafka retries a missing coordinator for ever: do not let that stop the loop
            async with asyncio.timeout(2.0):
                return await request
        except Exception:
            return None

    def _wait_for(self, tp: TopicPartition, missing: int) -> bool:
        """Whether to fetch the hole again (True) or accept it (False, after `give_up_s` on that same offset)."""
        now = time.monotonic()
        waited_for, since = self._hole.get(tp, (missing, now))
        if waited_for != missing:
            since = now
        self._hole[tp] = (missing, since)
        if now - since < self._give_up_s:
            return True
        del self._hole[tp]
        log.warning("offset_gap_accepted", topic=tp.topic, partition=tp.partition, missing_offset=missing)
        return False


def _sqlstate(exc: BaseException) -> str | None:
    seen: BaseException | None = exc
    for _ in range(5):  # SQLAlchemy wraps the adapter's error, which wraps the driver's
        if seen is None:
            return None
        if state := getattr(seen, "sqlstate", None):
            return str(state)
        seen = getattr(seen, "orig", None) or seen.__cause__
    return None


def _refused_value(exc: BaseException) -> bool:
    """A value the database refuses (SQLSTATE classes 22 data, 23 integrity): the record's own fault."""
    from sqlalchemy.exc import DataError, IntegrityError

    return isinstance(exc, DataError | IntegrityError) or str(_sqlstate(exc) or "").startswith(("22", "23"))


class RetryBatchLater(Exception):
    """A handler finished part of its batch and wants the whole batch again after a while (its own bookkeeping
    skips the finished part): waited out like an outage, never dead-lettered."""


def is_transient(exc: BaseException) -> bool:
    """Infrastructure trouble (database or broker unreachable, refusing connections, timeouts) that waiting
    will cure, as opposed to a record that fails however often it is tried (bad data, constraint violations)."""
    from aiokafka.errors import KafkaError
    from sqlalchemy.exc import DataError, DBAPIError, DisconnectionError, IntegrityError, ProgrammingError
    from sqlalchemy.exc import TimeoutError as PoolTimeout  # no free connection: the API busy, not the record

    if isinstance(exc, OSError | TimeoutError | KafkaError | DisconnectionError | PoolTimeout | RetryBatchLater):
        return True
    if isinstance(exc, DBAPIError):
        # Drivers report an unreachable or refusing database in many ways; what a record itself can cause is
        # a narrow set (SQLSTATE classes 22 data, 23 integrity, 42 syntax), so the rest is infrastructure.
        if isinstance(exc, IntegrityError | DataError | ProgrammingError):
            return False
        return not str(_sqlstate(exc) or "").startswith(("22", "23", "42"))
    return bool(getattr(exc, "connection_invalidated", False))


async def _dead_letter(producer: AIOKafkaProducer, record: ConsumerRecord[Any, Any], reason: str, service: str) -> None:
    headers = [
        ("reason", reason[:2000].encode()),
        ("original_topic", record.topic.encode()),
        ("original_partition", str(record.partition).encode()),
        ("original_offset", str(record.offset).encode()),
        ("consumer", service.encode()),
    ]
    await producer.send_and_wait(dead_letter_topic(record.topic), value=record.value, key=record.key, headers=headers)


async def _isolate_poison(
    records: list[ConsumerRecord[Any, Any]], handle: BatchHandler, producer: AIOKafkaProducer, service: str
) -> bool:
    """Retry a failing batch record by record; dead-letter the records that fail for a reason of their own.

    Returns False (dead-letter nothing) when any failure looks like infrastructure: then the whole batch is
    retried later, so a database outage never empties a topic into its dead-letter queue. Nor when nothing went
    through: every record failing is a systemic problem (a code or schema fault after a deploy, a model that cannot
    predict), however the error reads; a lone record (the usual batch at quiet times) is dead-lettered only for a
    value the database refuses. Records that fail while others pass are bad records.
    """
    poison: list[tuple[ConsumerRecord[Any, Any], BaseException]] = []
    for record in records:
        try:
            await handle([record])
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if is_transient(exc):
                return False
            poison.append((record, exc))
    if len(poison) == len(records) and (len(records) > 1 or not _refused_value(poison[0][1])):
        return False  # keep retrying: the next record to arrive shows whether anything can go through
    for record, error in poison:
        log.error("dead_letter_after_retries", topic=record.topic, offset=record.offset, error=repr(error)[:300])
        await _dead_letter(producer, record, f"processing failed: {error!r}", service)
    return True


async def consume_batches(
    consumer: AIOKafkaConsumer,
    handle: BatchHandler,
    *,
    settings: KafkaSettings,
    max_records: int | None = None,
    on_idle: Callable[[], Awaitable[None]] | None = None,
    dead_letters: AIOKafkaProducer | None = None,
    service: str = "",
    poison_after: int = 3,
) -> None:
    """Fetch → handle → commit, forever. Offsets move only after `handle` returned (its work is durable).

    A batch that keeps failing is retried with backoff; after `poison_after` tries, with `dead_letters` given,
    its records are tried one by one and those that fail on their own go to `<topic>.dlq`, so one bad record
    cannot stop a partition. Infrastructure failures are never dead-lettered: they are waited out.
    """
    backoff = 0.2
    failures = 0
    continuity = OffsetContinuity(consumer, give_up_s=settings.offset_gap_wait_s)
    while True:
        fetched = await consumer.getmany(timeout_ms=500, max_records=max_records or settings.max_poll_records)
        batches = await continuity.check(fetched)
        if continuity.holes:
            await asyncio.sleep(0.01)  # give the broker a moment before the partition is fetched again
        if not batches:
            if on_idle is not None and not fetched:
                await on_idle()
            continue
        records = [r for partition_records in batches.values() for r in partition_records]
        try:
            await handle(records)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            failures += 1
            try:
                isolated = (
                    dead_letters is not None
                    and failures >= poison_after
                    and not is_transient(exc)
                    and await _isolate_poison(records, handle, dead_letters, service)
                )
            except asyncio.CancelledError:
                raise
            except Exception as isolating:  # the broker away while dead-lettering: waited out like any outage
                log.warning("dead_letter_failed_will_retry", error=repr(isolating)[:300])
                isolated = False
            if not isolated:
                if isinstance(exc, RetryBatchLater):  # expected: the handler said when to come back, roughly
                    log.info("batch_deferred", records=len(records), backoff_s=backoff, reason=str(exc))
                else:
                    log.warning(
                        "batch_failed_will_retry", records=len(records), backoff_s=backoff, error=repr(exc)[:300]
                    )
                for tp, partition_records in batches.items():
                    with contextlib.suppress(IllegalStateError):  # revoked while handling: its new owner retries
                        consumer.seek(tp, partition_records[0].offset)
                        continuity.rewind(tp, partition_records[0].offset)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
                continue
        backoff, failures = 0.2, 0
        offsets = {
            TopicPartition(tp.topic, tp.partition): OffsetAndMetadata(rs[-1].offset + 1, "")
            for tp, rs in batches.items()
        }
        try:
            # A broker that lost its state can make commit retry forever (KAFKA-LOCAL.md): bound it. Not with
            # wait_for: on Python 3.11 it loses a cancellation that arrives as the commit completes, and the
            # loop then runs on after its service was told to stop (a shutdown that never ends).
            async with asyncio.timeout(settings.commit_timeout_s):
                await consumer.commit(offsets)
        except Exception as exc:  # the work is durable and idempotent; a redelivery is harmless
            log.warning("commit_failed", error=repr(exc))


async def stop_quietly(*clients: AIOKafkaConsumer | AIOKafkaProducer, timeout: float = 10.0) -> None:
    """Shut clients down even when the broker is gone: aiokafka may then raise (even CancelledError) from
    in-flight fetches, and a shutdown must still release everything else."""
    for client in clients:
        try:
            await asyncio.wait_for(client.stop(), timeout)
        except (Exception, asyncio.CancelledError) as exc:
            log.warning("kafka_client_stop_failed", client=type(client).__name__, error=repr(exc))
