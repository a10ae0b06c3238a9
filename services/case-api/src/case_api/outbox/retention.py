"""Published outbox rows are kept for a while, then deleted: the table would otherwise grow by every event.

They are kept at all because the live queue replays from them (a reconnecting screen sends Last-Event-ID) and
an engineer may look at what went out. The newest row always stays: on SQLite a table emptied of its largest id
hands that id out again, and every open live queue, which asks for ids above the last it saw, would miss it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from .models import OutboxRecord

CHUNK = 5_000  # rows per transaction, one transaction per publishing round: publishing never waits long


async def purge_chunk(sessions: async_sessionmaker[AsyncSession], *, before: datetime, limit: int = CHUNK) -> int:
    """Delete up to `limit` rows published before `before` (never the newest row); returns how many."""
    async with sessions() as session, session.begin():
        newest = (await session.scalar(select(func.max(OutboxRecord.id)))) or 0
        chunk = (
            select(OutboxRecord.id)
            .where(OutboxRecord.published_at < before, OutboxRecord.id < newest)
            .order_by(OutboxRecord.published_at, OutboxRecord.id)
            .limit(limit)
        )
        result = await session.execute(
            delete(OutboxRecord).where(OutboxRecord.id.in_(chunk)).execution_options(synchronize_session=False)
        )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
