"""Replaying a dead-letter topic: after the cause is fixed, send its records back where they came from.

Runs as a consumer group of its own ("dead-letter-replay"), so a record is replayed once even if the command
is run again; `--dry-run` only lists what would be replayed. One original record dead-lettered several times (its
batch was retried through an outage after the bad record had been set aside) goes back once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import OffsetAndMetadata

from shared.topics import DLQ_SUFFIX


@dataclass
class ReplayResult:
    replayed: int = 0
    copies_skipped: int = 0  # further dead letters of a record already replayed in this run
    reasons: dict[str, int] = field(default_factory=dict)


async def replay(
    bootstrap_servers: str,
    dlq_topic: str,
    *,
    dry_run: bool = False,
    idle_ms: int = 1500,
    session_timeout_ms: int = 6000,
) -> ReplayResult:
    if not dlq_topic.endswith(DLQ_SUFFIX):
        raise ValueError(f"{dlq_topic!r} is not a dead-letter topic (they end in {DLQ_SUFFIX})")
    consumer = AIOKafkaConsumer(
        dlq_topic,
        bootstrap_servers=bootstrap_servers,
        group_id="dead-letter-replay",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=session_timeout_ms,
        heartbeat_interval_ms=session_timeout_ms // 6,
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers, acks="all")
    await consumer.start()
    await producer.start()
    result = ReplayResult()
    seen: set[tuple[str, str, str]] = set()
    try:
        while True:
            batches = await consumer.getmany(timeout_ms=idle_ms, max_records=500)
            if not batches:
                return result
            for tp, records in batches.items():
                for record in records:
                    headers = {k: v.decode(errors="replace") for k, v in record.headers}
                    target = headers.get("original_topic") or dlq_topic.removesuffix(DLQ_SUFFIX)
                    origin = (target, headers.get("original_partition", ""), headers.get("original_offset", ""))
                    if origin[2]:  # where it came from is known: one copy is enough
                        if origin in seen:
                            result.copies_skipped += 1
                            continue
                        seen.add(origin)
                    reason = headers.get("reason", "")[:80]
                    result.reasons[reason] = result.reasons.get(reason, 0) + 1
                    if not dry_run:
                        await producer.send_and_wait(
                            target, value=record.value, key=record.key, headers=[("replayed_from", dlq_topic.encode())]
                        )
                    result.replayed += 1
                if not dry_run:
                    await consumer.commit(
                        {TopicPartition(tp.topic, tp.partition): OffsetAndMetadata(records[-1].offset + 1, "")}
                    )
    finally:
        await consumer.stop()
        await producer.stop()
