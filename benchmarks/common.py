"""What every benchmark shares: the figures it reports, how it starts the product, scratch databases.

Each benchmark module has `run(config) -> list[Figure]`; a figure keeps every run's value so the report can show
the median with min and max, and the ratio to its baseline (the machine's limit measured in the same run).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx

from inbox_dev.broker import Broker
from inbox_dev.ports import free_port
from inbox_dev.stack import Service, Stack

REPO = Path(__file__).resolve().parent.parent
POSTGRES_ADMIN_DSN = os.environ.get("INBOX_BENCH_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")

# Demo credentials of the benchmark's own accounts file (never a real platform account).
WECHAT_TOKEN = "bench-wechat-token"
WECHAT_APP_ID = "wxbench0000000001"
WEIBO_SECRET = "bench-weibo-secret"
ALIPAY_APP_ID = "2021000000000777"
ADMIN_USER, ADMIN_PASSWORD = "bench-admin", "bench-admin-password"


@dataclass(frozen=True)
class Config:
    smoke: bool
    runs: int
    work: Path  # scratch space for this invocation: logs, SQLite files, keys

    def pick(self, full: float, smoke: float) -> float:
        return smoke if self.smoke else full

    def size(self, full: int, smoke: int) -> int:
        return smoke if self.smoke else full


@dataclass(frozen=True)
class Target:
    op: str  # "<" or ">="
    value: float
    on: str = "median"  # "median" of the runs, or "ratio" to the baseline

    def met(self, median: float, ratio: float | None) -> bool | None:
        x = ratio if self.on == "ratio" else median
        if x is None:
            return None
        return x < self.value if self.op == "<" else x >= self.value

    def __str__(self) -> str:
        unit = "× baseline" if self.on == "ratio" else ""
        return f"{self.op} {self.value:g}{unit}"


@dataclass
class Figure:
    section: str
    name: str
    unit: str
    runs: list[float]
    baseline: str | None = None  # name of another figure in the same section
    target: Target | None = None
    note: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.runs) if self.runs else float("nan")


@dataclass
class Runs:
    """Collects one value per name per run, then turns them into figures."""

    section: str
    values: dict[str, list[float]] = field(default_factory=dict)

    def add(self, name: str, value: float) -> None:
        self.values.setdefault(name, []).append(value)

    def figure(
        self, name: str, unit: str, *, baseline: str | None = None, target: Target | None = None, note: str = ""
    ) -> Figure:
        return Figure(self.section, name, unit, self.values.get(name, []), baseline, target, note)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); what a latency SLO means."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, int(-(-q * len(ordered) // 100)) - 1))
    return ordered[rank]


def write_accounts(work: Path) -> Path:
    """An accounts file for the three channels, with Alipay demo keys made on the spot."""
    from inbox_dev.demo_keys import ensure_demo_keys

    keys = ensure_demo_keys(work / "keys")
    path = work / "accounts.yaml"
    path.write_text(
        "accounts:\n"
        f"  - {{id: city-wechat, channel: wechat, name: 微信, token: {WECHAT_TOKEN}, app_id: {WECHAT_APP_ID}}}\n"
        f"  - {{id: city-weibo, channel: weibo, name: 微博, app_secret: {WEIBO_SECRET}, access_token: t}}\n"
        f"  - {{id: city-alipay, channel: alipay, name: 支付宝, app_id: '{ALIPAY_APP_ID}',"
        f" app_private_key_file: {keys / 'alipay-app-private.pem'},"
        f" alipay_public_key_file: {keys / 'alipay-platform-public.pem'}}}\n",
        encoding="utf-8",
    )
    return path


def stack_env(work: Path, database_url: str | None = None) -> dict[str, str]:
    """Environment for product processes: local Kafka timings, our accounts, nothing written to var/."""
    return {
        "INBOX_ACCOUNTS_FILE": str(write_accounts(work)),
        "DATABASE_URL": database_url or f"sqlite+aiosqlite:///{work / 'inbox.db'}",
        "KAFKA_TOPIC_PREFIX": "",
        "KAFKA_SESSION_TIMEOUT_MS": "2000",
        "KAFKA_HEARTBEAT_INTERVAL_MS": "300",
        "KAFKA_FETCH_MAX_WAIT_MS": "20",
        "INBOX_ADMIN_USER": ADMIN_USER,
        "INBOX_ADMIN_PASSWORD": ADMIN_PASSWORD,
        # The per-account flood limit (500/s by default) would answer 429 long before the service's own limit,
        # which is what the webhook benchmark measures (DESIGN: 1,000 req/s per channel service, many accounts).
        "INBOX_WEBHOOK_RATE_PER_ACCOUNT": "1000000",
        "INBOX_WEBHOOK_BURST_PER_ACCOUNT": "1000000",
        # Replies would go to the real platforms' hosts, which this machine must not call.
        "INBOX_OUTBOUND_ENABLED": "false",
        "INBOX_OUTBOUND_LEDGER_PATH": str(work / "{service}-deliveries.db"),
        # Production's log settings: the per-message log lines are part of what a webhook costs.
        "INBOX_LOG_LEVEL": "INFO",
        "INBOX_LOG_FORMAT": "json",
    }


def services(*names: str) -> tuple[Service, ...]:
    modules = {"case-api": "case_api", "router": "router"} | {
        f"ingest-{c}": f"ingest_{c}" for c in ("wechat", "weibo", "alipay")
    }
    return tuple(Service(n, modules[n], free_port()) for n in names)


@contextmanager
def running_stack(
    work: Path, names: tuple[str, ...], *, env: dict[str, str], broker: Broker | None = None
) -> Iterator[Stack]:
    """The product's own processes, started the way `make run` does; a fresh Tansu unless one is given."""
    log_dir = work / "log" / uuid.uuid4().hex[:6]
    if broker is not None:
        env = {**env, "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers}
    stack = Stack(
        services=services(*names),
        broker_port=None if broker is not None else free_port(),
        env=env,
        log_dir=log_dir,
        echo=False,
    )
    try:
        stack.start(timeout=90)
    except Exception:
        stack.stop()
        for log in sorted(log_dir.glob("*.log")):
            print(f"--- {log}\n{log.read_text(errors='replace')[-3000:]}")
        raise
    try:
        yield stack
    finally:
        stack.stop()


@contextmanager
def fresh_broker(work: Path) -> Iterator[Broker]:
    """Tansu keeps everything in memory and only grows, so every heavy run gets its own."""
    broker = Broker(free_port(), log_path=work / "log" / f"broker-{uuid.uuid4().hex[:6]}.log")
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


def port_of(stack: Stack, name: str) -> int:
    return next(s.port for s in stack.services if s.name == name)


def admin_token(case_api_port: int) -> dict[str, str]:
    response = httpx.post(
        f"http://127.0.0.1:{case_api_port}/api/v1/auth/token",
        data={"username": ADMIN_USER, "password": ADMIN_PASSWORD},
        timeout=10,
    )
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@contextmanager
def scratch_postgres(tag: str) -> Iterator[str]:
    """A fresh PostgreSQL database (asyncpg URL), dropped afterwards whatever happens."""
    name = f"inbox_bench_{tag}_{uuid.uuid4().hex[:8]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(POSTGRES_ADMIN_DSN, timeout=10)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    base = POSTGRES_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    try:
        yield f"{base}/{name}"
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def postgres_available() -> bool:
    async def probe() -> bool:
        try:
            conn = await asyncpg.connect(POSTGRES_ADMIN_DSN, timeout=5)
        except (OSError, asyncpg.PostgresError):
            return False
        await conn.close()
        return True

    return asyncio.run(probe())
