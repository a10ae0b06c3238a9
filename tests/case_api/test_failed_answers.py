"""An answer that did not reach the citizen brings the replied case back to whoever answered it, until they answer
again: otherwise the case sits answered on nobody's queue while the citizen waits for ever."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from case_api.cases.models import CaseDepartment
from case_api.db import make_engine, make_sessionmaker
from case_api.intake.service import intake_batch
from shared.contracts.v1 import DeliveryStatus, utcnow
from tests.case_api.factories import POLICY, bearer, routed
from tests.case_api.test_reply_expiry import Desk, receipt
from tests.case_api.test_reply_expiry import desk as desk  # the fixture: case-api with a quick sweeper

TZ = ZoneInfo("Asia/Shanghai")
OUTSIDE_WINDOW = "outside WeChat's reply window: it can reply again once the citizen writes"


async def _login(desk: Desk, username: str, role: str, department_id: str | None = None) -> dict[str, str]:
    body = {"username": username, "password": "correct-horse-9", "role": role, "department_id": department_id}
    assert (await desk.client.post("/api/v1/users", json=body, headers=desk.admin)).status_code == 201
    return {"Authorization": await bearer(desk.client, username, "correct-horse-9")}


async def _queue(desk: Desk, headers: dict[str, str], **params: str) -> list[str]:
    page = await desk.client.get("/api/v1/queue", params=params, headers=headers)
    assert page.status_code == 200, page.text
    return [c["id"] for c in page.json()["items"]]


async def _case(desk: Desk, case_id: str) -> dict[str, Any]:
    return dict((await desk.client.get(f"/api/v1/cases/{case_id}", headers=desk.admin)).json())


async def _answered_by(desk: Desk, headers: dict[str, str], count: int) -> list[tuple[str, str]]:
    """(case id, reply id) for `count` new cases confirmed to housing and answered by whoever `headers` names."""
    answered = []
    for case_id, _ in await desk.answered_cases(count):  # confirmed to housing, answered by the administrator
        response = await desk.client.post(
            f"/api/v1/cases/{case_id}/reply", json={"text": "您好，已安排维修，请留意。"}, headers=headers
        )
        assert response.status_code == 200, response.text
        latest = max(response.json()["replies"], key=lambda r: r["created_at"])
        answered.append((case_id, latest["id"]))
    return answered


async def _reply_becomes(desk: Desk, case_id: str, reply_id: str, status: str) -> None:
    for _ in range(100):
        replies = (await _case(desk, case_id))["replies"]
        if next(r for r in replies if r["id"] == reply_id)["status"] == status:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"reply {reply_id} did not become {status}")


async def test_a_failed_answer_brings_the_case_back_to_the_departments_queue_until_it_answers_again(
    desk: Desk,
) -> None:
    housing = await _login(desk, "h-housing", "handler", "housing")
    (failed_case, failed_reply), (delivered_case, delivered_reply) = await _answered_by(desk, housing, 2)
    assert await _queue(desk, housing) == []  # both answered: off the department's queue
    answered_version = (await _case(desk, failed_case))["version"]

    await desk.receipts(
        receipt(failed_case, failed_reply, DeliveryStatus.FAILED, attempts=1, code="45015", reason=OUTSIDE_WINDOW),
        receipt(delivered_case, delivered_reply, DeliveryStatus.DELIVERED, attempts=1),
    )
    # Behind the failure on one partition: once it shows, both were applied.
    await _reply_becomes(desk, delivered_case, delivered_reply, "delivered")

    assert await _queue(desk, housing) == [failed_case]
    assert await _queue(desk, desk.admin, answer_failed="true") == [failed_case]
    case = await _case(desk, failed_case)
    assert case["answer_failed_at"] is not None and case["version"] == answered_version + 1
    assert (await _case(desk, delivered_case))["answer_failed_at"] is None
    # Screens learn it from the failure's event: the case it carries is marked, in a version of its own.
    [announced] = await desk.reply_events(failed_case)
    marked = datetime.fromisoformat(case["answer_failed_at"])
    assert datetime.fromisoformat(announced.data.case["answer_failed_at"]) == marked
    assert announced.data.case["version"] == answered_version + 1

    again = await desk.client.post(
        f"/api/v1/cases/{failed_case}/reply", json={"text": "您好，已责成物业整改，请留意。"}, headers=housing
    )
    assert again.status_code == 200, again.text
    assert again.json()["answer_failed_at"] is None
    assert await _queue(desk, housing) == []


async def test_an_earlier_answer_failing_after_a_later_one_was_written_changes_nothing(desk: Desk) -> None:
    [(case_id, first)] = await desk.answered_cases(1)
    housing = await _login(desk, "h-housing", "handler", "housing")
    later = await desk.client.post(f"/api/v1/cases/{case_id}/reply", json={"text": "补充：维修已安排"}, headers=housing)
    assert later.status_code == 200, later.text

    await desk.receipts(receipt(case_id, first, DeliveryStatus.FAILED, attempts=1, code="-1", reason="busy"))
    await _reply_becomes(desk, case_id, first, "failed")

    assert (await _case(desk, case_id))["answer_failed_at"] is None  # the later answer decides
    assert await _queue(desk, housing) == []


async def test_an_answer_nobody_reported_on_brings_the_case_back_as_well(desk: Desk) -> None:
    operator = await _login(desk, "op1", "operator")
    [(case_id, reply_id)] = await desk.answered_cases(1)  # answered by the administrator: the operators' to redo
    await desk.queued_long_ago(reply_id)
    await desk.reply_becomes(case_id, "failed")  # the sweeper's expiry, not a receipt
    assert (await _case(desk, case_id))["answer_failed_at"] is not None
    assert await _queue(desk, operator) == [case_id]


async def test_an_answer_the_operators_wrote_comes_back_to_them_not_to_the_departments(desk: Desk) -> None:
    """The operators answered a case dispatched to housing, with environment co-handling: neither department
    wrote that answer, and only the lead could answer again anyway."""
    operator = await _login(desk, "op1", "operator")
    environment = await _login(desk, "h-env", "handler", "environment")
    housing = await _login(desk, "h-housing", "handler", "housing")
    [(case_id, _)] = await desk.answered_cases(1)  # confirmed to housing, answered by the administrator
    detail = await _case(desk, case_id)
    assert detail["status"] == "replied"
    engine = make_engine(desk.database_url)  # environment co-handles (as a dispatch with a helper would record)
    async with make_sessionmaker(engine)() as session, session.begin():
        session.add(
            CaseDepartment(
                case_id=UUID(case_id),
                department_id="environment",
                role="helper",
                part="检测",
                status="open",
                created_at=utcnow(),
            )
        )
    await engine.dispose()
    [reply] = detail["replies"]
    await desk.receipts(receipt(case_id, reply["id"], DeliveryStatus.FAILED, attempts=1, code="45015"))
    await desk.reply_becomes(case_id, "failed")

    assert await _queue(desk, operator) == [case_id]
    assert await _queue(desk, housing) == [] and await _queue(desk, environment) == []


async def test_a_consultation_the_operators_answered_comes_back_to_their_queue(desk: Desk) -> None:
    engine = make_engine(desk.database_url)
    async with make_sessionmaker(engine)() as session, session.begin():
        await intake_batch(session, [routed("m1", text="公积金怎么提取？")], tz=TZ, policy=POLICY)
    await engine.dispose()
    operator = await _login(desk, "op1", "operator")
    [case_id] = await _queue(desk, operator)
    for action, body in (("accept", {}), ("classify", {"category_id": "housing-property"})):
        assert (await desk.client.post(f"/api/v1/cases/{case_id}/{action}", json=body, headers=operator)).is_success
    answered = await desk.client.post(
        f"/api/v1/cases/{case_id}/reply", json={"text": "可通过公积金中心网站提取。"}, headers=operator
    )
    [reply] = answered.json()["replies"]
    assert answered.json()["department_id"] is None and await _queue(desk, operator) == []

    await desk.receipts(receipt(case_id, reply["id"], DeliveryStatus.FAILED, attempts=1, code="45015"))
    await desk.reply_becomes(case_id, "failed")

    assert await _queue(desk, operator) == [case_id]
