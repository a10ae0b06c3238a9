"""ingest-alipay delivers replies through `alipay.open.public.message.custom.send` of a fake Alipay gateway that
checks our RSA2 signature and signs its answers with the platform key (a real local server)."""

from __future__ import annotations

import json

from cryptography.hazmat.primitives.asymmetric import rsa

from inbox_dev.simulator.fake_alipay import INVALID_SIGNATURE, OUTSIDE_WINDOW, UNAVAILABLE, FakeAlipay
from shared.contracts.v1 import Channel, DeliveryStatus
from tests.outbound.conftest import ALIPAY_APP_ID, RECIPIENTS, Outbound, reply

CITIZEN = RECIPIENTS[Channel.ALIPAY]  # the 2088… user id inbound stores as the sender


async def test_a_text_reply_is_a_signed_custom_send_to_the_citizen(outbound: Outbound, fake_alipay: FakeAlipay) -> None:
    command = reply(Channel.ALIPAY, "您好，物业收费问题已转市场监管局核查。")
    async with outbound.service(Channel.ALIPAY):
        await outbound.produce(command)
        [(key, receipt)] = await outbound.receipts(1)

    assert (receipt.status, receipt.attempts, receipt.platform_code) == (DeliveryStatus.DELIVERED, 1, None)
    assert key == str(command.case_id)
    [request] = fake_alipay.received
    assert request.path == "/gateway.do"
    form = request.form()
    assert {k: form[k] for k in ("app_id", "method", "format", "charset", "sign_type", "version")} == {
        "app_id": ALIPAY_APP_ID,
        "method": "alipay.open.public.message.custom.send",
        "format": "JSON",
        "charset": "utf-8",
        "sign_type": "RSA2",
        "version": "1.0",
    }
    assert json.loads(form["biz_content"]) == {
        "to_user_id": CITIZEN,
        "msg_type": "text",
        "text": {"content": "您好，物业收费问题已转市场监管局核查。"},
        "chat": "1",
    }
    # The fake accepted it, so the signature checked out against the app public key.
    assert fake_alipay.delivered == [{**json.loads(form["biz_content"]), "app_id": ALIPAY_APP_ID}]


async def test_service_unavailable_is_retried_then_delivered(outbound: Outbound, fake_alipay: FakeAlipay) -> None:
    fake_alipay.fail_next(UNAVAILABLE)
    command = reply(Channel.ALIPAY)
    async with outbound.service(Channel.ALIPAY):
        await outbound.produce(command)
        receipt = await outbound.receipt_for(command)

    assert (receipt.status, receipt.attempts) == (DeliveryStatus.DELIVERED, 2)
    assert len(fake_alipay.received) == 2 and len(fake_alipay.delivered) == 1


async def test_outside_the_window_fails_at_once(outbound: Outbound, fake_alipay: FakeAlipay) -> None:
    fake_alipay.fail_for(CITIZEN, OUTSIDE_WINDOW)
    command = reply(Channel.ALIPAY)
    async with outbound.service(Channel.ALIPAY):
        await outbound.produce(command)
        receipt = await outbound.receipt_for(command)

    assert (receipt.status, receipt.attempts, receipt.platform_code) == (DeliveryStatus.FAILED, 1, "msg_sd_over_time")
    assert receipt.reason is not None and "超过消息发送时间窗口" in receipt.reason
    assert len(fake_alipay.received) == 1


async def test_a_key_alipay_does_not_know_fails_with_invalid_signature(
    outbound: Outbound, fake_alipay: FakeAlipay
) -> None:
    fake_alipay.app_keys[ALIPAY_APP_ID] = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    command = reply(Channel.ALIPAY)
    async with outbound.service(Channel.ALIPAY):
        await outbound.produce(command)
        receipt = await outbound.receipt_for(command)

    assert (receipt.status, receipt.platform_code) == (DeliveryStatus.FAILED, INVALID_SIGNATURE.sub_code)
    assert fake_alipay.delivered == []
