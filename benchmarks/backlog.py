"""Backlog drain: routed messages already waiting on inbox.routed.v1 while case-api was down; start it and time
until every case exists. Each message comes from a different citizen, so each one opens a case (the most work
per message: contact, case, tracking number, audit entry, case event and acknowledgement in the outbox).

Two figures per database: the drain rate from the first case to the last (what a backlog drains at), and the
rate over the whole time from starting the process (start-up, migrations check and group join included).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from case_api.cases.models import Case
from case_api.db import make_engine
from shared.contracts.v1 import (
    Channel,
    DecidedBy,
    InboundMessage,
    MessageKind,
    RoutedMessage,
    RoutedMessageRecord,
    RoutingDecision,
)
from shared.kafka import ensure_topics, make_producer
from shared.settings import KafkaSettings
from shared.topics import Topics

from .common import (
    REPO,
    Config,
    Figure,
    Runs,
    Target,
    fresh_broker,
    postgres_available,
    running_stack,
    scratch_postgres,
    stack_env,
)

SECTION = "Backlog drain (routed messages waiting on inbox.routed.v1, case-api started on them)"
CATEGORIES = (
    ("housing-property", "housing", "小区物业乱收费，电梯坏了一个月没人修"),
    ("labour", "hr-social", "公司拖欠工资三个月了，老板一直不给"),
    ("transport", "transport", "文华北路修路，早上堵车严重"),
    ("city-appearance", "urban-management", "小区门口垃圾三天没人清运"),
)


def routed_record(i: int, run: str, sent_at: datetime) -> tuple[bytes, bytes]:
    category, department, text = CATEGORIES[i % len(CATEGORIES)]
    message = InboundMessage(
        channel=Channel.WECHAT,
        account_id="city-wechat",
        platform_message_id=f"{run}-{i}",
        sender_id=f"oBacklog{run}{i:07d}",
        sent_at=sent_at,
        kind=MessageKind.TEXT,
        text=f"{text}（{i}）",
        raw=f"<xml><Content><![CDATA[{text}]]></Content><MsgId>{i}</MsgId></xml>",
        raw_format="xml",
    )
    decision = RoutingDecision(
        category=category,
        department=department,
        confidence=0.8,
        decided_by=DecidedBy.RULE,
        explanation=f"keyword rule {category}",
        request_type="投诉/求助",
    )
    record = RoutedMessageRecord.wrap(RoutedMessage(message=message, decision=decision), source="bench")
    return message.contact_key.encode(), record.to_bytes()


async def fill(bootstrap: str, n: int) -> None:
    """Put n routed records on the topic as fast as the broker takes them (acks=all, in chunks)."""
    topics = Topics("")
    await ensure_topics(bootstrap, topics.all(), partitions=4)
    producer = make_producer(KafkaSettings(bootstrap_servers=bootstrap, linger_ms=20), client_id="bench-backlog")
    await producer.start()
    run, base = uuid.uuid4().hex[:6], datetime.now(UTC) - timedelta(hours=1)
    try:
        for start in range(0, n, 5000):
            futures = []
            for i in range(start, min(n, start + 5000)):
                key, value = routed_record(i, run, base + timedelta(milliseconds=i))
                futures.append(await producer.send(topics.inbox_routed, value=value, key=key))
            await asyncio.gather(*futures)
    finally:
        await producer.stop()


class Counter:
    """Counts cases in its own thread from before case-api starts, so the first batch is seen too."""

    def __init__(self, database_url: str, n: int) -> None:
        self.url, self.n = database_url, n
        self.samples: list[tuple[float, int]] = []
        self.thread = threading.Thread(target=lambda: asyncio.run(self._poll()), daemon=True)

    async def _poll(self) -> None:
        engine = make_engine(self.url, read_only=True)  # on SQLite: counting must not queue for intake's write lock
        deadline = time.monotonic() + 120 + self.n / 100
        try:
            while time.monotonic() < deadline:
                async with engine.connect() as conn:
                    count = int((await conn.execute(select(func.count()).select_from(Case))).scalar_one())
                self.samples.append((time.monotonic(), count))
                if count >= self.n:
                    return
                # Counting is a scan of the table: often enough to time the drain, not so often it slows it.
                await asyncio.sleep(0.1 if self.n <= 5000 else 0.5)
        finally:
            await engine.dispose()


def drain(config: Config, database_url: str, n: int) -> tuple[float, float]:
    """→ (messages/s from the first case to the last, messages/s from starting the process)."""
    env = stack_env(config.work, database_url)
    subprocess.run([sys.executable, "-m", "case_api.migrate"], cwd=REPO, env={**os.environ, **env}, check=True)
    with fresh_broker(config.work) as broker:
        asyncio.run(fill(broker.bootstrap_servers, n))
        counter = Counter(database_url, n)
        counter.thread.start()
        started = time.monotonic()
        with running_stack(config.work, ("case-api",), env=env, broker=broker):
            counter.thread.join()
    finished, done = counter.samples[-1]
    if done < n:
        raise RuntimeError(f"only {done} of {n} cases after {finished - started:.0f} s")
    first_at, first = next((t, c) for t, c in counter.samples if c > 0)
    steady = (n - first) / (finished - first_at) if finished > first_at else float("nan")
    return steady, n / (finished - started)


def run(config: Config) -> list[Figure]:
    n = config.size(100_000, 2_000)
    runs = Runs(SECTION)
    databases = ["SQLite"] + (["PostgreSQL"] if postgres_available() else [])
    for i in range(config.runs):
        for label in databases:
            if label == "SQLite":
                url = f"sqlite+aiosqlite:///{config.work / f'backlog-{i}.db'}"
                steady, overall = drain(config, url, n)
            else:
                with scratch_postgres("backlog") as url:
                    steady, overall = drain(config, url, n)
            runs.add(f"{label}: drain rate", steady)
            runs.add(f"{label}: incl. start-up", overall)
    figures = []
    for label in databases:
        target = Target(">=", 1000) if label == "PostgreSQL" else None
        figures.append(
            runs.figure(f"{label}: drain rate", "msg/s", target=target, note=f"{n:,} messages, one case each")
        )
        figures.append(runs.figure(f"{label}: incl. start-up", "msg/s", note="from starting the process"))
    return figures
