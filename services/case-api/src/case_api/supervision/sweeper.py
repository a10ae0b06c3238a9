"""The SLA sweeper: finds cases about to breach and breached, flags them and announces each step once.

`sweep_once(now=…)` takes the clock as an argument so tests (and a replay) control time; `run()` calls it on
an interval under the deployment-wide leadership lock, so several replicas never double-announce. The same tick
also reports replies that waited too long for delivery as failed (replies/expiry.py), once, for the same reason.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from case_api.cases.access import co_handlers
from case_api.cases.lifecycle import OPEN, Action, record, transition
from case_api.cases.models import Case
from case_api.leader import SLA_SWEEPER, run_as_leader
from case_api.replies import expiry
from shared.contracts.v1 import utcnow

log = structlog.get_logger(__name__)

ACTOR = "system:sla"
_OPEN = [s.value for s in OPEN]


@dataclass
class SweepResult:
    warned: int = 0
    breached: int = 0
    escalated: int = 0


async def sweep_once(
    sessions: async_sessionmaker[AsyncSession], *, now: datetime, auto_escalate: bool, batch: int = 500
) -> SweepResult:
    result = SweepResult()
    async with sessions() as session, session.begin():
        breached = (
            await session.scalars(
                select(Case)
                .where(Case.status.in_(_OPEN), Case.due_at <= now, Case.sla_state != "breached")
                .order_by(Case.due_at)
                .limit(batch)
                .with_for_update(skip_locked=True)
            )
        ).all()
        helpers = await co_handlers(session, [case.id for case in breached])  # one query, not one per case
        for case in breached:
            late_by = now - case.due_at if case.due_at else None
            changes: dict[str, object] = {"sla_state": "breached", "breached_at": case.breached_at or now}
            first_due = case.first_response_due_at
            unanswered = case.first_responded_at is None and case.first_response_department_id is None
            if unanswered and first_due is not None and first_due <= now:
                # The lateness is the department's that held the case now, not of one it is passed to later.
                changes["first_response_department_id"] = case.department_id or ""
            await record(
                session,
                case,
                "sla.breached",
                actor=ACTOR,
                now=now,
                changes=changes,
                details={
                    "due_at": case.due_at.isoformat() if case.due_at else None,
                    "late_by_s": int(late_by.total_seconds()) if late_by else None,
                    "department_id": case.department_id,
                },
                helpers=helpers.get(case.id, ()),
            )
            result.breached += 1
            if auto_escalate and not case.escalated:
                await transition(
                    session,
                    case,
                    Action.ESCALATE,
                    actor=ACTOR,
                    role="admin",
                    now=now,
                    reason="deadline passed",
                    changes={"escalated": True, "escalated_at": now},
                    helpers=helpers.get(case.id, ()),
                )
                result.escalated += 1
        warned = (
            await session.scalars(
                select(Case)
                .where(Case.status.in_(_OPEN), Case.sla_state == "ok", Case.warn_at <= now, Case.due_at > now)
                .order_by(Case.warn_at)
                .limit(batch)
                .with_for_update(skip_locked=True)
            )
        ).all()
        helpers = await co_handlers(session, [case.id for case in warned])
        for case in warned:
            await record(
                session,
                case,
                "sla.warning",
                actor=ACTOR,
                now=now,
                changes={"sla_state": "warning"},
                details={"due_at": case.due_at.isoformat() if case.due_at else None},
                helpers=helpers.get(case.id, ()),
            )
            result.warned += 1
    return result


class Sweeper:
    def __init__(
        self,
        *,
        engine: AsyncEngine,
        sessions: async_sessionmaker[AsyncSession],
        interval_s: float,
        auto_escalate: bool,
        on_commit: object = None,
        reply_ttl: timedelta | None = None,
    ) -> None:
        self._engine = engine
        self._sessions = sessions
        self._interval_s = interval_s
        self._auto_escalate = auto_escalate
        self._on_commit = on_commit
        self._reply_ttl = reply_ttl  # None: replies are not expired

    async def run(self) -> None:
        await run_as_leader(self._engine, SLA_SWEEPER, self._sweep_forever, name="sla-sweeper")

    async def _sweep_forever(self) -> None:
        while True:
            try:
                result = await sweep_once(self._sessions, now=utcnow(), auto_escalate=self._auto_escalate)
                if result.warned or result.breached:
                    log.info("sla_sweep", warned=result.warned, breached=result.breached, escalated=result.escalated)
                    if callable(self._on_commit):
                        self._on_commit()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("sla_sweep_failed", error=repr(exc))
            if self._reply_ttl is not None:
                await self._expire_replies(self._reply_ttl)
            await asyncio.sleep(self._interval_s)

    async def _expire_replies(self, ttl: timedelta) -> None:
        """Separately from the SLA sweep, so that one failing never stops the other."""
        try:
            expired = await expiry.expire_once(self._sessions, now=utcnow(), ttl=ttl)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("reply_expiry_failed", error=repr(exc))
            return
        if expired:
            log.info("replies_expired", count=expired, ttl_s=ttl.total_seconds())
            if callable(self._on_commit):
                self._on_commit()
