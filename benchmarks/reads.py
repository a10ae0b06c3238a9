"""Queue and case reads with a million cases in PostgreSQL: p95 of what operators, handlers and supervisors
open all day, through case-api's HTTP API (one process, as `make run` starts it), one request at a time.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import asyncpg
import httpx

from case_api.catalog.service import seed_from_taxonomy
from case_api.db import make_engine, make_sessionmaker
from shared.taxonomy import load_taxonomy

from . import dataset
from .common import (
    REPO,
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

SECTION = "Reads with 1,000,000 cases in PostgreSQL (case-api over HTTP, sequential requests)"
SMOKE_SECTION = "Reads (smoke: a few thousand cases in PostgreSQL)"


async def prepare(url: str, n: int) -> list[str]:
    """Seed the catalog, generate the cases, return a sample of case ids to open."""
    engine = make_engine(url)
    async with make_sessionmaker(engine)() as session:
        await seed_from_taxonomy(session, taxonomy=load_taxonomy(REPO / "config/taxonomy.yaml"))
    await engine.dispose()
    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    started = time.monotonic()
    await dataset.generate(dsn, n)
    print(f"   generated {n:,} cases in {time.monotonic() - started:.0f} s", flush=True)
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT id::text FROM cases TABLESAMPLE SYSTEM (1) LIMIT 2000")
        if len(rows) < 100:
            rows = await conn.fetch("SELECT id::text FROM cases LIMIT 2000")
    finally:
        await conn.close()
    return [r[0] for r in rows]


def last_month() -> tuple[str, str]:
    first_of_this = date.today().replace(day=1)
    last = first_of_this - timedelta(days=1)
    return last.replace(day=1).isoformat(), last.isoformat()


_MONTHS_ASKED = itertools.count()


def fresh_month() -> Callable[[], tuple[str, dict[str, str]]]:
    """A different 30-day period on each call, so none is served from case-api's minute-long keeping."""
    shift = _MONTHS_ASKED  # shared by every run: a period asked again within a minute would be served, not computed
    first, last = (date.fromisoformat(day) for day in last_month())

    def request() -> tuple[str, dict[str, str]]:
        back = timedelta(days=next(shift) % 300)
        period = {"from": (first - back).isoformat(), "to": (last - back).isoformat()}
        return "/api/v1/stats/departments", period

    return request


def timed(client: httpx.Client, requests: Callable[[], tuple[str, dict[str, str]]], n: int) -> list[float]:
    """Latency (ms) of n requests made one after another, after a short warm-up."""
    for _ in range(3):
        path, params = requests()
        client.get(path, params=params).raise_for_status()
    out = []
    for _ in range(n):
        path, params = requests()
        started = time.perf_counter()
        client.get(path, params=params).raise_for_status()
        out.append((time.perf_counter() - started) * 1000)
    return out


def deep_cursor(client: httpx.Client, pages: int) -> str:
    cursor = ""
    for _ in range(pages):
        page = client.get("/api/v1/queue", params={"limit": 50} | ({"cursor": cursor} if cursor else {})).json()
        cursor = page.get("next_cursor") or cursor
    return cursor


def measure(
    base: str, admin: dict[str, str], handler: dict[str, str], ids: list[str], k: int
) -> dict[str, list[float]]:
    start, end = last_month()
    with (
        httpx.Client(base_url=base, headers=admin, timeout=60) as client,
        httpx.Client(base_url=base, headers=handler, timeout=60) as as_handler,
    ):
        cursor = deep_cursor(client, 10)
        return {
            "operators' queue, first page": timed(client, lambda: ("/api/v1/queue", {"limit": "50"}), k),
            "queue, page 11 by cursor": timed(client, lambda: ("/api/v1/queue", {"limit": "50", "cursor": cursor}), k),
            "a handler's queue (one department)": timed(as_handler, lambda: ("/api/v1/queue", {"limit": "50"}), k),
            "queue filtered by department": timed(
                client, lambda: ("/api/v1/queue", {"limit": "50", "department_id": "housing"}), k
            ),
            "queue search q=路灯": timed(client, lambda: ("/api/v1/queue", {"limit": "50", "q": "路灯"}), k),
            "case list, newest first": timed(client, lambda: ("/api/v1/cases", {"limit": "50"}), k),
            "one case with messages": timed(client, lambda: (f"/api/v1/cases/{random.choice(ids)}", {}), k),
            # case-api keeps a period's figures for a minute: measure computing them (a period not asked for yet)
            # and serving them (the same period again, as a supervisors' page and the public ranking do).
            "department stats for a month, computed": timed(client, fresh_month(), max(5, k // 4)),
            "department stats for a month, as served": timed(
                client, lambda: ("/api/v1/stats/departments", {"from": start, "to": end}), k
            ),
        }


def handler_token(base: str, admin: dict[str, str]) -> dict[str, str]:
    user = {"username": "bench-handler", "password": "bench-handler-pw", "role": "handler", "department_id": "housing"}
    httpx.post(f"{base}/api/v1/users", json=user, headers=admin, timeout=10).raise_for_status()
    token = httpx.post(f"{base}/api/v1/auth/token", data={"username": user["username"], "password": user["password"]})
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


def run(config: Config) -> list[Figure]:
    if not postgres_available():
        raise RuntimeError("PostgreSQL at 127.0.0.1:5432 is needed for the read benchmark")
    n, k = config.size(1_000_000, 3_000), config.size(200, 10)
    runs = Runs(SMOKE_SECTION if config.smoke else SECTION)
    with scratch_postgres("reads") as url:
        env = stack_env(config.work, url)
        subprocess.run([sys.executable, "-m", "case_api.migrate"], cwd=REPO, env={**os.environ, **env}, check=True)
        ids = asyncio.run(prepare(url, n))
        with running_stack(Path(config.work), ("case-api",), env=env) as stack:
            base = f"http://127.0.0.1:{port_of(stack, 'case-api')}"
            admin = admin_token(port_of(stack, "case-api"))
            handler = handler_token(base, admin)
            for _ in range(config.runs):
                for name, latencies in measure(base, admin, handler, ids, k).items():
                    runs.add(f"{name}: p95", percentile(latencies, 95))
                    runs.add(f"{name}: p50", percentile(latencies, 50))
    figures = []
    for name in list(runs.values):
        target = Target("<", 50) if name.endswith("p95") else None
        figures.append(runs.figure(name, "ms", target=target))
    return figures
