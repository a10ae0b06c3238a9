"""A reply has a time to live from the moment case-api queued it: a channel service never sends it later, and
says so in a failed receipt instead (an answer hours late is worse than none: the operator may have phoned)."""

from __future__ import annotations

import json
from datetime import timedelta

from inbox_dev.simulator.fake_wechat import FakeWeChat
from shared.contracts.v1 import REPLY_EXPIRED, Channel, DeliveryStatus, ReplyCommandRecord, utcnow
from shared.outbound import Delivery, DeliveryLedger
from shared.settings import ReplySettings
from tests.outbound.conftest import Outbound, reply

WECHAT_BUSY = -1  # transient: worth retrying


async def test_a_command_older_than_the_ttl_is_not_sent_and_reported_expired(
    outbound: Outbound, fake_wechat: FakeWeChat
) -> None:
    """Delivery was stopped for two hours (the default TTL is 15 minutes); a fresh reply to the same citizen,
    queued behind the stale one, still goes out."""
    stale, fresh = reply(Channel.WECHAT, "两小时前的答复"), reply(Channel.WECHAT, "刚才的答复")
    async with outbound.service(Channel.WECHAT):
        await outbound.produce(stale, queued_at=utcnow() - timedelta(hours=2))
        await outbound.produce(fresh)
        refused = await outbound.receipt_for(stale)
        delivered = await outbound.receipt_for(fresh)

    assert (refused.status, refused.attempts, refused.platform_code) == (DeliveryStatus.FAILED, 0, REPLY_EXPIRED)
    assert refused.reason is not None
    assert refused.reason.startswith("expired: not delivered within 15 minutes; ")
    assert "120 min after it was queued" in refused.reason and "not sent" in refused.reason
    assert delivered.status is DeliveryStatus.DELIVERED
    assert [r.json()["text"]["content"] for r in fake_wechat.send_requests] == ["刚才的答复"]


async def test_case_apis_deadline_in_the_command_outlasts_the_services_own_ttl_and_a_command_without_one_falls_back(
    outbound: Outbound, fake_wechat: FakeWeChat
) -> None:
    """case-api runs with an hour's TTL, this service with the default 15 minutes: a reply queued 30 minutes ago
    still goes out. A command queued as long ago by a case-api from before commands carried their deadline is
    judged by this service's own TTL."""
    queued = utcnow() - timedelta(minutes=30)
    new = reply(Channel.WECHAT, "一小时内有效的答复", expires_at=queued + timedelta(hours=1))
    old = reply(Channel.WECHAT, "旧版命令的答复")
    record = ReplyCommandRecord.wrap(old, source="case-api").model_copy(update={"occurred_at": queued})
    published_before = json.loads(record.to_bytes())
    del published_before["data"]["expires_at"]
    async with outbound.service(Channel.WECHAT):
        await outbound.produce_raw((old.contact_key.encode(), json.dumps(published_before).encode()))
        await outbound.produce(new, queued_at=queued)
        refused = await outbound.receipt_for(old)
        delivered = await outbound.receipt_for(new)

    assert (delivered.status, delivered.attempts) == (DeliveryStatus.DELIVERED, 1)
    assert (refused.status, refused.attempts, refused.platform_code) == (DeliveryStatus.FAILED, 0, REPLY_EXPIRED)
    assert refused.reason is not None and refused.reason.startswith("expired: not delivered within 15 minutes; ")
    assert [r.json()["text"]["content"] for r in fake_wechat.send_requests] == ["一小时内有效的答复"]


async def test_a_command_past_its_deadline_is_refused_though_the_services_own_ttl_would_allow_it(
    outbound: Outbound, fake_wechat: FakeWeChat
) -> None:
    """case-api runs with a 2-minute TTL; the reply reaches this service (15 minutes of its own) after 5."""
    queued = utcnow() - timedelta(minutes=5)
    command = reply(Channel.WECHAT, expires_at=queued + timedelta(minutes=2))
    async with outbound.service(Channel.WECHAT):
        await outbound.produce(command, queued_at=queued)
        receipt = await outbound.receipt_for(command)

    assert (receipt.status, receipt.attempts, receipt.platform_code) == (DeliveryStatus.FAILED, 0, REPLY_EXPIRED)
    assert receipt.reason is not None
    assert receipt.reason.startswith("expired: not delivered within 2 minutes; ")  # case-api's TTL, not this one's
    assert "5 min after it was queued" in receipt.reason
    assert fake_wechat.send_requests == []


async def test_a_retry_the_ttl_would_overtake_is_not_waited_for(outbound: Outbound, fake_wechat: FakeWeChat) -> None:
    warm_up = reply(Channel.WECHAT, "先到的答复")
    command = reply(Channel.WECHAT, "繁忙时的答复")
    # Every retry waits 4 to 8 s (equal jitter on 8 s); the command has 3 s of its minute left.
    async with outbound.service(
        Channel.WECHAT, reply=ReplySettings(ttl_s=60), backoff_initial_s=8.0, backoff_max_s=8.0
    ):
        await outbound.produce(warm_up)
        await outbound.receipt_for(warm_up)  # the consumer runs: the next command is taken at once
        fake_wechat.fail_next(WECHAT_BUSY, times=10)
        await outbound.produce(command, queued_at=utcnow() - timedelta(seconds=57))
        receipt = await outbound.receipt_for(command)

    assert (receipt.status, receipt.attempts, receipt.platform_code) == (DeliveryStatus.FAILED, 1, REPLY_EXPIRED)
    assert receipt.reason is not None and receipt.reason.startswith("expired: not delivered within 1 minute; ")
    assert "not tried again after 1 attempt, the last one: WeChat is busy" in receipt.reason
    assert len(fake_wechat.send_requests) == 2  # the warm-up and one attempt: no retry after the TTL
    # Failed as the busy answer came, not after sleeping towards a retry it may not make (4 s at the soonest).
    # Measured from the platform's answer, so a slow broker under a loaded CI does not count.
    answered_at = fake_wechat.send_requests[-1].at
    assert receipt.finished_at.timestamp() - answered_at < 4.0


async def test_a_retry_interrupted_by_a_long_outage_is_not_resumed_after_the_ttl(
    outbound: Outbound, fake_wechat: FakeWeChat
) -> None:
    """The service stopped while waiting to retry; it comes back after the TTL: nothing goes out."""
    command = reply(Channel.WECHAT)
    queued = utcnow() - timedelta(hours=1)
    ledger = await DeliveryLedger.open(outbound.settings().ledger_file("ingest-wechat"))
    await ledger.save(Delivery.new(command.reply_id, queued).sending(queued).waiting("-1", "WeChat is busy", queued))
    await ledger.close()

    async with outbound.service(Channel.WECHAT):
        await outbound.produce(command, queued_at=queued)
        receipt = await outbound.receipt_for(command)

    assert (receipt.status, receipt.attempts, receipt.platform_code) == (DeliveryStatus.FAILED, 1, REPLY_EXPIRED)
    assert receipt.reason is not None and "the last one: WeChat is busy" in receipt.reason
    assert fake_wechat.send_requests == []
