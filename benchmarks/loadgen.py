"""An open-loop HTTP load generator, run as its own process: `python -m benchmarks.loadgen --port … --rate …`.

Why not httpx: at 2,000 requests/s its per-request cost would make the client the bottleneck on a 2-core machine.
This speaks just enough HTTP/1.1 (keep-alive, Content-Length) over asyncio streams on uvloop.

Open loop: request i is *scheduled* at start + i/rate and its latency counts from that instant, so a slow server
shows up as growing latency instead of a politely slower client (no coordinated omission). `--rate 0` is the
closed-loop saturation mode: `--connections` workers send back to back and the figure is what got through.
Prints one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from inbox_dev.simulator.wechat import WeChatAccount, signed_query, text_xml

_LENGTH = re.compile(rb"(?i)\r\ncontent-length:\s*(\d+)")
TEXTS = (
    "小区门口路灯坏了好几天，晚上很危险",
    "公司拖欠工资三个月了，老板一直不给",
    "楼上装修噪音太大，周末一大早就开始",
)


def wechat_requests(port: int, *, token: str, app_id: str, account_id: str) -> Callable[[int], bytes]:
    """Signed WeChat text pushes with a unique MsgId each, so dedupe never short-circuits one.

    Each is signed when it is built, just before it is sent, with its own nonce: ingest refuses a timestamp outside
    its window, and a signed query it already accepted with another body.
    """
    account = WeChatAccount(token=token, app_id=app_id)
    target = f"POST /webhooks/wechat/{account_id}?"
    head = f" HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: text/xml\r\n"
    run_id = random.randint(10**6, 9 * 10**6)  # MsgIds stay unique across load generators on one ingest process

    def build(i: int) -> bytes:
        msg_id = run_id * 10**11 + i
        query = "&".join(f"{k}={v}" for k, v in signed_query(account, nonce=str(msg_id)).items())
        body = text_xml(account, sender=f"oBench{i % 5000:05d}", text=TEXTS[i % len(TEXTS)], msg_id=msg_id).encode()
        return f"{target}{query}{head}Content-Length: {len(body)}\r\n\r\n".encode() + body

    return build


@dataclass
class Result:
    latencies: list[float] = field(default_factory=list)
    ok: int = 0
    errors: int = 0


class Pool:
    """Keep-alive connections, opened on demand up to `limit`; a request waits for a free one."""

    def __init__(self, port: int, limit: int) -> None:
        self.port, self.limit, self.opened = port, limit, 0
        self.idle: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()

    async def get(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self.idle.empty() and self.opened < self.limit:
            self.opened += 1
            return await asyncio.open_connection("127.0.0.1", self.port)
        return await self.idle.get()

    def put(self, conn: tuple[asyncio.StreamReader, asyncio.StreamWriter]) -> None:
        self.idle.put_nowait(conn)

    def discard(self, conn: tuple[asyncio.StreamReader, asyncio.StreamWriter]) -> None:
        conn[1].close()
        self.opened -= 1


async def exchange(conn: tuple[asyncio.StreamReader, asyncio.StreamWriter], data: bytes) -> int:
    reader, writer = conn
    writer.write(data)
    head = await reader.readuntil(b"\r\n\r\n")
    length = _LENGTH.search(head)
    await reader.readexactly(int(length.group(1)) if length else 0)
    return int(head[9:12])


async def one(pool: Pool, data: bytes, started: float, result: Result, record: bool) -> None:
    conn = await pool.get()
    try:
        status = await asyncio.wait_for(exchange(conn, data), 10)
    except (TimeoutError, OSError, asyncio.IncompleteReadError):
        pool.discard(conn)
        result.errors += record
        return
    pool.put(conn)
    if record and status == 200:  # a fast refusal (429, 503) is not a fast webhook
        result.latencies.append(time.perf_counter() - started)
        result.ok += 1
    elif record:
        result.errors += 1


async def open_loop(pool: Pool, build: Callable[[int], bytes], rate: float, duration: float, warmup: float) -> Result:
    result = Result()
    total, skip = int(rate * (warmup + duration)), int(rate * warmup)
    tasks: list[asyncio.Task[None]] = []
    start = time.perf_counter() + 0.01
    i = 0
    while i < total:
        now = time.perf_counter()
        while i < total and start + i / rate <= now:  # launch everything that is due, then nap briefly
            tasks.append(asyncio.create_task(one(pool, build(i), start + i / rate, result, i >= skip)))
            i += 1
        await asyncio.sleep(0.0005)
    await asyncio.gather(*tasks)
    return result


async def closed_loop(
    pool: Pool, build: Callable[[int], bytes], workers: int, duration: float, warmup: float
) -> Result:
    result = Result()
    counter = iter(range(10**9))
    begin = time.perf_counter()
    measure_from, end = begin + warmup, begin + warmup + duration

    async def worker() -> None:
        while (now := time.perf_counter()) < end:
            await one(pool, build(next(counter)), now, result, now >= measure_from)

    await asyncio.gather(*(worker() for _ in range(workers)))
    return result


def summary(result: Result, duration: float) -> dict[str, float]:
    lat = sorted(result.latencies)

    def pct(q: float) -> float:
        return lat[max(0, min(len(lat) - 1, int(-(-q * len(lat) // 100)) - 1))] * 1000 if lat else float("nan")

    return {
        "completed": len(lat),
        "ok": result.ok,
        "errors": result.errors,
        "throughput": result.ok / duration,
        "p50_ms": pct(50),
        "p99_ms": pct(99),
        "max_ms": lat[-1] * 1000 if lat else float("nan"),
    }


async def main(args: argparse.Namespace) -> dict[str, float]:
    build = wechat_requests(args.port, token=args.token, app_id=args.app_id, account_id=args.account)
    pool = Pool(args.port, args.connections)
    if args.rate > 0:
        result = await open_loop(pool, build, args.rate, args.duration, args.warmup)
    else:
        result = await closed_loop(pool, build, args.connections, args.duration, args.warmup)
    return summary(result, args.duration)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--rate", type=float, default=0, help="requests/s offered; 0 = saturate (closed loop)")
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--warmup", type=float, default=1)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--token", required=True)
    parser.add_argument("--app-id", required=True)
    parser.add_argument("--account", default="city-wechat")
    import uvloop  # uvicorn[standard] brings it; the same loop the services run on

    print(json.dumps(uvloop.run(main(parser.parse_args()))))
