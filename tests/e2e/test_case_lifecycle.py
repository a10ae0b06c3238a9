"""A citizen's message from webhook to closed case through the HTTP API only, as other systems see it on Kafka."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from inbox_dev.simulator.wechat import push, text_xml
from shared.contracts.v1 import CaseEvent, ReplyCommandRecord
from tests.e2e.conftest import WECHAT, RunningStack
from tests.e2e.test_pipeline import find_case
from tests.kafka_helpers import read_topic

pytestmark = pytest.mark.e2e


async def read_sse(response: httpx.Response, want: int) -> list[dict[str, str]]:
    events: list[dict[str, str]] = []
    current: dict[str, str] = {}
    async for line in response.aiter_lines():
        if not line:
            # Delivery receipts of automatic replies interleave at the platform's pace: follow the lifecycle.
            if "data" in current and not current.get("event", "").startswith("gov.inbox.case.reply-"):
                events.append(current)
                if len(events) >= want:
                    return events
            current = {}
            continue
        field, _, value = line.partition(":")
        current[field] = value.strip()
    return events


async def test_webhook_to_closed_case_through_the_api_with_matching_events(running: RunningStack) -> None:
    text = "小区物业乱收费，每月多收五十元"
    query, body = push(WECHAT, text_xml(WECHAT, sender="oLifecycle", text=text))
    api = running.url("case-api")
    async with httpx.AsyncClient(headers=running.auth, timeout=10) as client:
        assert (
            await client.post(f"{running.url('ingest-wechat')}/webhooks/wechat/city-wechat", params=query, content=body)
        ).text == "success"
        case = await find_case(client, running, text)
        assert case is not None and case["proposal"]["department"] == "housing"
        case_id = case["id"]

        async with client.stream("GET", f"{api}/api/v1/queue/events") as stream:
            live = asyncio.create_task(read_sse(stream, 3))
            await asyncio.sleep(0.3)
            for action, payload in (("confirm", {}), ("reply", {"text": "已责成物业退还多收费用。"})):
                response = await client.post(f"{api}/api/v1/cases/{case_id}/{action}", json=payload)
                assert response.status_code == 200, response.text
            # A case closes once its answer has reached the citizen (WeChat's receipt, through ingest-wechat).
            for _ in range(100):
                replies = (await client.get(f"{api}/api/v1/cases/{case_id}")).json()["replies"]
                if [r["status"] for r in replies if r["created_by"] != "system"] == ["delivered"]:
                    break
                await asyncio.sleep(0.1)
            response = await client.post(f"{api}/api/v1/cases/{case_id}/close", json={})
            assert response.status_code == 200, response.text
            pushed = await asyncio.wait_for(live, 10)
        assert [e["event"].removeprefix("gov.inbox.case.") for e in pushed] == ["accepted", "classified", "dispatched"]
        assert all(json.loads(e["data"])["subject"] == case_id for e in pushed)
        assert all(e["id"].isdigit() for e in pushed)  # a reconnecting console resumes from Last-Event-ID
        final = (await client.get(f"{api}/api/v1/cases/{case_id}")).json()
        assert final["status"] == "closed"

    records = await read_topic(running.kafka, running.kafka.topics.case_events, expect=200, timeout=3)
    mine = [CaseEvent.from_bytes(r.value) for r in records if r.key == case_id.encode()]
    # Delivery receipts (reply-delivered) arrive whenever the platform has answered; the rest is in order.
    delivered = [e for e in mine if e.type == "gov.inbox.case.reply-delivered"]
    mine = [e for e in mine if not e.type.startswith("gov.inbox.case.reply-")]
    assert delivered, "no delivery receipt reached case-api"
    assert [e.type.removeprefix("gov.inbox.case.") for e in mine] == [
        "created",
        "accepted",
        "classified",
        "dispatched",
        "replied",
        "closed",
    ]
    assert [e.data.case["status"] for e in mine] == ["new", "accepted", "classified", "dispatched", "replied", "closed"]
    replies = await read_topic(running.kafka, running.kafka.topics.outbound_replies, expect=200, timeout=2)
    commands = [ReplyCommandRecord.from_bytes(r.value).data for r in replies]
    # The citizen hears three times: the acknowledgement with the number, the answer, the rating request.
    sent = [c.text for c in commands if str(c.case_id) == case_id and c.recipient_id == "oLifecycle"]
    number = final["number"]
    assert len(sent) == 3
    assert number in sent[0] and sent[1] == "已责成物业退还多收费用。" and "1-5" in sent[2]
    # …and each reached the citizen's WeChat through the customer-service API.
    at_platform = [m["text"]["content"] for m in running.wechat_api.delivered if m["touser"] == "oLifecycle"]
    assert sorted(at_platform) == sorted(sent)
