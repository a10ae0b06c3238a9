"""Department statistics over a period: what a supervision office publishes and ranks departments by."""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Float, and_, case, cast, extract, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from case_api.cases.models import Case, CaseStatus, CaseTransfer, TransferKind
from case_api.catalog.models import Department


@dataclass
class DepartmentStats:
    department_id: str
    name: str
    received: int = 0
    closed: int = 0
    first_response_median: float | None = None  # minutes
    first_response_p90: float | None = None
    first_response_on_time: int = 0
    first_response_due: int = 0  # cases whose first-response deadline has been decided (met, or passed)
    resolution_on_time: int = 0
    resolution_due: int = 0
    transfers_in: int = 0
    transfers_out: int = 0
    returned: int = 0  # sent back to the operators as not the department's (a transfer to no department)
    reopened: int = 0
    overdue_now: int = 0
    rating_count: int = 0
    rating_sum: int = 0

    def add(self, figures: dict[str, int]) -> None:
        for name, value in figures.items():
            setattr(self, name, getattr(self, name) + value)

    def as_dict(self) -> dict[str, Any]:
        median, p90 = self.first_response_median, self.first_response_p90
        return {
            "department_id": self.department_id,
            "name": self.name,
            "received": self.received,
            "closed": self.closed,
            "closure_rate": _rate(self.closed, self.received),
            "first_response_minutes_median": round(median, 1) if median is not None else None,
            "first_response_minutes_p90": round(p90, 1) if p90 is not None else None,
            "first_response_on_time_rate": _rate(self.first_response_on_time, self.first_response_due),
            "resolution_on_time_rate": _rate(self.resolution_on_time, self.resolution_due),
            "transfers_in": self.transfers_in,
            "transfers_out": self.transfers_out,
            "returned": self.returned,
            "reopened": self.reopened,
            "overdue_now": self.overdue_now,
            "satisfaction": round(self.rating_sum / self.rating_count, 2) if self.rating_count else None,
            "ratings": self.rating_count,
        }

    def rank_key(self) -> tuple[float, float, int, str]:
        """Ranking: on-time first response, then closure rate, then volume; departments without data last."""
        on_time, closure = (
            _rate(self.first_response_on_time, self.first_response_due),
            _rate(self.closed, self.received),
        )
        return (  # a rate of 0 is a result (ranked above "no data yet"), not a missing one
            -(on_time if on_time is not None else -1),
            -(closure if closure is not None else -1),
            -self.received,
            self.department_id,
        )


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _p90(values: list[float]) -> float:
    return values[max(0, math.ceil(0.9 * len(values)) - 1)]  # nearest-rank


# Spam and duplicates an operator discarded: closed without any response ever (closing needs an answer; a case
# reopened and then discarded was answered once, and still counts). They are no citizen's request, so they count
# in no department's figures and no report's problems.
DISCARDED = and_(Case.status == CaseStatus.CLOSED, Case.replied_at.is_(None), Case.first_responded_at.is_(None))


def _count_if(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


# Late now counts against a department while it holds the case: a reopened case keeps the department that
# answered it, but until the operators dispatch it again, its lateness is theirs.
HELD = Case.status.in_([CaseStatus.DISPATCHED.value, CaseStatus.REPLIED.value])

# The department a first response counts for: the one that gave it or let it become late (recorded then), else,
# for cases answered before that was recorded, the one holding the case. "" is the operators: no department's.
RESPONDER = func.coalesce(Case.first_response_department_id, Case.department_id)
# The departments whose answer a rating, and a reopening, judged; likewise recorded then, else the holder.
RATER = func.coalesce(Case.rated_department_id, Case.department_id)
REOPENER = func.coalesce(Case.reopened_department_id, Case.department_id)


async def _first_response_minutes(
    session: AsyncSession, where: list[ColumnElement[bool]]
) -> dict[str, tuple[float, float]]:
    """department (RESPONDER) → (median, nearest-rank p90) of minutes to first response."""
    responded = [*where, Case.first_responded_at.is_not(None)]
    if session.get_bind().dialect.name == "postgresql":
        # Ordered-set aggregates: the database sorts once per department; nothing but eight rows cross the wire.
        # percentile_cont(0.5) is statistics.median, percentile_disc(0.9) the nearest rank.
        minutes = cast(extract("epoch", Case.first_responded_at - Case.created_at), Float) / 60
        rows = await session.execute(
            select(
                RESPONDER,
                func.percentile_cont(0.5).within_group(minutes),
                func.percentile_disc(0.9).within_group(minutes),
            )
            .where(*responded)
            .group_by(RESPONDER)
        )
        return {dept: (float(median), float(p90)) for dept, median, p90 in rows}
    # SQLite (the embedded default, small volumes) has no percentiles: two timestamps per case, computed here.
    per_department: dict[str, list[float]] = defaultdict(list)
    rows = await session.execute(select(RESPONDER, Case.created_at, Case.first_responded_at).where(*responded))
    for dept, created, responded_at in rows:
        per_department[dept].append((responded_at - created).total_seconds() / 60)
    out = {}
    for dept, values in per_department.items():
        values.sort()
        out[dept] = (statistics.median(values), _p90(values))
    return out


async def department_stats(
    session: AsyncSession, *, start: datetime, end: datetime, now: datetime, department_id: str | None = None
) -> list[dict[str, Any]]:
    """Cases received in [start, end) counted for the department that holds them (lead), ranked best first.

    Aggregated in the database: a month of a large city is ~100,000 cases, which took seconds to load as
    objects (benchmarks/NOTES.md).
    """
    departments = {d.id: d.name for d in (await session.scalars(select(Department))).all()}
    stats: dict[str, DepartmentStats] = {}

    def bucket(dept: str) -> DepartmentStats:
        if dept not in stats:
            stats[dept] = DepartmentStats(dept, departments.get(dept, dept))
        return stats[dept]

    # First responses count for the department that gave them or let them become late (RESPONDER), not for
    # whoever holds the case now: a department passing a case on late would pass its lateness on. Ratings and
    # reopenings likewise for the department whose answer they judged (RATER, REOPENER).
    period = [Case.created_at >= start, Case.created_at < end, ~DISCARDED]
    if department_id:
        period.append(or_(*(who == department_id for who in (Case.department_id, RATER, REOPENER, RESPONDER))))

    first_due = and_(
        Case.first_response_due_at.is_not(None),
        or_(Case.first_responded_at.is_not(None), Case.first_response_due_at <= now),
    )
    resolution_due = and_(
        Case.resolution_due_at.is_not(None), or_(Case.replied_at.is_not(None), Case.resolution_due_at <= now)
    )
    # One pass over the period's cases, grouped by the four departments a case can count for: nearly always the
    # same one, so a few rows per department. Four grouped queries, one per attribution, took twice as long.
    groups = (Case.department_id, RATER, REOPENER, RESPONDER)
    counted = await session.execute(
        select(
            *groups,
            func.count(),
            _count_if(Case.status == CaseStatus.CLOSED),
            _count_if(resolution_due),
            _count_if(and_(resolution_due, Case.replied_at <= Case.resolution_due_at)),
            _count_if(and_(HELD, Case.due_at.is_not(None), Case.due_at < now)),
            func.count(Case.rating),
            func.coalesce(func.sum(Case.rating), 0),
            _count_if(Case.reopen_count > 0),
            _count_if(first_due),
            _count_if(and_(first_due, Case.first_responded_at <= Case.first_response_due_at)),
        )
        .where(*period)
        .group_by(*groups)
    )
    for holder, rater, reopener, responder, *values in counted:
        received, closed, res_due, res_on_time, overdue, rated, rating_sum, reopened, fr_due, fr_on_time = values
        attributed: tuple[tuple[str | None, dict[str, int]], ...] = (
            (
                holder,
                {
                    "received": received,
                    "closed": closed,
                    "overdue_now": overdue,
                    "resolution_due": res_due,
                    "resolution_on_time": res_on_time,
                },
            ),
            (rater, {"rating_count": rated, "rating_sum": int(rating_sum or 0)}),
            (reopener, {"reopened": reopened}),
            (responder, {"first_response_due": fr_due, "first_response_on_time": fr_on_time}),
        )
        for who, figures in attributed:
            if who and (department_id is None or who == department_id):  # "" and none: the operators'
                bucket(who).add(figures)
    responder_where = [
        Case.created_at >= start,
        Case.created_at < end,
        ~DISCARDED,
        RESPONDER.is_not(None),
        RESPONDER != "",
        *([RESPONDER == department_id] if department_id else []),
    ]
    for responder_id, (median, p90) in (await _first_response_minutes(session, responder_where)).items():
        bucket(responder_id).first_response_median, bucket(responder_id).first_response_p90 = median, p90

    in_period = [CaseTransfer.at >= start, CaseTransfer.at < end]
    out = select(CaseTransfer.from_department_id, func.count()).where(
        *in_period, CaseTransfer.from_department_id.is_not(None), CaseTransfer.kind != TransferKind.RECALL.value
    )
    into = select(CaseTransfer.to_department_id, func.count()).where(
        *in_period, CaseTransfer.to_department_id.is_not(None)
    )
    if department_id:
        out = out.where(CaseTransfer.from_department_id == department_id)
        into = into.where(CaseTransfer.to_department_id == department_id)
    returns = CaseTransfer.kind == TransferKind.RETURN.value
    grouped = out.add_columns(returns).group_by(CaseTransfer.from_department_id, returns)
    for dept, n, returned in await session.execute(grouped):
        assert dept is not None  # the query leaves out transfers from no department
        if returned:
            bucket(dept).returned += n
        else:
            bucket(dept).transfers_out += n
    for dept, n in await session.execute(into.group_by(CaseTransfer.to_department_id)):
        assert dept is not None
        bucket(dept).transfers_in += n

    rows = [s.as_dict() for s in sorted(stats.values(), key=DepartmentStats.rank_key)]
    for rank, row in enumerate(rows, start=1):
        row["rank"] = rank
    return rows
