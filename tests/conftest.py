"""Shared fixtures: one real Tansu broker per test session, fresh topic names per test, real databases."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from case_api.migrate import upgrade
from inbox_dev.broker import Broker
from inbox_dev.ports import free_port
from shared.kafka import ensure_topics
from shared.settings import KafkaSettings

POSTGRES_ADMIN_DSN = os.environ.get("INBOX_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    b = Broker(free_port(), log_path=tmp_path_factory.mktemp("broker") / "broker.log")
    b.start()
    yield b
    b.stop()


def kafka_settings_for(broker: Broker, prefix: str | None = None) -> KafkaSettings:
    return KafkaSettings(
        bootstrap_servers=broker.bootstrap_servers,
        topic_prefix=prefix if prefix is not None else f"t{uuid.uuid4().hex[:10]}.",
        session_timeout_ms=2000,
        heartbeat_interval_ms=300,
        fetch_max_wait_ms=20,
    )


@pytest.fixture
async def kafka_settings(broker: Broker) -> KafkaSettings:
    """Each test gets its own topics, so tests never see each other's records."""
    settings = kafka_settings_for(broker)
    await ensure_topics(settings.bootstrap_servers, settings.topics.all(), partitions=2)
    return settings


async def _postgres_admin() -> asyncpg.Connection:
    try:
        return await asyncpg.connect(POSTGRES_ADMIN_DSN, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        message = f"PostgreSQL at {POSTGRES_ADMIN_DSN} is not reachable: {exc!r}"
        if IN_CI:
            pytest.fail(message + " (CI=true requires it)")
        pytest.skip(message)


async def _fresh_postgres_database() -> tuple[str, str]:
    admin = await _postgres_admin()
    name = f"inbox_test_{uuid.uuid4().hex[:12]}"
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    base = POSTGRES_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    return name, f"{base}/{name}"


async def _drop_postgres_database(name: str) -> None:
    admin = await _postgres_admin()
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A migrated, empty database: a SQLite file (the embedded default) and a fresh PostgreSQL database."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'inbox.db'}"
        await asyncio.to_thread(upgrade, url)
        yield url
        return
    name, url = await _fresh_postgres_database()
    try:
        await asyncio.to_thread(upgrade, url)
        yield url
    finally:
        await _drop_postgres_database(name)
