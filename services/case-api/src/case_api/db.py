"""One async engine and sessionmaker per process; the declarative base every domain's models share."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, DateTime, Dialect, MetaData, Table, TypeDecorator, event, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase

# Stable constraint names so migrations can refer to them on every database.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

JsonType = JSON().with_variant(JSONB(), "postgresql")


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC in and out on every database (SQLite would otherwise hand back naive datetimes)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    # Every model is mapped to a plain table (no joined or selectable mappings); the bulk paths insert into it.
    __table__: ClassVar[Table]


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the API read while the intake consumer writes; busy_timeout waits instead of failing.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
    dbapi_connection.isolation_level = None  # the driver begins nothing itself: _begin_immediate does


def _begin_immediate(connection: Any) -> None:
    """Take SQLite's write lock when a transaction begins, waiting (busy_timeout) while another holds it.

    With a deferred BEGIN, a transaction that read first and wants to write after another writer committed
    fails at once ("database is locked": its snapshot is stale, so SQLite does not wait). Intake, the outbox
    publisher and the API's actions all read before they write; under load intake failed and backed off for
    seconds (benchmarks/NOTES.md). Requests that only read use `make_engine(read_only=True)` and never wait.
    """
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def _begin_deferred(connection: Any) -> None:
    connection.exec_driver_sql("BEGIN")  # one snapshot for the whole read, and no lock: WAL readers never wait


def make_engine(url: str, *, echo: bool = False, read_only: bool = False) -> AsyncEngine:
    """`read_only` matters on SQLite only: its transactions do not take the write lock (GET requests)."""
    if url.startswith("sqlite"):
        engine = create_async_engine(url, echo=echo)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _begin_deferred if read_only else _begin_immediate)
        return engine
    # Plan every statement for the tables as they are now. Intake's lookups take hundreds of keys per batch; once
    # PostgreSQL settles on a generic plan made while a table was small (a new deployment, a backlog), it keeps
    # scanning the whole table as it grows: a 100,000-message drain fell from 1,700 to 290 messages/s
    # (benchmarks/NOTES.md). Planning these statements costs well under a millisecond to a few.
    connect_args = {"server_settings": {"plan_cache_mode": "force_custom_plan"}} if "+asyncpg" in url else {}
    return create_async_engine(
        url, echo=echo, pool_size=10, max_overflow=10, pool_pre_ping=True, connect_args=connect_args
    )


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


async def database_reachable(engine: AsyncEngine) -> bool:
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception:
        return False
    return True
