"""ingest-weibo delivers replies through `messages/reply.json` of a fake Weibo (a real local server)."""

from __future__ import annotations

import json

from inbox_dev.simulator.fake_weibo import REPLY_PATH, FakeWeibo
from shared.contracts.v1 import Channel, DeliveryStatus, ReplyKind
from tests.outbound.conftest import RECIPIENTS, WEIBO_TOKEN, Outbound, reply

CITIZEN = RECIPIENTS[Channel.WEIBO]


async def test_a_text_reply_is_posted_as_the_form_weibo_expects(outbound: Outbound, fake_weibo: FakeWeibo) -> None:
    command = reply(Channel.WEIBO, "您好，文华北路施工已协调交警疏导，感谢反映。")
    async with outbound.service(Channel.WEIBO):
        await outbound.produce(command)
        [(key, receipt)] = await outbound.receipts(1)

    assert (receipt.status, receipt.attempts, receipt.platform_code) == (DeliveryStatus.DELIVERED, 1, None)
    assert key == str(command.case_id)
    # api_base is the host (as in config/accounts.example.yaml); the version path is the client's.
    [request] = fake_weibo.received
    assert (request.method, request.path, request.query) == ("POST", REPLY_PATH, {})
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    form = request.form()
    assert form == {
        "access_token": WEIBO_TOKEN,
        "type": "text",
        "data": json.dumps(
            {"text": "您好，文华北路施工已协调交警疏导，感谢反映。"}, ensure_ascii=False, separators=(",", ":")
        ),
        "receiver_id": CITIZEN,
        "save_sender_box": "1",
    }


async def test_a_rate_limit_is_retried_then_delivered(outbound: Outbound, fake_weibo: FakeWeibo) -> None:
    fake_weibo.fail_next(10023, times=2)
    command = reply(Channel.WEIBO)
    async with outbound.service(Channel.WEIBO):
        await outbound.produce(command)
        receipt = await outbound.receipt_for(command)

    assert (receipt.status, receipt.attempts) == (DeliveryStatus.DELIVERED, 3)
    assert len(fake_weibo.received) == 3 and len(fake_weibo.delivered) == 1


async def test_an_expired_access_token_fails_at_once_as_a_credentials_problem(
    outbound: Outbound, fake_weibo: FakeWeibo
) -> None:
    command = reply(Channel.WEIBO, account_id="stale-weibo")
    async with outbound.service(Channel.WEIBO):
        await outbound.produce(command)
        receipt = await outbound.receipt_for(command)

    assert (receipt.status, receipt.attempts, receipt.platform_code) == (DeliveryStatus.FAILED, 1, "21327")
    assert receipt.reason == "expired_token"
    assert len(fake_weibo.received) == 1


async def test_an_image_reply_is_refused_without_calling_weibo(outbound: Outbound, fake_weibo: FakeWeibo) -> None:
    command = reply(Channel.WEIBO, kind=ReplyKind.IMAGE, media_id="fid-1")
    async with outbound.service(Channel.WEIBO):
        await outbound.produce(command)
        receipt = await outbound.receipt_for(command)

    assert (receipt.status, receipt.platform_code) == (DeliveryStatus.FAILED, "unsupported_kind")
    assert fake_weibo.received == []


async def test_text_over_300_characters_fails_with_a_reason(outbound: Outbound, fake_weibo: FakeWeibo) -> None:
    command = reply(Channel.WEIBO, "路" * 301)
    async with outbound.service(Channel.WEIBO):
        await outbound.produce(command)
        receipt = await outbound.receipt_for(command)

    assert (receipt.status, receipt.attempts, receipt.platform_code) == (DeliveryStatus.FAILED, 1, "text_too_long")
    assert receipt.reason == "301 characters, at most 300"
    assert fake_weibo.received == []
