"""Which replies a channel service takes: its own; others are left to their services; unreadable ones are
dead-lettered with the reason."""

from __future__ import annotations

from contextlib import AsyncExitStack

import httpx
import orjson

from inbox_dev.simulator.fake_alipay import FakeAlipay
from inbox_dev.simulator.fake_wechat import FakeWeChat
from inbox_dev.simulator.fake_weibo import FakeWeibo
from shared.contracts.v1 import Channel, DeliveryStatus
from shared.topics import dead_letter_topic
from tests.asgi import serving
from tests.kafka_helpers import read_topic, settle
from tests.outbound.conftest import RECIPIENTS, Outbound, channel_app, reply


async def test_each_service_delivers_only_its_own_channels_replies(
    outbound: Outbound, fake_wechat: FakeWeChat, fake_weibo: FakeWeibo, fake_alipay: FakeAlipay
) -> None:
    commands = {channel: reply(channel, f"{channel.value} 的答复") for channel in Channel}
    async with AsyncExitStack() as stack:
        for channel in Channel:
            await stack.enter_async_context(outbound.service(channel))
        await outbound.produce(*commands.values())
        receipts = await outbound.receipts(3)
        await settle(0.5)
        receipts = await outbound.receipts(4, timeout=0.5)

    assert sorted((r.channel.value, r.status.value) for _, r in receipts) == [
        ("alipay", "delivered"),
        ("wechat", "delivered"),
        ("weibo", "delivered"),
    ]
    assert [m["touser"] for m in fake_wechat.delivered] == [RECIPIENTS[Channel.WECHAT]]
    assert [m["receiver_id"] for m in fake_weibo.delivered] == [RECIPIENTS[Channel.WEIBO]]
    assert [m["to_user_id"] for m in fake_alipay.delivered] == [RECIPIENTS[Channel.ALIPAY]]


async def test_replies_for_other_channels_are_ignored(
    outbound: Outbound, fake_wechat: FakeWeChat, fake_weibo: FakeWeibo, fake_alipay: FakeAlipay
) -> None:
    ours = reply(Channel.WECHAT)
    async with outbound.service(Channel.WECHAT):
        await outbound.produce(reply(Channel.WEIBO), reply(Channel.ALIPAY), ours)
        await outbound.receipt_for(ours)
        await settle(0.5)
        receipts = await outbound.receipts(2, timeout=0.5)

    assert [r.reply_id for _, r in receipts] == [ours.reply_id]
    assert fake_weibo.received == [] and fake_alipay.received == []
    assert len(fake_wechat.send_requests) == 1


async def test_unreadable_records_go_to_the_dead_letter_topic(outbound: Outbound, fake_wechat: FakeWeChat) -> None:
    valid = reply(Channel.WECHAT)
    broken_ours = orjson.dumps({"type": "outbound.reply.requested", "data": {"channel": "wechat", "text": "缺字段"}})
    broken_weibo = orjson.dumps({"data": {"channel": "weibo"}})  # weibo's consumer dead-letters this one
    async with outbound.service(Channel.WECHAT):
        await outbound.produce_raw((b"k1", b"not json at all"), (b"k2", broken_ours), (b"k3", broken_weibo))
        await outbound.produce(valid)
        assert (await outbound.receipt_for(valid)).status is DeliveryStatus.DELIVERED
        dead = await read_topic(
            outbound.kafka, dead_letter_topic(outbound.kafka.topics.outbound_replies), expect=3, timeout=1.5
        )

    assert sorted(r.value for r in dead) == sorted([b"not json at all", broken_ours])
    for record in dead:
        headers = {k: v.decode() for k, v in record.headers}
        assert headers["consumer"] == "ingest-wechat"
        assert headers["original_topic"] == outbound.kafka.topics.outbound_replies
        assert headers["reason"]
    assert len(fake_wechat.send_requests) == 1


async def test_a_bug_in_sending_fails_the_reply_instead_of_retrying_blindly(outbound: Outbound) -> None:
    def broken(request: httpx.Request) -> httpx.Response:
        raise RuntimeError("boom")

    command = reply(Channel.WECHAT)
    app = channel_app(
        Channel.WECHAT,
        accounts_file=outbound.accounts_file,
        kafka=outbound.kafka,
        outbound=outbound.settings(),
        transport=httpx.MockTransport(broken),
    )
    async with serving(app):
        await outbound.produce(command)
        receipt = await outbound.receipt_for(command)

    assert (receipt.status, receipt.attempts, receipt.platform_code) == (DeliveryStatus.FAILED, 1, "internal_error")
    assert receipt.reason == "RuntimeError: boom"
