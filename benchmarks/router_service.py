"""The router service end to end: inbox.messages.v1 → classify → inbox.routed.v1, as a process (issue 6: "the
router service keeps up with 1,000 messages per second end to end on this 2-core machine").

Two ways, each with the default configuration (keyword rules only) and with a learned model:
- **drain**: a backlog of 200-character citizen messages waits on inbox.messages.v1 before the router starts;
  the rate from the first routed record to the last is what the service can do.
- **paced**: with the router running, messages are produced at a steady rate for a while; the latency of each
  is the routed record's CreateTime minus the moment it was produced (one clock: both on this machine).

The model is trained with `inbox-router train` on ../shared/data/teddy_visible.csv when present (real Chinese
citizen messages, seven categories: what a city's model looks like); otherwise, and always in smoke mode, on
generated messages. The messages routed are the same texts cut to 200 characters.
"""

from __future__ import annotations

import asyncio
import csv
import itertools
import random
import re
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from aiokafka import AIOKafkaConsumer

from shared.contracts.v1 import Channel, InboundMessage, InboundMessageRecord, MessageKind
from shared.kafka import ensure_topics, make_producer
from shared.settings import KafkaSettings
from shared.topics import Topics

from .common import REPO, Config, Figure, Runs, Target, fresh_broker, percentile, running_stack, stack_env

SECTION = "Router service (inbox.messages.v1 → inbox.routed.v1, one process)"
TEDDY = REPO.parent / "shared" / "data" / "teddy_visible.csv"
LENGTH = 200  # characters per message, as the speed target says
TOPICS = Topics("")


def corpus(smoke: bool) -> tuple[list[str], list[str], str]:
    """(texts, labels, where they came from). Real messages when the data set is here, generated otherwise."""
    if TEDDY.exists() and not smoke:
        with TEDDY.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
        return [r["text"] for r in rows], [r["label"] for r in rows], "teddy_visible.csv"
    rng = random.Random(6)
    common = [chr(c) for c in range(0x4E00, 0x4E00 + 3000)]
    labels = [f"category-{k}" for k in range(7)]
    own = {label: rng.sample(common, 40) for label in labels}  # each category's telling characters
    texts, out_labels = [], []
    for i in range(700):
        label = labels[i % len(labels)]
        texts.append(
            "".join(rng.choice(own[label]) if rng.random() < 0.3 else rng.choice(common) for _ in range(LENGTH))
        )
        out_labels.append(label)
    return texts, out_labels, "generated"


def train_model(work: Path, texts: list[str], labels: list[str]) -> Path:
    """The product's own command, as a city would run it."""
    data, model_dir = work / "router-train.csv", work / f"router-model-{uuid.uuid4().hex[:6]}"
    with data.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(zip(texts, labels, strict=True))
    command = [sys.executable, "-m", "router.cli", "train", "--csv", str(data), "--text-col", "text"]
    command += ["--label-col", "label", "--model-dir", str(model_dir)]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"inbox-router train failed: {done.stderr.strip()[-500:]}")
    return model_dir


def messages_of(texts: list[str], n: int) -> list[str]:
    """n texts of LENGTH characters: each real message, continued by the next when it is shorter."""
    joined = "".join(texts)
    starts = [0, *itertools.accumulate(len(t) for t in texts[:1999])]
    return [(joined[s : s + LENGTH] or joined[:LENGTH]) for s in (starts[i % len(starts)] for i in range(n))]


def record(tag: str, i: int, text: str) -> tuple[bytes, bytes]:
    message = InboundMessage(
        channel=Channel.WECHAT,
        account_id="city-wechat",
        platform_message_id=f"{tag}-{i}",
        sender_id=f"oRouter{tag}{i:07d}",
        sent_at=datetime.now(UTC),
        kind=MessageKind.TEXT,
        text=text,
        raw="",
        raw_format="xml",
    )
    return message.contact_key.encode(), InboundMessageRecord.wrap(message, source="bench").to_bytes()


async def produce(bootstrap: str, tag: str, texts: list[str], rate: float | None) -> dict[int, float]:
    """Put the messages on inbox.messages.v1 (as fast as the broker takes them, or at `rate` per second);
    → when each was handed to the producer (wall clock, s)."""
    producer = make_producer(KafkaSettings(bootstrap_servers=bootstrap, linger_ms=5), client_id="bench-router")
    await producer.start()
    sent: dict[int, float] = {}
    futures = []
    started = time.monotonic()
    try:
        for i, text in enumerate(texts):
            if rate is not None:
                delay = started + i / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            key, value = record(tag, i, text)
            sent[i] = time.time()
            futures.append(await producer.send(TOPICS.inbox_messages, value=value, key=key))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return sent


@dataclass
class Routed:
    """Reads inbox.routed.v1 in its own thread from before the router starts: arrival times and CreateTimes."""

    bootstrap: str
    tag: str
    n: int
    arrived: list[float] = field(default_factory=list)  # monotonic, one per routed record of this run
    created: dict[int, float] = field(default_factory=dict)  # message index → routed record's CreateTime (s)

    def __post_init__(self) -> None:
        self.thread = threading.Thread(target=lambda: asyncio.run(self._read()), daemon=True)
        self.pattern = re.compile(rb'"platform_message_id":"' + self.tag.encode() + rb"-(\d+)")

    async def _read(self) -> None:
        consumer = AIOKafkaConsumer(
            TOPICS.inbox_routed, bootstrap_servers=self.bootstrap, auto_offset_reset="earliest", group_id=None
        )
        await consumer.start()
        deadline = time.monotonic() + 120 + self.n / 100
        try:
            while len(self.created) < self.n and time.monotonic() < deadline:
                batches = await consumer.getmany(timeout_ms=200)
                now = time.monotonic()
                for item in (r for records in batches.values() for r in records):
                    if found := self.pattern.search(item.value):
                        self.created[int(found.group(1))] = item.timestamp / 1000
                        self.arrived.append(now)
        finally:
            await consumer.stop()

    def wait(self) -> None:
        self.thread.join()
        if len(self.created) < self.n:
            raise RuntimeError(f"only {len(self.created)} of {self.n} messages routed")


def one_run(config: Config, env: dict[str, str], texts: list[str], label: str, runs: Runs) -> None:
    drain_n, paced_rate, paced_s = config.size(50_000, 5_000), config.pick(1000, 100), config.pick(30, 3)
    with fresh_broker(config.work) as broker:
        asyncio.run(ensure_topics(broker.bootstrap_servers, TOPICS.all(), partitions=4))
        tag = uuid.uuid4().hex[:8]
        asyncio.run(produce(broker.bootstrap_servers, tag, messages_of(texts, drain_n), None))
        routed = Routed(broker.bootstrap_servers, tag, drain_n)
        routed.thread.start()
        started = time.monotonic()
        with running_stack(config.work, ("router",), env=env, broker=broker):
            routed.wait()
            first, last = routed.arrived[0], routed.arrived[-1]
            # From the first fetch that found routed records to the last: what came in that first fetch was
            # routed before `first`, so it does not count towards the rate.
            in_first = routed.arrived.count(first)
            runs.add(f"{label}: backlog drain rate", (drain_n - in_first) / (last - first))
            runs.add(f"{label}: backlog incl. start-up", drain_n / (last - started))

            n = int(paced_rate * paced_s)
            tag = uuid.uuid4().hex[:8]
            routed = Routed(broker.bootstrap_servers, tag, n)
            routed.thread.start()
            sent = asyncio.run(produce(broker.bootstrap_servers, tag, messages_of(texts, n), paced_rate))
            routed.wait()
    latencies = [(routed.created[i] - sent[i]) * 1000 for i in sent]
    runs.add(f"{label}: at {paced_rate:,.0f} msg/s, latency p50", percentile(latencies, 50))
    runs.add(f"{label}: at {paced_rate:,.0f} msg/s, latency p99", percentile(latencies, 99))


def run(config: Config) -> list[Figure]:
    texts, labels, source = corpus(config.smoke)
    model_dir = train_model(config.work, texts, labels)
    env = stack_env(config.work)
    variants = {"rules only (default)": env, "learned model": {**env, "INBOX_ROUTER_MODEL_DIR": str(model_dir)}}
    runs = Runs(SECTION)
    for _ in range(config.runs):
        for label, variant_env in variants.items():
            one_run(config, variant_env, texts, label, runs)
    rate = config.pick(1000, 100)
    figures = []
    for label in variants:
        target = Target(">=", 1000) if label == "learned model" else None
        note = f"{config.size(50_000, 5_000):,} messages of {LENGTH} characters ({source})"
        figures.append(runs.figure(f"{label}: backlog drain rate", "msg/s", target=target, note=note))
        figures.append(runs.figure(f"{label}: backlog incl. start-up", "msg/s", note="from starting the process"))
        for q in ("p50", "p99"):
            name = f"{label}: at {rate:,.0f} msg/s, latency {q}"
            figures.append(runs.figure(name, "ms", note=f"{config.pick(30, 3):g} s offered; produced → routed"))
    return figures
