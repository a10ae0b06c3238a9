"""Waiting on the citizen: a department asks for missing details and the resolution clock stands still until
the citizen answers (config/sla.yaml: pause_while_waiting_on_citizen). Through HTTP and intake, with events."""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace
from typing import cast

from case_api.cases.deadlines import CalendarPolicy, next_due
from case_api.cases.models import Case
from case_api.sla import BusinessCalendar, SlaCalculator, SlaPolicies
from tests.case_api.factories import routed
from tests.case_api.sla.helpers import sh
from tests.case_api.test_cases_http import Api, api  # noqa: F401  (the fixture)


def _case(**fields: object) -> Case:
    base = {"category_id": None, "request_type": None, "promised_at": None, "status": "dispatched"}
    return cast(Case, SimpleNamespace(**(base | fields)))


def test_the_deadline_moves_on_by_the_working_time_spent_waiting() -> None:
    policy = CalendarPolicy(SlaCalculator(calendar=BusinessCalendar(), policies=SlaPolicies(version="builtin")))
    received = sh(2025, 3, 3, 10, 0)  # Monday; five working days: Mon 10 Mar 18:00
    due = policy.resolution_due(received)
    assert due == sh(2025, 3, 10, 18, 0)
    waiting = _case(created_at=received, resolution_due_at=due, waiting_since=sh(2025, 3, 4, 10, 0))
    # Two working days waiting (Tue 10:00 → Thu 10:00): the deadline moves two working days on.
    assert policy.resumed_due(waiting, now=sh(2025, 3, 6, 10, 0)) == sh(2025, 3, 12, 18, 0)
    # A wait over a weekend costs the department nothing for the weekend.
    weekend = _case(created_at=received, resolution_due_at=due, waiting_since=sh(2025, 3, 7, 18, 0))
    assert policy.resumed_due(weekend, now=sh(2025, 3, 10, 9, 0)) == due
    # A deadline a transfer or reclassification moved is the one that moves on, not the original.
    moved = _case(created_at=received, resolution_due_at=sh(2025, 3, 11, 18, 0), waiting_since=sh(2025, 3, 4, 10, 0))
    assert policy.resumed_due(moved, now=sh(2025, 3, 6, 10, 0)) == sh(2025, 3, 13, 18, 0)
    # Asking for details after the deadline passed never revives it.
    late = _case(created_at=received, resolution_due_at=due, waiting_since=sh(2025, 3, 11, 9, 0))
    assert policy.resumed_due(late, now=sh(2025, 3, 13, 9, 0)) == due


def test_nothing_is_chased_while_waiting_except_a_date_promised_to_the_citizen() -> None:
    answered = {"first_responded_at": sh(2025, 3, 3, 10, 30), "resolution_due_at": sh(2025, 3, 10, 18, 0)}
    assert next_due(_case(**answered, waiting_since=sh(2025, 3, 4, 10, 0))) is None
    promise = sh(2025, 3, 7, 18, 0)
    assert next_due(_case(**answered, waiting_since=sh(2025, 3, 4, 10, 0), promised_at=promise)) == promise
    assert next_due(_case(**answered, waiting_since=None)) == sh(2025, 3, 10, 18, 0)


async def test_asking_the_citizen_stops_the_clock_and_their_answer_restarts_it(api: Api) -> None:  # noqa: F811
    [case_id] = await api.seed(routed("m1", sender="oWait", text="小区物业乱收费，请处理"))
    await api.act(case_id, "confirm")
    assert (await api.act(case_id, "wait-on-citizen", {})).status_code == 422  # the question to ask is required
    asked = await api.act(case_id, "wait-on-citizen", {"text": "请补充小区名称和具体收费项目"})
    assert asked.status_code == 200, asked.text
    body = asked.json()
    assert body["status"] == "dispatched" and body["waiting_since"] is not None
    assert body["due_at"] is None  # nothing to chase while the citizen has the ball
    assert body["first_responded_at"] is not None  # asking is a response
    assert [r["text"] for r in body["replies"] if not r["created_by"] == "system"] == ["请补充小区名称和具体收费项目"]
    assert "resume" in body["allowed_actions"] and "wait-on-citizen" not in body["allowed_actions"]
    tracked = (await api.client.get(api.tracking_url(body["number"]), headers={"Authorization": ""})).json()
    assert tracked["status_text"] == "待您补充材料"  # the citizen sees that the case waits on them
    again = await api.act(case_id, "wait-on-citizen", {"text": "还有吗"})
    assert again.status_code == 409 and "waiting on the citizen" in again.json()["detail"]
    resolution_before = datetime.fromisoformat(body["resolution_due_at"])
    waiting = (await api.client.get("/api/v1/queue", params={"waiting": "true"})).json()
    assert [c["id"] for c in waiting["items"]] == [case_id]
    assert (await api.client.get("/api/v1/queue", params={"waiting": "false"})).json()["total"] == 0

    # The citizen writes back on the same channel: the wait ends by itself.
    await api.seed(routed("m2", sender="oWait", text="是阳光花园小区，收的是二次供水费"))
    case = (await api.client.get(f"/api/v1/cases/{case_id}")).json()
    assert case["waiting_since"] is None and case["message_count"] == 2
    assert case["due_at"] == case["resolution_due_at"]
    assert datetime.fromisoformat(case["resolution_due_at"]) >= resolution_before
    assert "wait-on-citizen" in case["allowed_actions"] and "resume" not in case["allowed_actions"]
    tracked = (await api.client.get(api.tracking_url(case["number"]), headers={"Authorization": ""})).json()
    assert tracked["status_text"] == "办理中"

    events = [e for e in await api.events(expect=7) if e.data.case["id"] == case_id]
    actions = [e.data.change.action for e in events]
    assert actions[-3:] == ["waiting-on-citizen", "message-added", "resumed"]
    assert events[-1].data.change.details["via"] == "citizen"
    assert events[-1].data.case["waiting_since"] is None
    audit = (await api.client.get(f"/api/v1/cases/{case_id}/audit")).json()
    assert [a["action"] for a in audit][-2:] == ["wait-on-citizen", "resumed"]


async def test_staff_can_end_a_wait_with_a_reason_and_a_final_answer_ends_it_too(api: Api) -> None:  # noqa: F811
    first, second = await api.seed(routed("m1", sender="a"), routed("m2", sender="b"))
    for case_id in (first, second):
        await api.act(case_id, "confirm")
    assert (await api.act(first, "resume", {"reason": "x"})).status_code == 409  # not waiting
    await api.act(first, "wait-on-citizen", {"text": "请提供照片"})
    assert (await api.act(first, "resume", {})).status_code == 422  # why is required
    other_department = await api.as_user("hx", "handler", "health")
    assert (await api.act(first, "resume", {"reason": "x"}, headers=other_department)).status_code == 404
    resumed = await api.act(first, "resume", {"reason": "市民电话补充了地址"})
    assert resumed.status_code == 200, resumed.text
    assert resumed.json()["waiting_since"] is None and resumed.json()["due_at"] is not None

    await api.act(second, "wait-on-citizen", {"text": "请提供照片"})
    replied = await api.act(second, "reply", {"text": "已处理完毕"})
    assert replied.status_code == 200 and replied.json()["waiting_since"] is None
    events = [e for e in await api.events(expect=12) if e.data.case["id"] == first]
    resume = next(e for e in events if e.data.change.action == "resumed")
    assert resume.data.change.details["via"] == "staff" and resume.data.change.reason == "市民电话补充了地址"
