"""Tracking numbers citizens can read out and type: the local date and a per-day sequence, 20261124-00042; and
the six-digit code that goes with each, which the public tracking page asks for."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

# Portable upsert (SQLite ≥ 3.35 and PostgreSQL): reserves `n` numbers in one statement, safe across replicas.
_RESERVE = text(
    "INSERT INTO case_counters (day, last) VALUES (:day, :n) "
    "ON CONFLICT (day) DO UPDATE SET last = case_counters.last + :n RETURNING last"
)


async def reserve_numbers(session: AsyncSession, n: int, *, now: datetime, tz: ZoneInfo) -> list[str]:
    if n <= 0:
        return []
    day = now.astimezone(tz).strftime("%Y%m%d")
    last = (await session.execute(_RESERVE, {"day": day, "n": n})).scalar_one()
    return [f"{day}-{seq:05d}" for seq in range(last - n + 1, last + 1)]


def tracking_code(number: str, secret: str) -> str:
    """Six digits derived from the number with the deployment's secret, told only to the citizen (in the
    acknowledgement). Numbers are sequential, so without it anyone could walk through a day's cases on the
    public page. Derived, not stored: every case ever numbered has one; a new secret gives new codes."""
    digest = hmac.new(secret.encode(), b"tracking-code:" + number.encode(), hashlib.sha256).digest()
    return f"{int.from_bytes(digest[:8], 'big') % 1_000_000:06d}"
