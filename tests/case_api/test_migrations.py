"""Alembic owns the schema: the migrations build exactly what the models describe, and go back down."""

from __future__ import annotations

import asyncio

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, inspect

from case_api.db import make_engine
from case_api.migrate import downgrade, upgrade
from case_api.models import Base


def _diff(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": False})
    return list(compare_metadata(context, Base.metadata))


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


async def test_models_and_migrations_agree(database_url: str) -> None:
    engine = make_engine(database_url)
    async with engine.connect() as conn:
        assert await conn.run_sync(_diff) == []
    await engine.dispose()


async def test_downgrade_to_base_and_up_again(database_url: str) -> None:
    await asyncio.to_thread(downgrade, database_url, "base")
    engine = make_engine(database_url)
    async with engine.connect() as conn:
        assert await conn.run_sync(_tables) <= {"alembic_version"}
    await asyncio.to_thread(upgrade, database_url, "head")
    async with engine.connect() as conn:
        assert {"cases", "messages", "contacts"} <= await conn.run_sync(_tables)
    await engine.dispose()
