"""Supervision over HTTP: department statistics and ranking (staff, and a public anonymised version), and the
public tracking page a citizen reaches with their tracking number."""

from __future__ import annotations

import hmac
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from case_api.auth.deps import CurrentUser
from case_api.auth.models import Role
from case_api.auth.throttle import LoginThrottle
from case_api.cases.models import Case
from case_api.cases.numbers import tracking_code
from case_api.catalog.models import Category, Department
from case_api.citizen.commands import public_status
from case_api.deps import SessionDep
from shared.contracts.v1 import utcnow

from .reports import build_report, render_csv, render_html
from .stats import department_stats
from .stats_cache import Figures, StatsCache

router = APIRouter(prefix="/api/v1", tags=["supervision"])

PUBLIC_FIELDS = (
    "rank",
    "name",
    "received",
    "closure_rate",
    "first_response_on_time_rate",
    "resolution_on_time_rate",
    "first_response_minutes_median",
    "satisfaction",
)


# Days a report may name: far wider than any centre's records, and far inside what dates and databases can hold.
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2099, 12, 31)


def _period(request: Request, start: date | None, end: date | None) -> tuple[datetime, datetime]:
    """Local calendar days [from, to] → aware instants; defaults to the last 30 days."""
    tz = ZoneInfo(request.app.state.settings.timezone)
    today = utcnow().astimezone(tz).date()
    end = end or today
    start = start or end - timedelta(days=29)
    if start > end:
        raise HTTPException(422, "`from` must not be after `to`")
    if (end - start).days > 400:
        raise HTTPException(422, "a period covers at most 400 days")
    return datetime.combine(start, time(), tz), datetime.combine(end + timedelta(days=1), time(), tz)


async def _department_figures(
    request: Request,
    session: AsyncSession,
    begin: datetime,
    finish: datetime,
    *,
    public: bool = False,
) -> Figures:
    """Every department's figures for the period, ranked: one computation for supervisors, handlers (who are shown
    their own row) and the public ranking alike."""
    cache: StatsCache = request.app.state.stats_cache
    return await cache.get(
        (begin, finish),
        lambda: department_stats(session, start=begin, end=finish, now=utcnow()),
        # Anonymous callers compute one period at a time: signed-in staff never queue behind them.
        gate=request.app.state.public_stats_gate if public else None,
    )


@router.get("/stats/departments", summary="Per-department volume, response times, on-time and closure rates")
async def stats(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    start: Annotated[date | None, Query(alias="from", ge=FIRST_DAY, le=LAST_DAY)] = None,
    end: Annotated[date | None, Query(alias="to", ge=FIRST_DAY, le=LAST_DAY)] = None,
) -> dict[str, Any]:
    begin, finish = _period(request, start, end)
    figures = await _department_figures(request, session, begin, finish)
    rows = figures.rows
    if user.role == Role.HANDLER:
        # A handler's drill-down stops at their own department, ranked among all of them (alone it would be first).
        rows = [row for row in rows if row["department_id"] == user.department_id]
    return {
        "from": begin.date().isoformat(),
        "to": (finish - timedelta(days=1)).date().isoformat(),
        "as_of": figures.as_of.isoformat(),
        "departments": rows,
    }


@router.get("/public/stats/departments", summary="The published ranking: no login, no case data")
async def public_stats(
    request: Request,
    session: SessionDep,
    start: Annotated[date | None, Query(alias="from", ge=FIRST_DAY, le=LAST_DAY)] = None,
    end: Annotated[date | None, Query(alias="to", ge=FIRST_DAY, le=LAST_DAY)] = None,
) -> dict[str, Any]:
    begin, finish = _period(request, start, end)
    figures = await _department_figures(request, session, begin, finish, public=True)
    return {
        "from": begin.date().isoformat(),
        "to": (finish - timedelta(days=1)).date().isoformat(),
        "as_of": figures.as_of.isoformat(),
        "departments": [{k: row[k] for k in PUBLIC_FIELDS} for row in figures.rows],
    }


class TrackingOut(BaseModel):
    number: str
    status: str
    status_text: str
    category: str | None
    department: str | None
    received_at: datetime
    updated_at: datetime
    answered: bool
    promised_at: datetime | None


@router.get("/track/{number}", response_model=TrackingOut, summary="Public progress of a case by tracking number")
async def track(
    request: Request,
    number: str,
    session: SessionDep,
    code: Annotated[str, Query(description="the six-digit code in the citizen's acknowledgement")] = "",
) -> TrackingOut:
    throttle: LoginThrottle = request.app.state.tracking_throttle
    # Per number and address: enough to stop guessing one number's code, while citizens behind the same carrier
    # NAT address are not shut out of their own cases by someone else's guesses.
    address = f"{request.client.host if request.client else '-'}|{number}"
    throttle.refuse_while_throttled(address, "too many wrong codes for this tracking number")
    # One answer for an unknown number and a wrong code: the page must not tell which numbers exist.
    expected = tracking_code(number, request.app.state.settings.secret_key)
    case = (
        await session.scalar(select(Case).where(Case.number == number))
        if hmac.compare_digest(code.encode(), expected.encode())
        else None
    )
    if case is None:
        throttle.failed(address)
        raise HTTPException(404, "no case with that tracking number and code")
    category = await session.get(Category, case.category_id) if case.category_id else None
    department = await session.get(Department, case.department_id) if case.department_id else None
    return TrackingOut(
        number=case.number,
        status=case.status,
        status_text=public_status(case),
        category=category.name if category else None,
        department=department.name if department else None,
        received_at=case.created_at,
        updated_at=case.updated_at,
        answered=case.replied_at is not None,
        promised_at=case.promised_at,
    )


@router.get(
    "/reports/{period}",
    summary="Weekly or monthly report as JSON, CSV or a readable HTML document",
    response_model=None,
)
async def report(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    period: str,
    day: Annotated[
        date | None,
        Query(alias="date", ge=FIRST_DAY, le=LAST_DAY, description="any day in the period; default today"),
    ] = None,
    format: Annotated[str, Query(pattern="^(json|csv|html)$")] = "json",
) -> dict[str, Any] | Response:
    if user.role == Role.HANDLER:
        raise HTTPException(403, "reports cover every department: supervisors, operators and admins only")
    if period not in ("weekly", "monthly"):
        raise HTTPException(404, "reports are weekly or monthly")
    tz = ZoneInfo(request.app.state.settings.timezone)
    result = await build_report(session, kind=period, day=day or utcnow().astimezone(tz).date(), tz=tz, now=utcnow())
    name = f"inbox-{period}-{result['from']}"
    if format == "csv":
        return Response(
            render_csv(result),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
        )
    if format == "html":
        return HTMLResponse(render_html(result))
    return result
