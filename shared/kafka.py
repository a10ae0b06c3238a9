"""Kafka helpers every service uses: producer/consumer factories, topic creation, the batch consume loop.

Delivery rules (DESIGN: Non-negotiables): producers wait for acks=all; consumers commit offsets only after
their batch is durable, and on failure rewind to the batch start so nothing is skipped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.client import AIOKafkaClient
from aiokafka.errors import TopicAlreadyExistsError
from aiokafka.structs import OffsetAndMetadata
from pydantic import BaseModel, ValidationError

from .settings import KafkaSettings
from .topics import dead_letter_topic

log = structlog.get_logger(__name__)

ModelT = TypeVar("ModelT", bound=BaseModel)
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


def _sqlstate(exc: BaseException) -> str | None:
    seen: BaseException | None = exc
    for _ in range(5):  # SQLAlchemy wraps the adapter's error, which wraps the driver's
        if seen is None:
            return None
        if state := getattr(seen, "sqlstate", None):
            return str(state)
        seen = getattr(seen, "orig", None) or seen.__cause__
    return None


def is_transient(exc: BaseException) -> bool:
    """Infrastructure trouble (database or broker unreachable, refusing connections, timeouts) that waiting
    will cure, as opposed to a record that fails however often it is tried (bad data, constraint violations)."""
    from aiokafka.errors import KafkaError
    from sqlalchemy.exc import DataError, DBAPIError, DisconnectionError, IntegrityError, ProgrammingError

    if isinstance(exc, OSError | TimeoutError | KafkaError | DisconnectionError):
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
    retried later, so a database outage never empties a topic into its dead-letter queue.
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
    if len(records) > 1 and len(poison) == len(records):
        return False  # everything failing alike is a systemic problem, not bad records: keep retrying
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
    while True:
        batches = await consumer.getmany(timeout_ms=500, max_records=max_records or settings.max_poll_records)
        if not batches:
            if on_idle is not None:
                await on_idle()
            continue
        records = [r for partition_records in batches.values() for r in partition_records]
        try:
            await handle(records)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            failures += 1
            isolated = (
                dead_letters is not None
                and failures >= poison_after
                and not is_transient(exc)
                and await _isolate_poison(records, handle, dead_letters, service)
            )
            if not isolated:
                log.warning("batch_failed_will_retry", records=len(records), backoff_s=backoff, error=repr(exc)[:300])
                for tp, partition_records in batches.items():
                    consumer.seek(tp, partition_records[0].offset)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
                continue
        backoff, failures = 0.2, 0
        offsets = {
            TopicPartition(tp.topic, tp.partition): OffsetAndMetadata(rs[-1].offset + 1, "")
            for tp, rs in batches.items()
        }
        try:
            # A broker that lost its state can make commit retry forever (KAFKA-LOCAL.md): bound it.
            await asyncio.wait_for(consumer.commit(offsets), settings.commit_timeout_s)
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
