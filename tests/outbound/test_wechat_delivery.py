"""ingest-wechat delivers replies through the customer-service API of a fake WeChat (a real local server)."""

from __future__ import annotations

import asyncio
import itertools

from inbox_dev.simulator.fake_wechat import FakeWeChat
from shared.contracts.v1 import Channel, DeliveryStatus, ReplyKind
from tests.outbound.conftest import RECIPIENTS, WECHAT_APP_ID, WECHAT_SECRET, Outbound, reply

OPENID = RECIPIENTS[Channel.WECHAT]


async def test_a_text_reply_is_sent_as_a_customer_service_message(outbound: Outbound, fake_wechat: FakeWeChat) -> None:
    command = reply(Channel.WECHAT, "您好，您反映的垃圾清运问题已转城管局处理。")
    async with outbound.service(Channel.WECHAT):
        await outbound.produce(command)
        [(key, receipt)] = await outbound.receipts(1)

    assert receipt.reply_id == command.reply_id and receipt.case_id == command.case_id
    assert (receipt.status, receipt.attempts, receipt.platform_code, receipt.reason) == (
        DeliveryStatus.DELIVERED,
        1,
        None,
        None,
    )
    assert key == str(command.case_id)  # case events and receipts are keyed by case
    [token_request] = fake_wechat.token_requests
    assert token_request.query == {"grant_type": "client_credential", "appid": WECHAT_APP_ID, "secret": WECHAT_SECRET}
    [send] = fake_wechat.send_requests
    assert send.headers["content-type"] == "application/json; charset=utf-8"
    # UTF-8 JSON: WeChat would show \\u escapes to the citizen literally.
    assert "您好，您反映的垃圾清运问题已转城管局处理。".encode() in send.body
    assert send.json() == {
        "touser": OPENID,
        "msgtype": "text",
        "text": {"content": "您好，您反映的垃圾清运问题已转城管局处理。"},
    }
    assert fake_wechat.delivered == [{**send.json(), "app_id": WECHAT_APP_ID}]


async def test_an_image_reply_carries_the_media_id(outbound: Outbound, fake_wechat: FakeWeChat) -> None:
    command = reply(Channel.WECHAT, kind=ReplyKind.IMAGE, media_id="MEDIA_ID_处理结果")
    async with outbound.service(Channel.WECHAT):
        await outbound.produce(command)
        receipt = await outbound.receipt_for(command)

    assert receipt.status is DeliveryStatus.DELIVERED
    assert [r.json() for r in fake_wechat.send_requests] == [
        {"touser": OPENID, "msgtype": "image", "image": {"media_id": "MEDIA_ID_处理结果"}}
    ]


async def test_an_expired_token_is_refreshed_and_the_reply_delivered(
    outbound: Outbound, fake_wechat: FakeWeChat
) -> None:
    first, second = reply(Channel.WECHAT, "第一条答复"), reply(Channel.WECHAT, "第二条答复")
    async with outbound.service(Channel.WECHAT):
        await outbound.produce(first)
        assert (await outbound.receipt_for(first)).status is DeliveryStatus.DELIVERED
        fake_wechat.expire_tokens()
        await outbound.produce(second)
        receipt = await outbound.receipt_for(second)

    # 42001 → one refresh → the same attempt sends again with the new token.
    assert (receipt.status, receipt.attempts) == (DeliveryStatus.DELIVERED, 1)
    assert len(fake_wechat.token_requests) == 2
    tokens = [r.query["access_token"] for r in fake_wechat.send_requests]
    assert len(tokens) == 3 and tokens[0] == tokens[1] != tokens[2]
    assert [m["text"]["content"] for m in fake_wechat.delivered] == ["第一条答复", "第二条答复"]


async def test_a_rate_limit_is_retried_with_backoff_then_delivered(outbound: Outbound, fake_wechat: FakeWeChat) -> None:
    fake_wechat.fail_next(45009, times=2)
    command = reply(Channel.WECHAT)
    async with outbound.service(Channel.WECHAT, backoff_initial_s=0.2, backoff_max_s=1.0):
        await outbound.produce(command)
        receipt = await outbound.receipt_for(command)

    assert (receipt.status, receipt.attempts, receipt.platform_code) == (DeliveryStatus.DELIVERED, 3, None)
    sends = fake_wechat.send_requests
    assert len(sends) == 3 and len(fake_wechat.delivered) == 1
    gaps = [b.at - a.at for a, b in itertools.pairwise(sends)]
    # Equal jitter: at least half of 0.2 s, then of 0.4 s.
    assert gaps[0] >= 0.1 and gaps[1] >= 0.2


async def test_outside_the_reply_window_fails_at_once_with_a_readable_reason(
    outbound: Outbound, fake_wechat: FakeWeChat
) -> None:
    fake_wechat.fail_for(OPENID, 45015)
    command = reply(Channel.WECHAT)
    async with outbound.service(Channel.WECHAT):
        await outbound.produce(command)
        receipt = await outbound.receipt_for(command)

    assert (receipt.status, receipt.attempts, receipt.platform_code) == (DeliveryStatus.FAILED, 1, "45015")
    assert receipt.reason is not None and "48 hours" in receipt.reason and "citizen writes" in receipt.reason
    assert len(fake_wechat.send_requests) == 1 and fake_wechat.delivered == []


async def test_a_platform_that_stays_busy_is_given_up_after_the_attempts_allowed(
    outbound: Outbound, fake_wechat: FakeWeChat
) -> None:
    fake_wechat.fail_next(-1, times=10)
    command = reply(Channel.WECHAT)
    async with outbound.service(Channel.WECHAT, max_attempts=3):
        await outbound.produce(command)
        receipt = await outbound.receipt_for(command)

    assert (receipt.status, receipt.attempts, receipt.platform_code) == (DeliveryStatus.FAILED, 3, "-1")
    assert receipt.reason is not None and receipt.reason.startswith("gave up after 3 attempts: WeChat is busy")
    assert len(fake_wechat.send_requests) == 3


async def test_retries_stop_when_the_time_allowed_runs_out(outbound: Outbound, fake_wechat: FakeWeChat) -> None:
    fake_wechat.fail_next(45011, times=10)
    command = reply(Channel.WECHAT)
    async with outbound.service(Channel.WECHAT, max_attempts=10, backoff_initial_s=0.4, backoff_max_s=5, max_total_s=1):
        await outbound.produce(command)
        receipt = await outbound.receipt_for(command)

    assert receipt.status is DeliveryStatus.FAILED and receipt.platform_code == "45011"
    assert 2 <= receipt.attempts <= 3  # 0.2–0.4 s, then 0.4–0.8 s: the next wait would pass 1 s


async def test_a_retry_due_after_the_batch_ends_is_taken_up_by_the_next_poll(
    outbound: Outbound, fake_wechat: FakeWeChat
) -> None:
    """During a rate limit a batch cannot wait for every retry (Kafka's poll interval). A reply whose retry falls
    after the batch's time used to be failed after one attempt; now the batch's next poll takes it up, and the
    same citizen's next reply still goes out after it."""
    fake_wechat.fail_next(45009, times=2)
    first, second = reply(Channel.WECHAT, "第1条"), reply(Channel.WECHAT, "第2条")
    async with outbound.service(Channel.WECHAT, batch_time_s=0.1, backoff_initial_s=0.4, backoff_max_s=0.4):
        await outbound.produce(first, second)
        receipts = {r.reply_id: r for _, r in await outbound.receipts(2)}

    assert (receipts[first.reply_id].status, receipts[first.reply_id].attempts) == (DeliveryStatus.DELIVERED, 3)
    assert (receipts[second.reply_id].status, receipts[second.reply_id].attempts) == (DeliveryStatus.DELIVERED, 1)
    assert [m["text"]["content"] for m in fake_wechat.delivered] == ["第1条", "第2条"]
    assert len(fake_wechat.send_requests) == 4  # no attempt before its retry was due, none twice


async def test_many_replies_at_once_fetch_one_token(outbound: Outbound, fake_wechat: FakeWeChat) -> None:
    commands = [reply(Channel.WECHAT, f"答复{i}", recipient=f"oCitizen{i}") for i in range(12)]
    fake_wechat.delay_s = 0.05  # slow enough that the deliveries overlap
    async with outbound.service(Channel.WECHAT, concurrency=8):
        await outbound.produce(*commands)
        receipts = await outbound.receipts(12)

    assert sorted(r.reply_id for _, r in receipts) == sorted(c.reply_id for c in commands)
    assert {r.status for _, r in receipts} == {DeliveryStatus.DELIVERED}
    assert len(fake_wechat.token_requests) == 1


async def test_one_citizens_replies_arrive_in_order(outbound: Outbound, fake_wechat: FakeWeChat) -> None:
    fake_wechat.fail_next(-1)  # the first one needs a retry; the second must still come after it
    commands = [reply(Channel.WECHAT, f"第{i}条") for i in range(1, 4)]
    async with outbound.service(Channel.WECHAT):
        await outbound.produce(*commands)
        await outbound.receipts(3)

    assert [m["text"]["content"] for m in fake_wechat.delivered] == ["第1条", "第2条", "第3条"]


async def test_wrong_app_credentials_fail_with_the_platforms_code(outbound: Outbound, fake_wechat: FakeWeChat) -> None:
    fake_wechat.apps[WECHAT_APP_ID] = "rotated-secret"
    command = reply(Channel.WECHAT)
    async with outbound.service(Channel.WECHAT):
        await outbound.produce(command)
        receipt = await outbound.receipt_for(command)

    assert (receipt.status, receipt.platform_code) == (DeliveryStatus.FAILED, "40125")
    assert receipt.reason is not None and "app_secret" in receipt.reason
    assert fake_wechat.send_requests == []


async def test_a_reply_for_an_unknown_account_fails_without_calling_wechat(
    outbound: Outbound, fake_wechat: FakeWeChat
) -> None:
    command = reply(Channel.WECHAT, account_id="no-such-account")
    async with outbound.service(Channel.WECHAT):
        await outbound.produce(command)
        receipt = await outbound.receipt_for(command)

    assert (receipt.status, receipt.attempts, receipt.platform_code) == (DeliveryStatus.FAILED, 0, "unknown_account")
    assert fake_wechat.received == []


async def test_health_reports_the_delivery_consumer(outbound: Outbound) -> None:
    async with outbound.service(Channel.WECHAT) as client:
        response = await client.get("/healthz")
        await asyncio.sleep(0)
    assert response.status_code == 200
    assert response.json()["checks"] == {"broker": "ok", "delivery": "ok"}
