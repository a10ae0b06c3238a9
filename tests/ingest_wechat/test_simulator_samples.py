"""`inbox-dev simulate`'s WeChat samples against the real app: every kind and mode is answered as expected and
each distinct message lands on inbox.messages.v1 once."""

from __future__ import annotations

from pathlib import Path

from inbox_dev.simulate import send_samples
from inbox_dev.simulator.samples import wechat_samples
from ingest_wechat.main import create_app
from ingest_wechat.settings import Settings
from shared.accounts import load_accounts
from shared.contracts.v1 import Channel, InboundMessageRecord, MessageKind
from shared.settings import KafkaSettings, OutboundSettings
from tests.asgi import serving
from tests.kafka_helpers import read_topic


async def test_every_sample_is_answered_as_the_platform_expects(kafka_settings: KafkaSettings, tmp_path: Path) -> None:
    accounts_file = tmp_path / "accounts.yaml"
    accounts_file.write_text(
        "accounts:\n  - {id: city-wechat, channel: wechat, name: 城市服务, token: demo-wechat-token,"
        " app_id: wxdemo0000000000001, encoding_aes_key: abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG,"
        " original_id: gh_47bd9550a0a1}\n",
        encoding="utf-8",
    )
    [account] = load_accounts(accounts_file).for_channel(Channel.WECHAT)
    samples = wechat_samples(account)
    settings = Settings(accounts_file=accounts_file, kafka=kafka_settings, outbound=OutboundSettings(enabled=False))
    async with serving(create_app(settings)) as client:
        results = await send_samples(samples, {"wechat": client})

    assert [(r.sample.label, r.status) for r in results if not r.as_expected] == []
    assert "for another official account" in {s.label for s in samples}  # refused, as the forgery is
    stored = [s for s in samples if s.method == "POST" and s.expect_status == 200 and "retried" not in s.label]
    raw = await read_topic(kafka_settings, kafka_settings.topics.inbox_messages, expect=len(stored) + 1, timeout=3)
    messages = [InboundMessageRecord.from_bytes(r.value).data for r in raw]
    assert len(messages) == len(stored)
    kinds = {m.kind for m in messages}
    assert kinds == {
        MessageKind.TEXT,
        MessageKind.IMAGE,
        MessageKind.VOICE,
        MessageKind.VIDEO,
        MessageKind.LOCATION,
        MessageKind.LINK,
        MessageKind.EVENT,
    }
    events = sorted(m.event.name for m in messages if m.event)
    assert events == sorted(["subscribe", "click", "click", "view", "scan", "location", "unsubscribe"])
    assert any(m.text == "我家楼下的路灯坏了一个星期了" for m in messages)  # voice keeps its recognition
