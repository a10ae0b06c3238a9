"""Webhook ingest: signed WeChat pushes against one ingest-wechat process, at fixed offered loads and at
saturation, beside a bare FastAPI endpoint and a bare aiokafka producer measured in the same run.

The load generator always runs in its own process. Saturation uses wrk (C, one thread) when it is installed,
because a Python client would take a good part of the second core from the server it measures; fixed rates
use benchmarks/loadgen.py, which is open-loop (wrk can only run closed-loop).
"""

from __future__ import annotations

import asyncio
import json
import random
import shutil
import signal
import subprocess
import sys
import time

import httpx

from inbox_dev.ports import free_port

from . import producer
from .common import (
    REPO,
    WECHAT_APP_ID,
    WECHAT_TOKEN,
    Config,
    Figure,
    Runs,
    Target,
    fresh_broker,
    port_of,
    running_stack,
    stack_env,
)

SECTION = "Webhook ingest (one ingest-wechat process)"
CONNECTIONS = 64


def loadgen(port: int, *, rate: float, duration: float, warmup: float) -> dict[str, float]:
    command = [sys.executable, "-m", "benchmarks.loadgen", "--port", str(port), "--rate", str(rate)]
    command += ["--duration", str(duration), "--warmup", str(warmup), "--connections", str(CONNECTIONS)]
    command += ["--token", WECHAT_TOKEN, "--app-id", WECHAT_APP_ID]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=True, timeout=duration + 120)
    return json.loads(done.stdout)


def wrk(port: int, *, duration: float) -> dict[str, float]:
    # The script signs each push itself, as it sends it (benchmarks/wrk/wechat.lua).
    command = ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{int(duration)}s", "-s", str(REPO / "benchmarks/wrk/wechat.lua")]
    command += [f"http://127.0.0.1:{port}", "--", "/webhooks/wechat/city-wechat", str(random.randint(100, 999))]
    command += [WECHAT_TOKEN]
    done = subprocess.run(command, capture_output=True, text=True, check=True, timeout=duration + 60)
    out = json.loads(done.stdout.strip().splitlines()[-1])
    good = out["requests"] - out["non2xx"]
    return {
        "throughput": good / (out["duration_us"] / 1e6),
        "p50_ms": out["p50_us"] / 1000,
        "p99_ms": out["p99_us"] / 1000,
        "errors": out["non2xx"] + out["socket_errors"],
    }


def saturate(port: int, *, duration: float) -> dict[str, float]:
    if shutil.which("wrk"):
        return wrk(port, duration=duration)
    return loadgen(port, rate=0, duration=duration, warmup=1)


def bare_endpoint(duration: float) -> dict[str, float]:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "benchmarks.bare_app", str(port)], cwd=REPO)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        return saturate(port, duration=duration)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)


def run(config: Config) -> list[Figure]:
    rates = (100, 500) if config.smoke else (100, 500, 1000, 2000)
    duration, warmup = config.pick(15, 2), config.pick(2, 0.5)
    runs = Runs(SECTION)
    tool = "wrk -t1 -c64" if shutil.which("wrk") else "benchmarks/loadgen.py closed loop, 64 connections"
    for _ in range(config.runs):
        with fresh_broker(config.work) as broker:
            env = stack_env(config.work)
            with running_stack(config.work, ("ingest-wechat",), env=env, broker=broker) as stack:
                port = port_of(stack, "ingest-wechat")
                for rate in rates:
                    result = loadgen(port, rate=rate, duration=duration, warmup=warmup)
                    runs.add(f"p50 at {rate:,} req/s offered", result["p50_ms"])
                    runs.add(f"p99 at {rate:,} req/s offered", result["p99_ms"])
                    runs.add(f"served at {rate:,} req/s offered", result["throughput"])
                    runs.add(f"errors at {rate:,} req/s offered", result["errors"])
                result = saturate(port, duration=duration)
                runs.add("ingest-wechat saturation", result["throughput"])
                runs.add("ingest-wechat saturation (vs producer)", result["throughput"])
                runs.add("p99 at saturation", result["p99_ms"])
        runs.add("bare FastAPI/uvicorn endpoint saturation", bare_endpoint(duration)["throughput"])
        with fresh_broker(config.work) as broker:
            result = asyncio.run(producer.saturate(broker.bootstrap_servers, duration=duration, in_flight=CONNECTIONS))
        runs.add("bare aiokafka producer, acks=all, 64 in flight", result["throughput"])
    figures: list[Figure] = []
    for rate in rates:
        target = Target("<", 50) if rate == 1000 else None
        figures.append(runs.figure(f"p50 at {rate:,} req/s offered", "ms"))
        figures.append(runs.figure(f"p99 at {rate:,} req/s offered", "ms", target=target))
        figures.append(runs.figure(f"served at {rate:,} req/s offered", "req/s", note="200 answers per second"))
        figures.append(runs.figure(f"errors at {rate:,} req/s offered", "count", note="non-200 or connection errors"))
    bare = "bare FastAPI/uvicorn endpoint saturation"
    producer_name = "bare aiokafka producer, acks=all, 64 in flight"
    figures += [
        runs.figure(
            "ingest-wechat saturation", "req/s", baseline=bare, target=Target(">=", 0.5, on="ratio"), note=tool
        ),
        runs.figure("ingest-wechat saturation (vs producer)", "req/s", baseline=producer_name),
        runs.figure("p99 at saturation", "ms", note=tool),
        runs.figure(bare, "req/s", note=tool),
        runs.figure(producer_name, "msg/s", note="make_producer settings, 0.8 KB inbound records"),
    ]
    return figures
