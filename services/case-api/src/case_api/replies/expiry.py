"""Replies nobody reported on in time are marked failed, so the operator learns the citizen did not get them.

A reply stays `queued` until its channel service's receipt arrives; if the command is never consumed (delivery
disabled or down for hours, the command lost) it would stay queued for ever. Every command carries the deadline
case-api gave it from its reply time to live (INBOX_REPLY_TTL_S, service.build_reply), and no channel service
sends it later (shared/outbound/deliver.py); here a reply still queued `IN_FLIGHT_MARGIN` after the same time to
live is marked failed with the same code (`expired`), and announced as a failed receipt would be (`reply-failed`),
so it shows in the live queue and may be sent again. Should the platform's receipt come after all, it wins
(status.may_become): a delivered reply is shown delivered.

The SLA sweeper runs `expire_once` on its tick, under its leadership lock (supervision/sweeper.py).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnClause, literal_column, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from case_api.outbox import service as outbox
from shared.contracts.v1 import REPLY_EXPIRED, expired_reason

from .models import Reply, ReplyStatus
from .status import status_events

ACTOR = "system:reply-expiry"
# A channel service starts no platform call after the time to live; this covers one that started just before it
# (HTTP timeouts of 10 s, a token fetch, the receipt's way back) and clocks a little apart, so a reply is not
# reported failed while it is being delivered.
IN_FLIGHT_MARGIN = timedelta(minutes=2)
# Inline, not a bound parameter: PostgreSQL matches the partial index ix_replies_queued (status = 'queued') only
# against a literal, and a prepared statement's generic plan would otherwise scan every reply.
_QUEUED: ColumnClause[str] = literal_column(f"'{ReplyStatus.QUEUED.value}'")
_DETAIL = "its channel service never reported on it (delivery stopped or behind?): send it again if it still matters"


async def expire_once(
    sessions: async_sessionmaker[AsyncSession],
    *,
    now: datetime,
    ttl: timedelta,
    margin: timedelta = IN_FLIGHT_MARGIN,
    batch: int = 500,
) -> int:
    """Mark failed every reply still queued `ttl + margin` after it was created; returns how many.

    One UPDATE … RETURNING per batch of `batch` replies, each batch its own transaction with its events, until
    none are left (a backlog after a long outage goes in one tick, without one huge transaction).
    """
    reason = expired_reason(ttl, _DETAIL)
    overdue = now - ttl - margin
    total = 0
    while True:
        async with sessions() as session, session.begin():
            candidate = aliased(Reply, name="stale")  # its own FROM, not correlated with the UPDATE's table
            stale = (
                select(candidate.id)
                .where(candidate.status == _QUEUED, candidate.created_at < overdue)
                .order_by(candidate.created_at)
                .limit(batch)
                .with_for_update(skip_locked=True)  # a receipt being applied now is left to decide it
            )
            expired = (
                await session.scalars(
                    update(Reply)
                    # The status again: on PostgreSQL a receipt committed meanwhile is seen here, and wins.
                    .where(Reply.id.in_(stale.scalar_subquery()), Reply.status == _QUEUED)
                    .values(status=ReplyStatus.FAILED, platform_code=REPLY_EXPIRED, reason=reason, finished_at=now)
                    .returning(Reply),
                    execution_options={"synchronize_session": False},
                )
            ).all()
            await outbox.add(session, await status_events(session, [(reply, ACTOR) for reply in expired]))
        total += len(expired)
        if len(expired) < batch:
            return total
