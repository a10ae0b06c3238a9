"""Published outbox rows are deleted after the retention period; nothing unpublished, recent or newest goes."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from case_api.outbox.models import OutboxRecord
from case_api.outbox.retention import purge_chunk
from shared.contracts.v1 import utcnow
from shared.topics import CASE_EVENTS

Sessions = async_sessionmaker[AsyncSession]


async def test_only_old_published_rows_go_and_the_newest_id_stays(sessions: Sessions) -> None:
    now = utcnow()
    old, recent = now - timedelta(days=10), now - timedelta(days=1)
    rows = [  # (key, published_at), in id order
        ("old-1", old),
        ("old-2", old),
        ("recent", recent),
        ("unpublished", None),  # the broker was down for ten days: it must still go out
        ("old-but-newest", old),  # on SQLite its id would be handed out again if it went
    ]
    async with sessions() as session, session.begin():
        for key, published_at in rows:
            await session.execute(
                insert(OutboxRecord).values(
                    topic=CASE_EVENTS, key=key, value="{}", created_at=old, published_at=published_at
                )
            )
    assert await purge_chunk(sessions, before=now - timedelta(days=7), limit=1) == 1  # oldest first
    assert await purge_chunk(sessions, before=now - timedelta(days=7)) == 1
    async with sessions() as session:
        left = (await session.scalars(select(OutboxRecord.key).order_by(OutboxRecord.id))).all()
    assert left == ["recent", "unpublished", "old-but-newest"]
    assert await purge_chunk(sessions, before=now - timedelta(days=7)) == 0
