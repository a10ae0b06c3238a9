"""Alembic owns the schema: the migrations build exactly what the models describe, and go back down."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, inspect, select, text

from case_api.cases.models import Case
from case_api.db import make_engine, make_sessionmaker
from case_api.intake.service import intake_batch
from case_api.migrate import downgrade, upgrade
from case_api.models import Base
from tests.case_api.factories import POLICY, routed


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


async def test_rows_already_there_are_carried_into_the_new_meanings(database_url: str) -> None:
    """0012: a department's earlier returns keep counting as returns once transfers carry a kind. 0013: intake's
    automatic dispatches read "dispatch" on the trail, as operators' do. 0016: a replied case whose latest answer
    had failed comes back to the queue (an earlier answer delivered, and a later rating request, change nothing), and
    an answered case's closing counts as having asked for a rating, as every such closing did."""
    engine = make_engine(database_url)
    async with make_sessionmaker(engine)() as session, session.begin():
        items = [routed("m1"), routed("m2", sender="oClosed")]
        await intake_batch(session, items, tz=ZoneInfo("Asia/Shanghai"), policy=POLICY)
    await asyncio.to_thread(downgrade, database_url, "20261125_0011")
    async with engine.begin() as conn:
        case_id, closed_id = (await conn.execute(text("SELECT id FROM cases ORDER BY number"))).scalars().all()
        for row_id, target in ((uuid.uuid4(), "market"), (uuid.uuid4(), None)):
            await conn.execute(
                text(
                    "INSERT INTO case_transfers (id, case_id, from_department_id, to_department_id, reason, actor, at)"
                    " VALUES (:id, :case_id, 'housing', :target, 'why', 'someone', :at)"
                ),
                {
                    "id": row_id if "postgres" in database_url else row_id.hex,
                    "case_id": case_id,
                    "target": target,
                    "at": datetime(2026, 11, 2, tzinfo=UTC),
                },
            )
        await conn.execute(
            text(
                "INSERT INTO audit_entries (id, case_id, actor, action, at, from_status, to_status)"
                " VALUES (:id, :case_id, 'system:intake', 'dispatched', :at, 'new', 'dispatched')"
            ),
            {"id": uuid.uuid4().hex, "case_id": case_id, "at": datetime(2026, 11, 2, tzinfo=UTC)},
        )
        await conn.execute(text("UPDATE cases SET status = 'replied' WHERE id = :id"), {"id": case_id})
        await conn.execute(
            text("UPDATE cases SET status = 'closed', closed_at = :at, replied_at = :at WHERE id = :id"),
            {"id": closed_id, "at": datetime(2026, 11, 3, tzinfo=UTC)},
        )
        for hour, automatic, status in ((10, False, "delivered"), (11, False, "failed"), (12, True, "delivered")):
            await conn.execute(
                text(
                    "INSERT INTO replies (id, case_id, text, interim, automatic, status, attempts, created_by,"
                    " created_at, finished_at) VALUES (:id, :case_id, '答复', :no, :automatic, :status, 1, 'op',"
                    " :at, :at)"
                ),
                {
                    "id": uuid.uuid4().hex,
                    "case_id": case_id,
                    "no": False,
                    "automatic": automatic,
                    "status": status,
                    "at": datetime(2026, 11, 2, hour, tzinfo=UTC),
                },
            )
    await asyncio.to_thread(upgrade, database_url, "head")
    async with engine.connect() as conn:
        kinds = (await conn.execute(text("SELECT to_department_id, kind FROM case_transfers"))).all()
        trail = text("SELECT action FROM audit_entries WHERE case_id = :id ORDER BY action")
        actions = (await conn.execute(trail, {"id": case_id})).scalars().all()
    async with make_sessionmaker(engine)() as session:
        case, closed = (await session.scalars(select(Case).order_by(Case.number))).all()
    await engine.dispose()
    assert sorted(kinds, key=lambda r: r[0] or "") == [(None, "return"), ("market", "transfer")]
    assert actions == ["created", "dispatch"]
    assert case.answer_failed_at == datetime(2026, 11, 2, 11, tzinfo=UTC)
    assert (case.rating_requested_at, closed.rating_requested_at) == (None, datetime(2026, 11, 3, tzinfo=UTC))
