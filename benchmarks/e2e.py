"""End to end: a signed webhook on any of the three channels → the new case on the operators' live queue.

The whole product runs as `make run` starts it (five processes and Tansu). Messages are sent open-loop at a fixed
rate, round-robin over WeChat, Weibo and Alipay, each from a new citizen so each opens a case. An operator's live
queue (`GET /api/v1/queue/events`, server-sent events) is open throughout and notes when each case's "created"
event arrives. Latency counts from the moment the webhook was due to be sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
import os
import sys
import time
import zlib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import urlencode

import httpx
import uvloop
from aiokafka import AIOKafkaConsumer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from inbox_dev.simulator import alipay, weibo
from inbox_dev.simulator.wechat import WeChatAccount, push, text_xml
from inbox_dev.stack import Stack

from .common import (
    ALIPAY_APP_ID,
    WECHAT_APP_ID,
    WECHAT_TOKEN,
    WEIBO_SECRET,
    Config,
    Figure,
    Runs,
    Target,
    admin_token,
    percentile,
    port_of,
    postgres_available,
    running_stack,
    scratch_postgres,
    stack_env,
)
from .loadgen import Pool, exchange

SECTION = "End to end (webhook → new case on the operators' live queue), three channels"
SERVICES = ("case-api", "router", "ingest-wechat", "ingest-weibo", "ingest-alipay")
TEXT = "小区门口路灯坏了好几天，晚上很危险"
RATES = (50, 200)
# A city centre's shift: dozens of operators and handlers keep the live queue open. The last run at 200 msg/s
# repeats with this many more streams open (each read and thrown away, costing the load generator little).
WATCHERS = 100


@dataclass(frozen=True)
class Request:
    service: str
    path: str
    params: dict[str, str]
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    def raw(self, port: int) -> bytes:
        """The HTTP/1.1 request as sent by benchmarks/loadgen.py's pool (httpx costs the client too much CPU)."""
        target = f"{self.path}?{urlencode(self.params)}" if self.params else self.path
        head = [f"POST {target} HTTP/1.1", f"Host: 127.0.0.1:{port}", f"Content-Length: {len(self.body)}"]
        head += [f"{k}: {v}" for k, v in self.headers.items()]
        return ("\r\n".join(head) + "\r\n\r\n").encode() + self.body


def build_requests(n: int, tag: str, platform_key: RSAPrivateKey) -> list[Request]:
    """Prepared before the clock starts: Alipay's RSA signing would otherwise load the sender's core."""
    account = WeChatAccount(WECHAT_TOKEN, WECHAT_APP_ID)
    unique = (
        zlib.crc32(tag.encode()) * 10**6
    )  # ids and senders differ between runs on one stack: no dedupe, no threading
    out: list[Request] = []
    for i in range(n):
        text = f"{tag}-{i} {TEXT}"
        if i % 3 == 0:
            query, body = push(account, text_xml(account, sender=f"oE2E{tag}{i}", text=text, msg_id=unique + i))
            out.append(Request("ingest-wechat", "/webhooks/wechat/city-wechat", query, body))
        elif i % 3 == 1:
            body = weibo.push_body(msg_type="text", sender_id=unique + i, receiver_id=1902538057, text=text)
            out.append(Request("ingest-weibo", "/webhooks/weibo/city-weibo", weibo.signed_query(WEIBO_SECRET), body))
        else:
            biz = alipay.text_biz_content(
                app_id=ALIPAY_APP_ID,
                alipay_user_id=f"2088{unique + i:016d}",
                from_user_id=f"2088{tag}{i:012d}",
                text=text,
                msg_id=f"{tag}{i:012d}",
            )
            body = alipay.message_notify(biz, app_id=ALIPAY_APP_ID, platform_key=platform_key)
            headers = {"content-type": "application/x-www-form-urlencoded; charset=GBK"}
            out.append(Request("ingest-alipay", "/webhooks/alipay/city-alipay", {}, body, headers))
    return out


@dataclass
class Outcome:
    """Wall-clock instants (s) per message index: when it was due to be sent, when its case showed up."""

    due: dict[int, float] = field(default_factory=dict)
    sent: dict[int, float] = field(default_factory=dict)  # when the request actually left (a busy client is late)
    seen: dict[int, float] = field(default_factory=dict)
    created: dict[int, float] = field(default_factory=dict)  # the "created" event's time: intake's batch
    errors: int = 0
    listeners_cpu: float = 0.0  # CPU seconds the other live queues' reader process used

    def latencies(self) -> list[float]:
        return [(self.seen[i] - self.due[i]) * 1000 for i in self.seen]


async def listen(port: int, auth: dict[str, str]) -> None:
    """Another operator's live queue, read and thrown away: what case-api pays to keep one more stream open."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = ["GET /api/v1/queue/events HTTP/1.1", f"Host: 127.0.0.1:{port}"] + [f"{k}: {v}" for k, v in auth.items()]
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode())
    try:
        while await reader.read(65536):
            pass
    finally:
        writer.close()


def listeners(port: int, auth: dict[str, str], n: int) -> None:
    """`n` more live queues, in a process of their own: reading them must not slow the load generator or the
    watcher whose timings are the figures."""

    async def main() -> None:
        await asyncio.gather(*(listen(port, auth) for _ in range(n)))

    uvloop.run(main())


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def drive(
    requests: list[Request],
    *,
    rate: float,
    ports: dict[str, int],
    auth: dict[str, str],
    tag: str,
    watchers: int = 0,
) -> Outcome:
    """Send at `rate`, poll until every case is seen (or 30 s after the last send); `watchers` more live
    queues stay open meanwhile."""
    out = Outcome()
    others = multiprocessing.Process(target=listeners, args=(ports["case-api"], auth, watchers), daemon=True)
    if watchers:
        others.start()
    pools = {r.service: Pool(ports[r.service], 64) for r in requests}
    raw = [r.raw(ports[r.service]) for r in requests]
    async with httpx.AsyncClient(timeout=10) as client:  # the live queue's

        async def send(i: int, r: Request) -> None:
            out.sent[i] = time.time()
            pool = pools[r.service]
            conn = await pool.get()
            try:
                status = await asyncio.wait_for(exchange(conn, raw[i]), 10)
            except (TimeoutError, OSError, asyncio.IncompleteReadError):
                pool.discard(conn)
                out.errors += 1
                return
            pool.put(conn)
            out.errors += status != 200

        async def sender() -> None:
            start, tasks = time.time(), []
            for i, request in enumerate(requests):
                out.due[i] = start + i / rate
                await asyncio.sleep(max(0.0, out.due[i] - time.time()))
                tasks.append(asyncio.create_task(send(i, request)))
            await asyncio.gather(*tasks)

        async def watch(live: httpx.Response) -> None:
            """The operators' live queue: each case's "created" event, as an operator's screen receives it."""
            data: str | None = None
            async for line in live.aiter_lines():
                if line.startswith("data:"):
                    data = line[5:].strip()
                elif not line and data is not None:
                    event, data = json.loads(data), None
                    if event["type"] != "gov.inbox.case.created":
                        continue
                    case = event["data"]["case"]
                    marker = case["subject"].split(" ", 1)[0]
                    if marker.startswith(f"{tag}-"):
                        i = int(marker.split("-", 1)[1])
                        out.seen.setdefault(i, time.time())
                        out.created[i] = datetime.fromisoformat(event["time"]).timestamp()
                        if len(out.seen) == len(requests):
                            return

        url = f"http://127.0.0.1:{ports['case-api']}/api/v1/queue/events"
        async with client.stream("GET", url, headers=auth, timeout=None) as live:
            watching = asyncio.create_task(watch(live))
            # The stream starts from the outbox's end when it first reads: let it (and the other queues) start.
            await asyncio.sleep(2.0 if watchers else 0.5)
            await sender()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(watching, 30)  # every case seen, or give up 30 s after the last send
    if watchers:
        out.listeners_cpu = cpu_seconds(others.pid)  # type: ignore[arg-type]
        others.terminate()
        others.join()
    return out


async def produced_at(bootstrap: str, topic: str, tag: str) -> dict[int, float]:
    """When each of this run's messages was produced to `topic` (the record's CreateTime)."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None)
    await consumer.start()
    found: dict[int, float] = {}
    try:
        while batches := await consumer.getmany(timeout_ms=1000):
            for record in (r for records in batches.values() for r in records):
                data = json.loads(record.value)["data"]
                marker = data.get("message", data)["text"].split(" ", 1)[0]
                if marker.startswith(f"{tag}-"):
                    found[int(marker.split("-", 1)[1])] = record.timestamp / 1000
    finally:
        await consumer.stop()
    return found


def stages(out: Outcome, inbound: dict[int, float], routed: dict[int, float]) -> dict[str, list[float]]:
    """Where the time went, per message (ms): hop by hop, from the same clock."""
    both = [i for i in out.seen if i in inbound and i in routed and i in out.created and i in out.sent]
    return {
        "load generator sends it (late by)": [(out.sent[i] - out.due[i]) * 1000 for i in both],
        "webhook → on inbox.messages": [(inbound[i] - out.sent[i]) * 1000 for i in both],
        "router → on inbox.routed": [(routed[i] - inbound[i]) * 1000 for i in both],
        "case-api picks it up (its intake batch builds the case)": [(out.created[i] - routed[i]) * 1000 for i in both],
        "batch commits, the live queue shows the case": [(out.seen[i] - out.created[i]) * 1000 for i in both],
    }


def explain_missing(out: Outcome, requests: list[Request], stack: Stack, tag: str) -> None:
    """Some cases never reached the live queue: say on stderr where they stopped, with every service's last log
    lines, so a failure seen once in CI can be read afterwards (the smoke test shows stderr's tail)."""
    bootstrap = stack.broker.bootstrap_servers if stack.broker else ""
    inbound = asyncio.run(produced_at(bootstrap, "inbox.messages.v1", tag)) if bootstrap else {}
    routed = asyncio.run(produced_at(bootstrap, "inbox.routed.v1", tag)) if bootstrap else {}
    print(
        f"e2e {tag}: {len(requests)} sent, {out.errors} webhook errors, {len(inbound)} on inbox.messages, "
        f"{len(routed)} on inbox.routed, {len(out.seen)} seen on the live queue",
        file=sys.stderr,
    )
    for log in sorted(stack.log_dir.glob("*.log")):
        # Routine info lines (one per routed batch) would bury the warnings and tracebacks that say why.
        lines = [line for line in log.read_text(errors="replace").splitlines() if '"level": "info"' not in line]
        print(f"--- {log.name}", *lines[-15:], sep="\n", file=sys.stderr, flush=True)


def one_run(config: Config, database_url: str | None, runs: Runs, label: str, run_no: int) -> None:
    # Every run starts from an empty database, SQLite too (the first suite run reused one file across runs,
    # so later runs carried the earlier runs' cases).
    database_url = database_url or f"sqlite+aiosqlite:///{config.work / f'e2e-{run_no}.db'}"
    env = stack_env(config.work, database_url)
    duration = config.pick(60, 4)
    with running_stack(config.work, SERVICES, env=env) as stack:
        assert stack.broker is not None
        ports = {s.name: s.port for s in stack.services}
        auth = admin_token(port_of(stack, "case-api"))
        key = serialization.load_pem_private_key(
            (Path(config.work) / "keys/alipay-platform-private.pem").read_bytes(), None
        )
        assert isinstance(key, RSAPrivateKey)
        case_api = stack.processes["case-api"].pid
        for rate, watchers in [(r, 0) for r in RATES] + [(max(RATES), WATCHERS)]:
            tag = f"R{run_no}x{rate}w{watchers}"
            requests = build_requests(int(rate * duration), tag, key)
            cpu = cpu_seconds(case_api)
            out = uvloop.run(drive(requests, rate=rate, ports=ports, auth=auth, tag=tag, watchers=watchers))
            if len(out.seen) < len(requests):
                explain_missing(out, requests, stack, tag)
            if watchers:
                at = f"at {rate} msg/s with {watchers} more live queues open"
                runs.add(f"{label}: p99 {at}", percentile(out.latencies(), 99))
                runs.add(f"{label}: case-api CPU {at}", (cpu_seconds(case_api) - cpu) / duration * 100)
                runs.add(f"{label}: the other queues' reader CPU {at}", out.listeners_cpu / duration * 100)
                runs.add(f"{label}: webhook errors + cases not seen {at}", out.errors + len(requests) - len(out.seen))
                continue
            runs.add(f"{label}: p50 at {rate} msg/s", percentile(out.latencies(), 50))
            runs.add(f"{label}: p99 at {rate} msg/s", percentile(out.latencies(), 99))
            runs.add(f"{label}: case-api CPU at {rate} msg/s", (cpu_seconds(case_api) - cpu) / duration * 100)
            runs.add(
                f"{label}: webhook errors + cases not seen at {rate} msg/s", out.errors + len(requests) - len(out.seen)
            )
            if rate == max(RATES):
                bootstrap = stack.broker.bootstrap_servers
                inbound = asyncio.run(produced_at(bootstrap, "inbox.messages.v1", tag))
                routed = asyncio.run(produced_at(bootstrap, "inbox.routed.v1", tag))
                for stage, values in stages(out, inbound, routed).items():
                    runs.add(f"{label} at {rate} msg/s, p50 of stage: {stage}", percentile(values, 50))
                    runs.add(f"{label} at {rate} msg/s, p99 of stage: {stage}", percentile(values, 99))


def run(config: Config) -> list[Figure]:
    runs = Runs(SECTION)
    databases = ["SQLite"] + (["PostgreSQL"] if postgres_available() else [])
    for n in range(config.runs):
        for label in databases:
            if label == "SQLite":
                one_run(config, None, runs, label, n)
            else:
                with scratch_postgres("e2e") as url:
                    one_run(config, url, runs, label, n)
    duration = "a minute" if not config.smoke else "4 s"
    figures = []
    for label in databases:
        for rate in RATES:
            target = Target("<", 500) if rate == 200 else None
            note = f"sustained {duration}"
            figures.append(runs.figure(f"{label}: p50 at {rate} msg/s", "ms", note=note))
            figures.append(runs.figure(f"{label}: p99 at {rate} msg/s", "ms", target=target, note=note))
            figures.append(runs.figure(f"{label}: case-api CPU at {rate} msg/s", "% of a core", note=note))
            figures.append(runs.figure(f"{label}: webhook errors + cases not seen at {rate} msg/s", "count"))
        at = f"at {max(RATES)} msg/s with {WATCHERS} more live queues open"
        figures.append(runs.figure(f"{label}: p99 {at}", "ms", target=Target("<", 500), note=f"sustained {duration}"))
        figures.append(runs.figure(f"{label}: case-api CPU {at}", "% of a core"))
        note = "the benchmark's own process reading the 100 streams, on the same 2 cores"
        figures.append(runs.figure(f"{label}: the other queues' reader CPU {at}", "% of a core", note=note))
        figures.append(runs.figure(f"{label}: webhook errors + cases not seen {at}", "count"))
        figures += [runs.figure(name, "ms") for name in runs.values if name.startswith(f"{label} at ")]
    return figures
