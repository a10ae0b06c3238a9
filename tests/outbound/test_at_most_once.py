"""A reply reaches the citizen at most once per reply id, whatever happens to the consumer in between."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from aiokafka.errors import KafkaTimeoutError

from inbox_dev.simulator.fake_wechat import FakeWeChat
from shared.accounts import Account, AccountRegistry
from shared.contracts.v1 import Channel, DeliveryStatus, ReplyCommand, ReplyCommandRecord, utcnow
from shared.outbound import OUTCOME_UNKNOWN, Delivery, DeliveryLedger, LedgerStatus
from shared.outbound.consumer import ReplyBatchHandler
from shared.outbound.deliver import ReplyDeliverer
from shared.outbound.retry import RetryPolicy
from tests.kafka_helpers import settle
from tests.outbound.conftest import Outbound, reply


def ledger_path(outbound: Outbound) -> Path:
    return outbound.settings().ledger_file("ingest-wechat")


async def test_a_restart_after_delivery_but_before_the_commit_does_not_send_again(
    outbound: Outbound, fake_wechat: FakeWeChat
) -> None:
    command = reply(Channel.WECHAT)
    # This consumer never commits its offsets: as if it died right after the reply went out.
    never_commits = outbound.kafka.model_copy(update={"commit_timeout_s": 0.0})
    async with outbound.service(Channel.WECHAT, kafka=never_commits):
        await outbound.produce(command)
        assert (await outbound.receipt_for(command)).status is DeliveryStatus.DELIVERED

    async with outbound.service(Channel.WECHAT):  # same group: it is handed the same record again
        await settle(2.0)
        receipts = await outbound.receipts(2, timeout=1.0)

    assert len(fake_wechat.send_requests) == 1
    assert [r.reply_id for _, r in receipts] == [command.reply_id]  # and no second receipt either


async def test_the_same_command_published_twice_is_sent_once(outbound: Outbound, fake_wechat: FakeWeChat) -> None:
    command = reply(Channel.WECHAT)
    async with outbound.service(Channel.WECHAT):
        await outbound.produce(command)
        await outbound.receipt_for(command)
        await outbound.produce(command)  # an outbox that re-published after a crash
        await outbound.produce(command, command)  # twice in one batch, too
        await settle(1.0)
        receipts = await outbound.receipts(2, timeout=1.0)

    assert len(fake_wechat.send_requests) == 1
    assert len(receipts) == 1


async def test_a_call_cut_off_by_a_crash_is_reported_unknown_and_not_sent_again(
    outbound: Outbound, fake_wechat: FakeWeChat
) -> None:
    command = reply(Channel.WECHAT)
    fake_wechat.delay_s = 2.0  # WeChat is slow; the process dies while the call is under way
    async with outbound.service(Channel.WECHAT, shutdown_grace_s=0.0):
        await outbound.produce(command)
        await fake_wechat.wait_for(1, path="/cgi-bin/message/custom/send")
    fake_wechat.delay_s = 0.0
    assert await outbound.receipts(1, timeout=0.5) == []

    async with outbound.service(Channel.WECHAT):
        receipt = await outbound.receipt_for(command)

    assert (receipt.status, receipt.attempts, receipt.platform_code) == (DeliveryStatus.FAILED, 1, OUTCOME_UNKNOWN)
    assert receipt.reason is not None and "not sent again" in receipt.reason
    assert len(fake_wechat.send_requests) == 1


async def test_a_shutdown_lets_the_call_under_way_finish_and_records_it(
    outbound: Outbound, fake_wechat: FakeWeChat
) -> None:
    command = reply(Channel.WECHAT)
    fake_wechat.delay_s = 0.5
    async with outbound.service(Channel.WECHAT, shutdown_grace_s=5.0):
        await outbound.produce(command)
        await fake_wechat.wait_for(1, path="/cgi-bin/message/custom/send")
    # Stopped before the receipt went out (and before the commit), but the ledger knows it was delivered.
    fake_wechat.delay_s = 0.0

    async with outbound.service(Channel.WECHAT):
        receipt = await outbound.receipt_for(command)

    assert (receipt.status, receipt.attempts) == (DeliveryStatus.DELIVERED, 1)
    assert len(fake_wechat.send_requests) == 1 and len(fake_wechat.delivered) == 1


async def test_a_receipt_lost_in_a_crash_is_published_from_the_ledger(
    outbound: Outbound, fake_wechat: FakeWeChat
) -> None:
    command = reply(Channel.WECHAT)
    # The state a crash between the ledger write and the receipt leaves behind.
    ledger = await DeliveryLedger.open(ledger_path(outbound))
    now = utcnow()
    await ledger.save(Delivery.new(command.reply_id, now).sending(now).finish(LedgerStatus.DELIVERED, None, None, now))
    await ledger.close()

    async with outbound.service(Channel.WECHAT):
        await outbound.produce(command)
        receipt = await outbound.receipt_for(command)

    assert (receipt.status, receipt.attempts) == (DeliveryStatus.DELIVERED, 1)
    assert fake_wechat.received == []


async def test_a_retry_interrupted_by_a_restart_goes_on_where_it_stopped(
    outbound: Outbound, fake_wechat: FakeWeChat
) -> None:
    command = reply(Channel.WECHAT)
    fake_wechat.fail_next(45009, times=10)
    async with outbound.service(Channel.WECHAT, backoff_initial_s=5.0, backoff_max_s=5.0):
        await outbound.produce(command)
        await fake_wechat.wait_for(1, path="/cgi-bin/message/custom/send")
        await asyncio.sleep(0.2)  # now waiting for the retry: nothing is under way
    with fake_wechat.lock:
        fake_wechat._next_errors.clear()

    async with outbound.service(Channel.WECHAT):
        receipt = await outbound.receipt_for(command)

    # The interrupted wait was not an unknown outcome: the 45009 was recorded, so it was safe to try again.
    assert (receipt.status, receipt.attempts) == (DeliveryStatus.DELIVERED, 2)
    assert len(fake_wechat.send_requests) == 2


class _BlipOnFirstSend:
    """A producer whose first send (one reply's receipt) times out, as the broker does in a blip."""

    def __init__(self) -> None:
        self.calls = 0

    async def send_and_wait(self, topic: str, value: bytes | None = None, **_: object) -> None:
        self.calls += 1
        if self.calls == 1:
            raise KafkaTimeoutError("broker blip")


async def test_a_receipt_the_broker_misses_does_not_cut_off_another_citizens_reply(tmp_path: Path) -> None:
    """One reply's receipt failing made the batch cancel a slow platform call for another citizen: its outcome was
    then unknown, and the operator was told to send again what may have arrived."""
    ledger = await DeliveryLedger.open(tmp_path / "ledger.db")
    received: list[str] = []

    async def send(account: Account, command: ReplyCommand) -> None:
        if command.recipient_id == "slow":
            await asyncio.sleep(0.6)  # longer than the grace a cancelled call gets below
        received.append(command.recipient_id)

    account = Account(id="a1", channel=Channel.WEIBO, name="x", app_secret="s")
    producer = _BlipOnFirstSend()
    deliverer = ReplyDeliverer(
        channel=Channel.WEIBO,
        accounts=AccountRegistry([account]),
        send=send,
        ledger=ledger,
        producer=producer,
        receipts_topic="receipts",
        source="test",
        policy=RetryPolicy(6, 120, 1, 30),
        shutdown_grace_s=0.2,
        ttl=timedelta(minutes=15),
    )
    handler = ReplyBatchHandler(deliverer, producer=producer, source="test", concurrency=8, batch_time_s=60)
    commands = [
        ReplyCommand(
            reply_id=uuid.uuid4(),
            case_id=uuid.uuid4(),
            case_number="20261125-00001",
            channel=Channel.WEIBO,
            account_id="a1",
            recipient_id=recipient,
            text="您好",
        )
        for recipient in ("fast", "slow")
    ]
    records = [
        SimpleNamespace(
            topic="replies",
            partition=0,
            offset=n,
            key=b"k",
            headers=[],
            value=ReplyCommandRecord.wrap(c, source="t").to_bytes(),
        )
        for n, c in enumerate(commands)
    ]
    with pytest.raises(KafkaTimeoutError):
        await handler(records)
    await handler(records)  # consume_batches retries the batch
    slow = await ledger.get(commands[1].reply_id)
    await ledger.close()
    assert sorted(received) == ["fast", "slow"]  # each once
    assert slow is not None and slow.platform_code != OUTCOME_UNKNOWN
