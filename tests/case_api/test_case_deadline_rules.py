"""sla.yaml's transfer and promise rules, applied to a case as case-api's actions apply them."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import cast
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from case_api.auth.models import Role, User
from case_api.cases.actions import CaseActions, Invalid
from case_api.cases.deadlines import CalendarPolicy
from case_api.cases.models import Case
from case_api.intake.service import intake_batch
from case_api.replies.models import ReplyStatus
from case_api.sla import BusinessCalendar, PromiseError, SlaCalculator, SlaPolicies, load_policies
from tests.case_api.factories import routed
from tests.case_api.sla.helpers import sh, write

Sessions = async_sessionmaker[AsyncSession]
SUPERVISOR = User(username="sup", role=Role.SUPERVISOR.value, display_name="sup")


def _policy(tmp_path: Path, defaults: str) -> CalendarPolicy:
    text = f"version: t\ndefaults:\n{defaults}\npolicies: []\n"
    return CalendarPolicy(
        SlaCalculator(calendar=BusinessCalendar(), policies=load_policies(write(tmp_path, "sla.yaml", text)))
    )


def _case(policy: CalendarPolicy, received: object, **fields: object) -> Case:
    base = {"category_id": None, "request_type": None, "reopen_count": 0, "created_at": received, "promised_at": None}
    case = cast(Case, SimpleNamespace(**(base | fields)))
    case.resolution_due_at = fields.get("resolution_due_at") or policy.resolution_due(case.created_at)  # type: ignore[assignment]
    return case


def test_a_transfer_keeps_or_restarts_the_deadline_as_configured(tmp_path: Path) -> None:
    received = sh(2025, 9, 24, 10, 0)  # due Tue 30 Sep 18:00
    keep = _policy(tmp_path, "  transfer: {resolution: keep}")
    assert keep.transferred_due(_case(keep, received), now=sh(2025, 9, 29, 10, 0)) == sh(2025, 9, 30, 18, 0)
    restart = _policy(tmp_path, "  transfer: {resolution: restart}")
    # Sep 30, then the National Day holiday, Oct 9, 10, 11 (a make-up Saturday), 13.
    assert restart.transferred_due(_case(restart, received), now=sh(2025, 9, 29, 10, 0)) == sh(2025, 10, 13, 18, 0)
    # Late is late: a transfer after the deadline does not undo the breach.
    assert restart.transferred_due(_case(restart, received), now=sh(2025, 10, 2, 10, 0)) == sh(2025, 9, 30, 18, 0)


def test_a_promise_is_held_to_the_limit_and_extends_only_when_configured(tmp_path: Path) -> None:
    received, now = sh(2025, 3, 3, 10, 0), sh(2025, 3, 4, 10, 0)  # resolution due Mon 10 Mar 18:00
    strict = _policy(tmp_path, "  promise: {extends_resolution: false, limit: {working_days: 10}}")
    case = _case(strict, received)
    assert strict.promised_due(case, promised_at=sh(2025, 3, 14, 18, 0), now=now) == sh(2025, 3, 10, 18, 0)
    with pytest.raises(PromiseError, match="later than the policy allows"):
        strict.promised_due(case, promised_at=sh(2025, 3, 20, 18, 0), now=now)
    with pytest.raises(PromiseError, match="not in the future"):
        strict.promised_due(case, promised_at=sh(2025, 3, 4, 9, 0), now=now)
    lenient = _policy(tmp_path, "  promise: {extends_resolution: true, limit: null}")
    extended = lenient.promised_due(_case(lenient, received), promised_at=sh(2025, 3, 14, 18, 0), now=now)
    assert extended == sh(2025, 3, 14, 18, 0)


def test_due_soon_counts_the_working_time_left_not_the_weekend() -> None:
    policy = CalendarPolicy(SlaCalculator(calendar=BusinessCalendar(), policies=SlaPolicies(version="builtin")))
    friday = sh(2025, 3, 7, 17, 30)  # half an hour of the working day left; the next working hour is Monday's
    # The first response itself is capped by the 8 hours out of hours (Saturday 02:00); a deadline one working
    # hour away, Monday 09:30:
    due = sh(2025, 3, 10, 9, 30)
    # 80 % of the working hour used: Monday 09:18, not Sunday evening (80 % of the wall-clock time).
    assert policy.warn_at(due, now=friday) == sh(2025, 3, 10, 9, 18)
    # No working time at all before a rest-day deadline (8 hours on the wall clock): the wall clock counts.
    saturday = sh(2025, 3, 8, 10, 0)
    assert policy.warn_at(sh(2025, 3, 8, 18, 0), now=saturday) == sh(2025, 3, 8, 16, 24)


# config/sla.yaml as shipped: resolution within 5 working days, a promise at most 15 working days out.
SHIPPED = "  resolution: {working_days: 5}\n  promise: {extends_resolution: false, limit: {working_days: 15}}"


async def _dispatched(sessions: Sessions, policy: CalendarPolicy, received: datetime) -> None:
    """A case received at `received` (Beijing time), dispatched to its department half an hour later."""
    async with sessions() as session, session.begin():
        await intake_batch(session, [routed("m1", received_at=received)], tz=ZoneInfo("Asia/Shanghai"), policy=policy)
    async with sessions() as session, session.begin():
        case = (await session.scalars(select(Case))).one()
        acting = CaseActions(session, user=SUPERVISOR, now=received.replace(minute=30), policy=policy)
        await acting.accept(case)
        await acting.classify(case, category_id="housing-property", request_type=None)
        await acting.dispatch(case, department_id=None, co_handlers=[])


async def test_time_waiting_on_the_citizen_moves_the_promise_limit_as_it_moves_the_resolution(
    sessions: Sessions, tmp_path: Path
) -> None:
    """Received Mon 2 Nov 2026 (due Mon 9 Nov, a promise at most to Mon 23 Nov); the department waited on the
    citizen from 3 to 24 Nov: the resolution moved to 30 Nov, and a promise on 25 Nov must still be possible."""
    policy = _policy(tmp_path, SHIPPED)
    await _dispatched(sessions, policy, sh(2026, 11, 2, 10, 0))
    async with sessions() as session, session.begin():
        case = (await session.scalars(select(Case))).one()
        await CaseActions(session, user=SUPERVISOR, now=sh(2026, 11, 3, 10, 0), policy=policy).wait_on_citizen(
            case, text="请补充小区名称"
        )
        await CaseActions(session, user=SUPERVISOR, now=sh(2026, 11, 24, 10, 0), policy=policy).resume(
            case, reason="市民电话补充了地址"
        )
        assert case.resolution_due_at == sh(2026, 11, 30, 18, 0)
        acting = CaseActions(session, user=SUPERVISOR, now=sh(2026, 11, 25, 10, 0), policy=policy)
        reply = await acting.interim_reply(case, text="明天中午前答复", promised_at=sh(2026, 11, 26, 12, 0))
        assert reply.interim and case.promised_at == sh(2026, 11, 26, 12, 0)
        assert case.resolution_due_at == sh(2026, 11, 30, 18, 0)  # a promise does not move it (sla.yaml)
        # The limit moved on by the same 15 working days the wait gave the resolution: 23 Nov → 14 Dec.
        await acting.interim_reply(case, text="12月14日前答复", promised_at=sh(2026, 12, 14, 18, 0))
        with pytest.raises(Invalid, match=r"later than the policy allows: .*2026-12-14T18:00"):
            await acting.interim_reply(case, text="12月15日前答复", promised_at=sh(2026, 12, 15, 9, 30))
    # A promise that moved the resolution deadline (extends_resolution) does not carry the limit along with it.
    lenient = _policy(tmp_path, "  promise: {extends_resolution: true, limit: {working_days: 15}}")
    received = sh(2026, 11, 2, 10, 0)
    promised = _case(lenient, received, promised_at=sh(2026, 11, 23, 18, 0), resolution_due_at=sh(2026, 11, 23, 18, 0))
    with pytest.raises(PromiseError, match="later than the policy allows"):
        lenient.promised_due(promised, promised_at=sh(2026, 11, 24, 18, 0), now=sh(2026, 11, 20, 10, 0))


def test_a_transfer_that_restarts_the_deadline_moves_the_promise_limit_too(tmp_path: Path) -> None:
    policy = _policy(tmp_path, SHIPPED + "\n  transfer: {resolution: restart}")
    case = _case(policy, sh(2026, 11, 2, 10, 0))  # due Mon 9 Nov; a promise at most to Mon 23 Nov
    case.resolution_due_at = policy.transferred_due(case, now=sh(2026, 11, 9, 10, 0))
    assert case.resolution_due_at == sh(2026, 11, 16, 18, 0)  # five working days again for the new department
    # Five working days more for the resolution, five more for a promise: 23 Nov → 30 Nov.
    now = sh(2026, 11, 20, 10, 0)
    assert policy.promised_due(case, promised_at=sh(2026, 11, 30, 18, 0), now=now) == sh(2026, 11, 16, 18, 0)
    with pytest.raises(PromiseError, match="2026-11-30T18:00"):
        policy.promised_due(case, promised_at=sh(2026, 12, 1, 9, 30), now=now)


def test_a_promise_may_always_name_the_date_the_case_is_due_anyway(tmp_path: Path) -> None:
    # A limit shorter than the resolution period: promising the resolution deadline itself is no extension.
    policy = _policy(tmp_path, "  resolution: {working_days: 5}\n  promise: {limit: {working_days: 2}}")
    case = _case(policy, sh(2026, 11, 2, 10, 0))  # due Mon 9 Nov 18:00
    now = sh(2026, 11, 3, 10, 0)
    assert policy.promised_due(case, promised_at=sh(2026, 11, 9, 18, 0), now=now) == sh(2026, 11, 9, 18, 0)
    with pytest.raises(PromiseError, match="the case's resolution deadline, 2026-11-09T18:00"):
        policy.promised_due(case, promised_at=sh(2026, 11, 10, 9, 30), now=now)


async def test_a_reopened_case_counts_the_promise_limit_from_its_reopening_not_from_each_promise(
    sessions: Sessions, tmp_path: Path
) -> None:
    """Received 12 Oct 2026, answered and closed, reopened Mon 2 Nov: a promise may name at most Mon 23 Nov,
    however late the interim reply is sent: the limit does not start again with each interim reply."""
    policy = _policy(tmp_path, SHIPPED)
    await _dispatched(sessions, policy, sh(2026, 10, 12, 10, 0))
    async with sessions() as session, session.begin():
        case = (await session.scalars(select(Case))).one()
        closing = CaseActions(session, user=SUPERVISOR, now=sh(2026, 10, 13, 10, 0), policy=policy)
        answer = await closing.reply(case, text="已处理")
        answer.status = ReplyStatus.DELIVERED  # the channel service's receipt
        await closing.close(case, reason=None)
        reopening = CaseActions(session, user=SUPERVISOR, now=sh(2026, 11, 2, 10, 0), policy=policy)
        await reopening.reopen(case, reason="市民不满意")
        await reopening.classify(case, category_id="housing-property", request_type=None)
        await reopening.dispatch(case, department_id=None, co_handlers=[])
        assert case.resolution_due_at == sh(2026, 11, 9, 18, 0)
        early = CaseActions(session, user=SUPERVISOR, now=sh(2026, 11, 5, 10, 0), policy=policy)
        await early.interim_reply(case, text="11月23日前答复", promised_at=sh(2026, 11, 23, 12, 0))
        for now, promised in (
            (sh(2026, 11, 5, 10, 5), sh(2026, 11, 24, 12, 0)),
            (sh(2026, 11, 25, 10, 0), sh(2026, 12, 16, 18, 0)),
        ):
            late = CaseActions(session, user=SUPERVISOR, now=now, policy=policy)
            with pytest.raises(Invalid, match=r"15 working days from 2026-11-02 10:00, 2026-11-23T18:00"):
                await late.interim_reply(case, text="再延期答复", promised_at=promised)
        assert case.promised_at == sh(2026, 11, 23, 12, 0)  # the refused promises changed nothing
