"""Webhook → Kafka → router → Kafka → case-api → HTTP, through the processes `make run` starts."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from inbox_dev.simulator import alipay, weibo
from inbox_dev.simulator.wechat import push, text_xml
from tests.e2e.conftest import ALIPAY_APP_ID, WECHAT, WEIBO_SECRET, RunningStack

pytestmark = pytest.mark.e2e


async def find_case(
    client: httpx.AsyncClient, running: RunningStack, text: str, timeout: float = 10.0
) -> dict[str, Any] | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        page = (await client.get(f"{running.url('case-api')}/api/v1/cases", params={"limit": 200})).json()
        for item in page["items"]:
            if item["subject"] == text:
                return item
        await asyncio.sleep(0.1)
    return None


async def test_every_service_is_healthy(running: RunningStack) -> None:
    async with httpx.AsyncClient(headers=running.auth) as client:
        for service in running.ports:
            response = await client.get(f"{running.url(service)}/healthz")
            assert response.status_code == 200, (service, response.text)


async def test_a_signed_wechat_text_becomes_a_case_with_the_department_the_rules_chose(
    running: RunningStack,
) -> None:
    text = "公司拖欠工资三个月了，老板一直不给"
    query, body = push(WECHAT, text_xml(WECHAT, sender="oE2ECitizen1", text=text))
    async with httpx.AsyncClient(headers=running.auth) as client:
        started = time.monotonic()
        response = await client.post(
            f"{running.url('ingest-wechat')}/webhooks/wechat/city-wechat", params=query, content=body
        )
        assert response.status_code == 200 and response.text == "success"
        case = await find_case(client, running, text)
        elapsed = time.monotonic() - started
        assert case is not None, "no case appeared within 10 s"
        assert case["status"] == "new"
        assert case["channel"] == "wechat" and case["account_id"] == "city-wechat"
        assert case["proposal"]["department"] == "hr-social"
        assert case["proposal"]["department_name"] == "市人力资源和社会保障局"
        assert "工资" in case["proposal"]["explanation"]
        detail = (await client.get(f"{running.url('case-api')}/api/v1/cases/{case['id']}")).json()
    assert detail["number"] == case["number"]
    assert detail["contact"]["sender_id"] == "oE2ECitizen1"
    assert [m["text"] for m in detail["messages"]] == [text]
    print(f"webhook to visible case: {elapsed * 1000:.0f} ms")


async def test_a_forged_signature_creates_nothing(running: RunningStack) -> None:
    text = "伪造的投诉，不应出现"
    query, body = push(WECHAT, text_xml(WECHAT, sender="oForger", text=text))
    query["signature"] = "0" * 40
    async with httpx.AsyncClient(headers=running.auth) as client:
        response = await client.post(
            f"{running.url('ingest-wechat')}/webhooks/wechat/city-wechat", params=query, content=body
        )
        assert response.status_code == 403
        # A genuine message sent after it arrives, so the pipeline has had time to process the forged one.
        marker = "路灯坏了好几天（对照消息）"
        query, body = push(WECHAT, text_xml(WECHAT, sender="oMarker", text=marker))
        assert (
            await client.post(f"{running.url('ingest-wechat')}/webhooks/wechat/city-wechat", params=query, content=body)
        ).status_code == 200
        assert await find_case(client, running, marker) is not None
        assert await find_case(client, running, text, timeout=0.5) is None


async def test_weibo_and_alipay_messages_become_cases_too(running: RunningStack) -> None:
    weibo_text = "文华北路修路，早上堵车严重"
    alipay_text = "小区门口垃圾三天没人清运"
    async with httpx.AsyncClient(headers=running.auth) as client:
        response = await client.post(
            f"{running.url('ingest-weibo')}/webhooks/weibo/city-weibo",
            params=weibo.signed_query(WEIBO_SECRET),
            content=weibo.push_body(msg_type="text", sender_id=2489518277, receiver_id=1902538057, text=weibo_text),
        )
        assert response.status_code == 200 and response.text == ""
        biz = alipay.text_biz_content(
            app_id=ALIPAY_APP_ID,
            alipay_user_id="2088102286952333",
            from_user_id="20881039297032193307797420113333",
            text=alipay_text,
            msg_id="160106501407000001",
        )
        response = await client.post(
            f"{running.url('ingest-alipay')}/webhooks/alipay/city-alipay",
            content=alipay.message_notify(biz, app_id=ALIPAY_APP_ID, platform_key=running.alipay_platform_key),
            headers={"content-type": "application/x-www-form-urlencoded; charset=GBK"},
        )
        assert response.status_code == 200, response.text
        assert b"<MsgType><![CDATA[ack]]></MsgType>" in response.content
        weibo_case = await find_case(client, running, weibo_text)
        alipay_case = await find_case(client, running, alipay_text)
    assert weibo_case is not None and weibo_case["proposal"]["department"] == "transport"
    assert alipay_case is not None and alipay_case["proposal"]["department"] == "urban-management"
    assert alipay_case["channel"] == "alipay"

    # A reply to each goes back through the right platform's API, and its receipt reaches case-api.
    api = running.url("case-api")
    async with httpx.AsyncClient(headers=running.auth, timeout=10) as client:
        for case, answer in ((weibo_case, "已通知交管部门疏导。"), (alipay_case, "已安排环卫清运。")):
            assert (await client.post(f"{api}/api/v1/cases/{case['id']}/confirm", json={})).status_code == 200
            replied = await client.post(f"{api}/api/v1/cases/{case['id']}/reply", json={"text": answer})
            assert replied.status_code == 200, replied.text
        for _ in range(100):
            statuses = [
                (await client.get(f"{api}/api/v1/cases/{case['id']}")).json()["replies"][-1]["status"]
                for case in (weibo_case, alipay_case)
            ]
            if statuses == ["delivered", "delivered"]:
                break
            await asyncio.sleep(0.1)
    assert statuses == ["delivered", "delivered"]
    assert "已通知交管部门疏导。" in str(running.weibo_api.delivered)
    assert "已安排环卫清运。" in str(running.alipay_api.delivered)
