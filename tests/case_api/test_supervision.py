"""Supervision: the sweeper with a controlled clock, statistics on a known set of cases, public tracking."""

from __future__ import annotations

import json
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from case_api.auth.models import Role, User
from case_api.cases.actions import CaseActions
from case_api.cases.lifecycle import record
from case_api.cases.models import Case, CaseDepartment
from case_api.citizen.notices import Notices
from case_api.intake.service import intake_batch
from case_api.outbox.models import OutboxRecord
from case_api.replies.models import ReplyStatus
from case_api.supervision.stats import department_stats
from case_api.supervision.sweeper import sweep_once
from shared.contracts.v1 import utcnow
from tests.case_api.factories import POLICY, routed

Sessions = async_sessionmaker[AsyncSession]
ADMIN = User(username="boss", role=Role.ADMIN.value, display_name="boss")
TZ = ZoneInfo("Asia/Shanghai")


async def seed(sessions: Sessions, *items: object) -> list[Case]:
    async with sessions() as session, session.begin():
        await intake_batch(session, list(items), tz=TZ, policy=POLICY)  # type: ignore[arg-type]
    async with sessions() as session:
        return list((await session.scalars(select(Case).order_by(Case.number))).all())


async def event_types(sessions: Sessions) -> list[str]:
    async with sessions() as session:
        rows = (await session.scalars(select(OutboxRecord.value).order_by(OutboxRecord.id))).all()
    return [json.loads(v)["type"].removeprefix("gov.inbox.case.") for v in rows]


async def test_sweeper_warns_then_breaches_once_and_escalates(sessions: Sessions) -> None:
    [case] = await seed(sessions, routed("m1"))
    assert case.due_at is not None and case.warn_at is not None
    created = case.created_at
    # Before the warning threshold nothing happens.
    quiet = await sweep_once(sessions, now=created + timedelta(minutes=10), auto_escalate=True)
    assert (quiet.warned, quiet.breached) == (0, 0)
    warned = await sweep_once(sessions, now=created + timedelta(minutes=50), auto_escalate=True)
    again = await sweep_once(sessions, now=created + timedelta(minutes=55), auto_escalate=True)
    assert (warned.warned, again.warned) == (1, 0)
    breached = await sweep_once(sessions, now=created + timedelta(minutes=61), auto_escalate=True)
    later = await sweep_once(sessions, now=created + timedelta(hours=3), auto_escalate=True)
    assert (breached.breached, breached.escalated, later.breached) == (1, 1, 0)
    async with sessions() as session:
        swept = (await session.scalars(select(Case))).one()
    assert swept.sla_state == "breached" and swept.escalated and swept.breached_at is not None
    assert swept.status == "new"  # supervision flags; it does not move the case
    assert await event_types(sessions) == ["created", "sla.warning", "sla.breached", "escalated"]


async def test_a_second_deadline_missed_is_announced_too(sessions: Sessions) -> None:
    [case] = await seed(sessions, routed("m1"))
    created = case.created_at
    first = await sweep_once(sessions, now=created + timedelta(hours=2), auto_escalate=False)
    assert first.breached == 1  # the first response (1 hour)
    # The first response comes on day six, after the resolution deadline (5 days) went by as well.
    async with sessions() as session, session.begin():
        late = (await session.scalars(select(Case))).one()
        changes = {"first_responded_at": created + timedelta(days=6)}
        await record(session, late, "test.first-response", actor="t", now=created + timedelta(days=6), changes=changes)
    second = await sweep_once(sessions, now=created + timedelta(days=6, minutes=1), auto_escalate=False)
    assert second.breached == 1  # the resolution deadline: its own breach, announced once
    again = await sweep_once(sessions, now=created + timedelta(days=6, minutes=2), auto_escalate=False)
    assert again.breached == 0
    types = await event_types(sessions)
    assert types.count("sla.breached") == 2


async def test_answered_and_closed_cases_are_left_alone(sessions: Sessions) -> None:
    await seed(sessions, routed("m1", sender="a"), routed("m2", sender="b"))
    async with sessions() as session, session.begin():
        await session.execute(update(Case).where(Case.subject != "").values(status="closed", due_at=None))
    result = await sweep_once(sessions, now=utcnow() + timedelta(days=30), auto_escalate=True)
    assert (result.warned, result.breached) == (0, 0)


async def test_department_statistics_on_a_known_set_of_cases(sessions: Sessions) -> None:
    cases = await seed(sessions, *(routed(f"m{i}", sender=f"s{i}") for i in range(6)))
    t0 = cases[0].created_at
    async with sessions() as session, session.begin():
        # housing: two cases, one answered in 30 min (on time) and closed with rating 5, one answered late.
        await session.execute(
            update(Case)
            .where(Case.id == cases[0].id)
            .values(
                department_id="housing",
                status="closed",
                first_responded_at=t0 + timedelta(minutes=30),
                replied_at=t0 + timedelta(minutes=30),
                rating=5,
            )
        )
        await session.execute(
            update(Case)
            .where(Case.id == cases[1].id)
            .values(
                department_id="housing",
                status="replied",
                first_responded_at=t0 + timedelta(minutes=90),
                replied_at=t0 + timedelta(minutes=90),
            )
        )
        # environment: one case still waiting, already past its first-response deadline.
        await session.execute(
            update(Case).where(Case.id == cases[2].id).values(department_id="environment", status="dispatched")
        )
        # transport: two cases whose first-response deadline is still ahead: no on-time rate yet, not 0 %.
        await session.execute(
            update(Case)
            .where(Case.id.in_([cases[4].id, cases[5].id]))
            .values(department_id="transport", status="dispatched", first_response_due_at=t0 + timedelta(hours=3))
        )
    async with sessions() as session:
        rows = await department_stats(
            session, start=t0 - timedelta(days=1), end=t0 + timedelta(days=1), now=t0 + timedelta(hours=2)
        )
    by_id = {r["department_id"]: r for r in rows}
    housing, environment = by_id["housing"], by_id["environment"]
    assert (housing["received"], housing["closed"], housing["closure_rate"]) == (2, 1, 0.5)
    assert housing["first_response_on_time_rate"] == 0.5
    assert housing["first_response_minutes_median"] == 60.0 and housing["first_response_minutes_p90"] == 90.0
    assert housing["satisfaction"] == 5.0
    assert (environment["received"], environment["overdue_now"], environment["first_response_on_time_rate"]) == (
        1,
        1,
        0.0,
    )
    # Ranked by on-time rate; a department at 0 % is still ranked above one without any figure yet.
    assert [r["department_id"] for r in rows] == ["housing", "environment", "transport"]
    assert by_id["transport"]["first_response_on_time_rate"] is None
    assert "undispatched" not in by_id and len(rows) == 3  # the fourth case has no department yet


async def test_a_reopened_case_discarded_afterwards_still_counts(sessions: Sessions) -> None:
    [case] = await seed(sessions, routed("m1"))
    t0 = case.created_at
    async with sessions() as session, session.begin():
        # Answered once, rated 1 (reopened), then discarded: closed, not answered since, but answered before.
        await session.execute(
            update(Case).values(
                department_id="housing",
                status="closed",
                first_responded_at=t0 + timedelta(minutes=30),
                replied_at=None,
                rating=1,
                reopen_count=1,
            )
        )
    async with sessions() as session:
        rows = await department_stats(session, start=t0 - timedelta(days=1), end=t0 + timedelta(days=1), now=t0)
    [housing] = rows
    assert (housing["received"], housing["ratings"], housing["reopened"]) == (1, 1, 1)


def test_report_periods_are_iso_weeks_and_calendar_months() -> None:
    from datetime import date

    from case_api.supervision.reports import period_bounds

    start, end, title = period_bounds("weekly", date(2026, 10, 1), TZ)  # a Thursday in National Day week
    assert (start.date().isoformat(), end.date().isoformat()) == ("2026-09-28", "2026-10-05")
    assert "第40周" in title
    start, end, title = period_bounds("monthly", date(2026, 2, 14), TZ)
    assert (start.date().isoformat(), end.date().isoformat(), title) == ("2026-02-01", "2026-03-01", "2026年2月")


async def test_a_report_counts_what_was_received_and_renders_as_csv_and_html(sessions: Sessions) -> None:
    from case_api.supervision.reports import build_report, render_csv, render_html
    from shared.contracts.v1 import Channel

    await seed(
        sessions,
        routed("m1", sender="a", text="小区物业乱收费"),
        routed("m2", sender="b", text="物业不作为"),
        routed("m3", sender="c", text="道路堵车", channel=Channel.WEIBO, account="city-weibo"),
        routed("m4", sender="d", text="加微信领红包"),
    )
    async with sessions() as session, session.begin():  # m4 discarded as spam: closed, never answered
        await session.execute(update(Case).where(Case.subject == "加微信领红包").values(status="closed"))
    async with sessions() as session:
        report = await build_report(session, kind="weekly", day=utcnow().astimezone(TZ).date(), tz=TZ, now=utcnow())
    assert (report["total"], report["discarded"]) == (3, 1)  # spam is no citizen's problem
    assert {r["name"]: r["count"] for r in report["by_channel"]} == {"微信": 2, "微博": 1}
    assert report["top_problems"][0] == {"category": "城乡建设/物业与住房", "count": 3, "example": "小区物业乱收费"}
    csv_text = render_csv(report)
    assert csv_text.startswith("\ufeffsection,name,count") and "by_channel,微博,1" in csv_text
    html = render_html(report)
    assert "<svg" in html and "市民诉求周报" in html and "共收到诉求 <strong>3</strong> 件（另有无效信息 1 件" in html
    assert "<script" not in html


async def test_a_sweep_tells_co_handlers_and_looks_them_up_once(sessions: Sessions) -> None:
    """The co-handling departments' live queues get the sweeper's events too; a sweep of many cases asks for
    their co-handlers in one query, not one per case (a sweep may breach 500 cases)."""
    cases = await seed(sessions, *(routed(f"m{i}", sender=f"s{i}") for i in range(4)))
    async with sessions() as session, session.begin():
        for case in cases:
            session.add(
                CaseDepartment(
                    case_id=case.id, department_id="health", role="helper", part="", status="open", created_at=utcnow()
                )
            )
    lookups = 0

    def count(conn: object, cursor: object, statement: str, *args: object) -> None:
        nonlocal lookups
        lookups += statement.lstrip().upper().startswith("SELECT") and "FROM CASE_DEPARTMENTS" in statement.upper()

    event.listen(Engine, "before_cursor_execute", count)
    try:
        result = await sweep_once(sessions, now=cases[0].created_at + timedelta(hours=2), auto_escalate=True)
    finally:
        event.remove(Engine, "before_cursor_execute", count)
    assert (result.breached, result.escalated) == (4, 4)
    assert lookups == 1
    async with sessions() as session:
        swept = (await session.scalars(select(OutboxRecord).where(OutboxRecord.co_handlers.is_not(None)))).all()
    assert sorted(json.loads(r.value)["type"].removeprefix("gov.inbox.case.") for r in swept) == sorted(
        ["sla.breached", "escalated"] * 4
    )
    assert {r.co_handlers for r in swept} == {",health,"}


async def test_a_department_passing_a_case_on_late_keeps_the_late_first_response(sessions: Sessions) -> None:
    """Housing answers one case in 20 minutes and sits on the other past its hour, then transfers it; market answers
    it at once. The lateness is housing's: counted for market, the ranking (public too) would name the wrong one."""
    answered, passed_on = await seed(sessions, routed("m1", sender="a"), routed("m2", sender="b"))
    created = answered.created_at
    async with sessions() as session, session.begin():
        for case_id in (answered.id, passed_on.id):
            case = await session.get(Case, case_id)
            assert case is not None
            dispatching = CaseActions(session, user=ADMIN, now=created + timedelta(minutes=5), policy=POLICY)
            await dispatching.accept(case)
            await dispatching.classify(case, category_id="housing-property", request_type=None)
            await dispatching.dispatch(case, department_id="housing", co_handlers=[])
        case = await session.get(Case, answered.id)
        assert case is not None
        await CaseActions(session, user=ADMIN, now=created + timedelta(minutes=20), policy=POLICY).reply(
            case, text="好"
        )
    await sweep_once(sessions, now=created + timedelta(hours=2), auto_escalate=False)  # the hour has passed
    async with sessions() as session, session.begin():
        case = await session.get(Case, passed_on.id)
        assert case is not None
        later = CaseActions(session, user=ADMIN, now=created + timedelta(hours=3), policy=POLICY)
        await later.transfer(case, department_id="market", reason="属于市场监管")
        await later.reply(case, text="已处理")
    async with sessions() as session:
        rows = await department_stats(
            session,
            start=created - timedelta(days=1),
            end=created + timedelta(days=1),
            now=created + timedelta(hours=4),
        )
    by_id = {r["department_id"]: r for r in rows}
    assert (by_id["housing"]["first_response_on_time_rate"], by_id["housing"]["first_response_minutes_median"]) == (
        0.5,
        pytest.approx((20 + 180) / 2),
    )
    assert by_id["market"]["first_response_on_time_rate"] is None  # it got the case late; it answered at once


async def test_a_low_rating_and_its_reopening_stay_with_the_department_that_answered(sessions: Sessions) -> None:
    """The citizen rates housing's answer 1, which reopens the case; the operators send it to environment. The
    rating and the reopening judged housing's answer: environment, which has not answered yet, must not carry them."""
    [case] = await seed(sessions, routed("m1", sender="a"))
    created = case.created_at
    async with sessions() as session, session.begin():
        held = await session.get(Case, case.id)
        assert held is not None
        acting = CaseActions(session, user=ADMIN, now=created + timedelta(minutes=5), policy=POLICY, notices=Notices())
        await acting.accept(held)
        await acting.classify(held, category_id="housing-property", request_type=None)
        await acting.dispatch(held, department_id="housing", co_handlers=[])
        answer = await acting.reply(held, text="已处理")
        answer.status = ReplyStatus.DELIVERED  # the channel service's receipt
        await acting.close(held, reason=None)  # and asks the citizen for a rating
    async with sessions() as session, session.begin():  # the citizen's "1", as intake handles it
        await intake_batch(session, [routed("m2", sender="a", text="1")], tz=TZ, policy=POLICY, notices=Notices())
    async with sessions() as session, session.begin():
        reopened = await session.get(Case, case.id)
        assert reopened is not None and (reopened.status, reopened.rating) == ("accepted", 1)
        again = CaseActions(session, user=ADMIN, now=utcnow(), policy=POLICY)
        await again.classify(reopened, category_id="environment", request_type=None)
        await again.dispatch(reopened, department_id="environment", co_handlers=[])
    async with sessions() as session:
        rows = await department_stats(
            session, start=created - timedelta(days=1), end=created + timedelta(days=1), now=utcnow()
        )
    by_id = {r["department_id"]: r for r in rows}
    assert (by_id["housing"]["satisfaction"], by_id["housing"]["ratings"], by_id["housing"]["reopened"]) == (1.0, 1, 1)
    environment = by_id["environment"]
    assert (environment["received"], environment["ratings"], environment["reopened"]) == (1, 0, 0)


async def test_a_reopened_case_awaiting_dispatch_is_late_for_nobody_in_particular(sessions: Sessions) -> None:
    """Reopened, it keeps the department that answered it; until the operators dispatch it again its deadline
    is theirs to meet, not that department's."""
    [case] = await seed(sessions, routed("m1", sender="a"))
    created = case.created_at
    async with sessions() as session, session.begin():
        held = await session.get(Case, case.id)
        assert held is not None
        acting = CaseActions(session, user=ADMIN, now=created + timedelta(minutes=5), policy=POLICY)
        await acting.confirm(held)
        answer = await acting.reply(held, text="已处理")
        answer.status = ReplyStatus.DELIVERED
        await acting.close(held, reason=None)
        await acting.reopen(held, reason="市民不满意")
    long_after = utcnow() + timedelta(days=60)  # every deadline it has has passed

    async def overdue() -> int:
        async with sessions() as session:
            rows = await department_stats(
                session, start=created - timedelta(days=1), end=created + timedelta(days=1), now=long_after
            )
        return int({r["department_id"]: r for r in rows}["housing"]["overdue_now"])

    assert await overdue() == 0
    async with sessions() as session, session.begin():
        reopened = await session.get(Case, case.id)
        assert reopened is not None and (reopened.status, reopened.department_id) == ("accepted", "housing")
        again = CaseActions(session, user=ADMIN, now=utcnow(), policy=POLICY)
        await again.classify(reopened, category_id="housing-property", request_type=None)
        await again.dispatch(reopened, department_id="housing", co_handlers=[])
    assert await overdue() == 1
