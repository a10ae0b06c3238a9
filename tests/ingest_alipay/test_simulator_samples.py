"""`inbox-dev simulate`'s Alipay samples against the real app: gateway check, GBK/RSA2 and UTF-8/RSA messages,
events, a retry, a forgery."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from inbox_dev.simulate import send_samples
from inbox_dev.simulator.samples import alipay_samples
from ingest_alipay.main import create_app
from ingest_alipay.settings import Settings
from shared.accounts import load_accounts
from shared.contracts.v1 import Channel, InboundMessageRecord
from shared.settings import KafkaSettings, OutboundSettings
from tests.asgi import serving
from tests.kafka_helpers import read_topic


async def test_every_sample_is_answered_as_the_platform_expects(
    kafka_settings: KafkaSettings, alipay_accounts_file: Path, alipay_key: RSAPrivateKey
) -> None:
    [account] = load_accounts(alipay_accounts_file).for_channel(Channel.ALIPAY)
    samples = alipay_samples(account, platform_key=alipay_key)
    settings = Settings(
        accounts_file=alipay_accounts_file, kafka=kafka_settings, outbound=OutboundSettings(enabled=False)
    )
    async with serving(create_app(settings)) as client:
        results = await send_samples(samples, {"alipay": client})

    assert [(r.sample.label, r.status, r.answer[:200]) for r in results if not r.as_expected] == []
    stored = [
        s for s in samples if s.expect_status == 200 and "retried" not in s.label and s.label != "gateway verification"
    ]
    raw = await read_topic(kafka_settings, kafka_settings.topics.inbox_messages, expect=len(stored) + 1, timeout=3)
    messages = [InboundMessageRecord.from_bytes(r.value).data for r in raw]
    assert len(messages) == len(stored)
    assert sorted(m.text for m in messages if m.text) == sorted(
        ["你好，我想投诉小区物业乱收费", "公交站台的遮雨棚破了，下雨天没法等车"]
    )
    assert sorted(m.event.name for m in messages if m.event) == ["click", "enter", "follow", "unfollow"]
    assert {m.sender_id for m in messages} == {messages[0].sender_id}  # the 2088… user id
    assert messages[0].sender_id.startswith("2088")
