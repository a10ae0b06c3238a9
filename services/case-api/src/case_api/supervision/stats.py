"""Department statistics over a period: what a supervision office publishes and ranks departments by."""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from case_api.cases.models import Case, CaseStatus, CaseTransfer
from case_api.catalog.models import Department


@dataclass
class DepartmentStats:
    department_id: str
    name: str
    received: int = 0
    closed: int = 0
    first_response_minutes: list[float] = field(default_factory=list)
    first_response_on_time: int = 0
    first_response_due: int = 0  # cases whose first-response deadline has been decided (met, or passed)
    resolution_on_time: int = 0
    resolution_due: int = 0
    transfers_in: int = 0
    transfers_out: int = 0
    reopened: int = 0
    overdue_now: int = 0
    ratings: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        minutes = sorted(self.first_response_minutes)
        return {
            "department_id": self.department_id,
            "name": self.name,
            "received": self.received,
            "closed": self.closed,
            "closure_rate": _rate(self.closed, self.received),
            "first_response_minutes_median": round(statistics.median(minutes), 1) if minutes else None,
            "first_response_minutes_p90": round(_p90(minutes), 1) if minutes else None,
            "first_response_on_time_rate": _rate(self.first_response_on_time, self.first_response_due),
            "resolution_on_time_rate": _rate(self.resolution_on_time, self.resolution_due),
            "transfers_in": self.transfers_in,
            "transfers_out": self.transfers_out,
            "reopened": self.reopened,
            "overdue_now": self.overdue_now,
            "satisfaction": round(sum(self.ratings) / len(self.ratings), 2) if self.ratings else None,
            "ratings": len(self.ratings),
        }


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _p90(values: list[float]) -> float:
    return values[max(0, math.ceil(0.9 * len(values)) - 1)]  # nearest-rank


async def department_stats(
    session: AsyncSession, *, start: datetime, end: datetime, now: datetime, department_id: str | None = None
) -> list[dict[str, object]]:
    """Cases received in [start, end) counted for the department that holds them (lead), ranked best first."""
    departments = {d.id: d.name for d in (await session.scalars(select(Department))).all()}
    stats: dict[str, DepartmentStats] = defaultdict(lambda: DepartmentStats("", ""))

    def bucket(dept: str) -> DepartmentStats:
        if dept not in stats:
            stats[dept] = DepartmentStats(dept, departments.get(dept, dept))
        return stats[dept]

    query = select(Case).where(Case.created_at >= start, Case.created_at < end, Case.department_id.is_not(None))
    if department_id:
        query = query.where(Case.department_id == department_id)
    for case in (await session.scalars(query)).all():
        s = bucket(case.department_id or "")
        s.received += 1
        s.closed += case.status == CaseStatus.CLOSED
        s.reopened += case.reopen_count > 0
        if case.first_responded_at:
            s.first_response_minutes.append((case.first_responded_at - case.created_at).total_seconds() / 60)
        if case.first_response_due_at and (case.first_responded_at or case.first_response_due_at <= now):
            s.first_response_due += 1
            s.first_response_on_time += bool(
                case.first_responded_at and case.first_responded_at <= case.first_response_due_at
            )
        if case.resolution_due_at and (case.replied_at or case.resolution_due_at <= now):
            s.resolution_due += 1
            s.resolution_on_time += bool(case.replied_at and case.replied_at <= case.resolution_due_at)
        if case.status != CaseStatus.CLOSED and case.due_at and case.due_at < now:
            s.overdue_now += 1
        if case.rating is not None:
            s.ratings.append(case.rating)

    transfers = select(CaseTransfer.from_department_id, CaseTransfer.to_department_id).where(
        CaseTransfer.at >= start, CaseTransfer.at < end
    )
    if department_id:
        transfers = transfers.where(
            or_(CaseTransfer.from_department_id == department_id, CaseTransfer.to_department_id == department_id)
        )
    for from_dept, to_dept in (await session.execute(transfers)).all():
        if from_dept and (not department_id or from_dept == department_id):
            bucket(from_dept).transfers_out += 1
        if not department_id or to_dept == department_id:
            bucket(to_dept).transfers_in += 1

    rows = [s.as_dict() for s in stats.values()]
    # Ranking: on-time first response, then closure rate, then volume; departments without data last.
    rows.sort(
        key=lambda r: (
            -(r["first_response_on_time_rate"] or -1),
            -(r["closure_rate"] or -1),  # type: ignore[operator]
            -int(r["received"]),
            str(r["department_id"]),
        )
    )  # type: ignore[call-overload]
    for rank, row in enumerate(rows, start=1):
        row["rank"] = rank
    return rows
