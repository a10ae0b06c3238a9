"""The delivery ledger: one row per reply id, written before and after every platform call.

Why a ledger, and why this one. A reply must reach the citizen at most once per reply id, even when the consumer
restarts mid-way. Kafka alone cannot give that: offsets are committed after a batch, so a crash between a
platform call and the commit hands the same command to the next consumer. Two designs were weighed:

- Rebuilding the set of finished reply ids from outbound.receipts.v1 at start-up: no extra state, but it reads
  the whole topic on every start, and it cannot know about a call that was under way when the process died
  (no receipt was published yet), which is exactly the moment that produces a second message.
- This ledger, a small SQLite file on the service's disk, written *before* each call (`sending`) and *after* it
  (`delivered`, `failed`, or `pending` for a retry). A command whose row is finished is not sent again (its
  receipt is re-published if that had not happened). A row still `sending` means the process died during the
  call: the outcome is unknown, so it is not sent again but reported failed with code `outcome_unknown`, and the
  operator decides. A citizen may miss a reply then, but never gets one twice.

The ledger is committed with `synchronous=FULL`, so a row the loop saw written survives a power cut.

Remaining failure window: the ledger is local to one process's disk. If partitions of outbound.replies.v1 move
to another replica (a crash, or a rebalance while a batch was in flight and its commit then failed), that
replica's ledger has never seen those reply ids, and a reply already delivered but not yet committed can be
sent again. Run one delivery consumer per channel (or give replicas one shared volume), or move the ledger into
a shared database, to close it. A platform call that times out after the platform accepted it is retried as a
transient failure and may also arrive twice; the platforms offer no idempotency key to prevent that.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from uuid import UUID

import aiosqlite

_SCHEMA = """
CREATE TABLE IF NOT EXISTS deliveries (
    reply_id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    platform_code TEXT,
    reason TEXT,
    first_attempt_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    receipt_published INTEGER NOT NULL DEFAULT 0
)
"""
_COLUMNS = "reply_id, status, attempts, platform_code, reason, first_attempt_at, updated_at, receipt_published"


class LedgerStatus(StrEnum):
    PENDING = "pending"  # not sent yet, or a transient failure waiting for its retry
    SENDING = "sending"  # a platform call is under way (or was, when the process died)
    DELIVERED = "delivered"
    FAILED = "failed"


@dataclass(frozen=True)
class Delivery:
    reply_id: UUID
    status: LedgerStatus
    attempts: int
    platform_code: str | None
    reason: str | None
    first_attempt_at: datetime
    updated_at: datetime
    receipt_published: bool = False

    @classmethod
    def new(cls, reply_id: UUID, now: datetime) -> Delivery:
        return cls(reply_id, LedgerStatus.PENDING, 0, None, None, now, now)

    @property
    def finished(self) -> bool:
        return self.status in (LedgerStatus.DELIVERED, LedgerStatus.FAILED)

    def sending(self, now: datetime) -> Delivery:
        return replace(self, status=LedgerStatus.SENDING, attempts=self.attempts + 1, updated_at=now)

    def waiting(self, code: str, reason: str, now: datetime) -> Delivery:
        return replace(self, status=LedgerStatus.PENDING, platform_code=code, reason=reason, updated_at=now)

    def finish(self, status: LedgerStatus, code: str | None, reason: str | None, now: datetime) -> Delivery:
        return replace(self, status=status, platform_code=code, reason=reason, updated_at=now)

    def published(self, now: datetime) -> Delivery:
        return replace(self, receipt_published=True, updated_at=now)


class DeliveryLedger:
    """Async access to the SQLite file; aiosqlite runs the blocking calls on its own thread."""

    def __init__(self, db: aiosqlite.Connection, path: Path) -> None:
        self._db = db
        self.path = path

    @classmethod
    async def open(cls, path: Path) -> DeliveryLedger:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Autocommit: every statement below is its own durable transaction.
        db = await aiosqlite.connect(path, isolation_level=None)
        try:
            await db.execute("PRAGMA journal_mode=WAL")
            # FULL, not WAL's usual NORMAL: the `sending` row must be on disk before the platform is called.
            await db.execute("PRAGMA synchronous=FULL")
            await db.execute("PRAGMA busy_timeout=5000")
            await db.execute(_SCHEMA)
        except BaseException:
            await db.close()
            raise
        return cls(db, path)

    async def close(self) -> None:
        await self._db.close()

    async def get(self, reply_id: UUID) -> Delivery | None:
        async with self._db.execute(f"SELECT {_COLUMNS} FROM deliveries WHERE reply_id = ?", (str(reply_id),)) as cur:
            row = await cur.fetchone()
        if row is None:
            return None
        return Delivery(
            reply_id=UUID(row[0]),
            status=LedgerStatus(row[1]),
            attempts=int(row[2]),
            platform_code=row[3],
            reason=row[4],
            first_attempt_at=datetime.fromisoformat(row[5]),
            updated_at=datetime.fromisoformat(row[6]),
            receipt_published=bool(row[7]),
        )

    async def save(self, delivery: Delivery) -> Delivery:
        await self._db.execute(
            f"INSERT INTO deliveries ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(reply_id) DO UPDATE SET status = excluded.status, attempts = excluded.attempts, "
            "platform_code = excluded.platform_code, reason = excluded.reason, updated_at = excluded.updated_at, "
            "receipt_published = excluded.receipt_published",
            (
                str(delivery.reply_id),
                delivery.status.value,
                delivery.attempts,
                delivery.platform_code,
                delivery.reason,
                delivery.first_attempt_at.isoformat(timespec="microseconds"),
                delivery.updated_at.isoformat(timespec="microseconds"),
                int(delivery.receipt_published),
            ),
        )
        return delivery

    async def prune(self, *, now: datetime, keep: timedelta) -> int:
        """Forget finished rows older than `keep`; unfinished rows stay, they still decide a redelivery."""
        cursor = await self._db.execute(
            "DELETE FROM deliveries WHERE status IN (?, ?) AND receipt_published = 1 AND updated_at < ?",
            (LedgerStatus.DELIVERED.value, LedgerStatus.FAILED.value, (now - keep).isoformat(timespec="microseconds")),
        )
        await cursor.close()
        return cursor.rowcount
