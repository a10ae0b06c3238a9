"""`inbox-dev simulate`'s Weibo samples against the real app: handshake, every push type, a retry, a forgery."""

from __future__ import annotations

from pathlib import Path

from inbox_dev.simulate import send_samples
from inbox_dev.simulator.samples import weibo_samples
from ingest_weibo.main import create_app
from ingest_weibo.settings import Settings
from shared.accounts import load_accounts
from shared.contracts.v1 import Channel, InboundMessageRecord, MessageKind
from shared.settings import KafkaSettings, OutboundSettings
from tests.asgi import serving
from tests.kafka_helpers import read_topic


async def test_every_sample_is_answered_as_the_platform_expects(kafka_settings: KafkaSettings, tmp_path: Path) -> None:
    accounts_file = tmp_path / "accounts.yaml"
    accounts_file.write_text(
        "accounts:\n  - {id: city-weibo, channel: weibo, name: 官方微博, app_secret: demo-weibo-app-secret,"
        " uid: 1902538057}\n",
        encoding="utf-8",
    )
    [account] = load_accounts(accounts_file).for_channel(Channel.WEIBO)
    samples = weibo_samples(account)
    settings = Settings(accounts_file=accounts_file, kafka=kafka_settings, outbound=OutboundSettings(enabled=False))
    async with serving(create_app(settings)) as client:
        results = await send_samples(samples, {"weibo": client})

    assert [(r.sample.label, r.status) for r in results if not r.as_expected] == []
    assert "for another account" in {s.label for s in samples}  # refused, as the forgery is
    stored = [s for s in samples if s.method == "POST" and s.expect_status == 200 and "retried" not in s.label]
    raw = await read_topic(kafka_settings, kafka_settings.topics.inbox_messages, expect=len(stored) + 1, timeout=3)
    messages = [InboundMessageRecord.from_bytes(r.value).data for r in raw]
    assert len(messages) == len(stored)
    assert {m.kind for m in messages} == {
        MessageKind.TEXT,
        MessageKind.LOCATION,
        MessageKind.VOICE,
        MessageKind.IMAGE,
        MessageKind.EVENT,
    }
    events = ["follow", "subscribe", "scan", "scan_follow", "click", "view", "unsubscribe", "unfollow"]
    mentions = ["mention:status", "mention:comment"]
    assert sorted(m.event.name for m in messages if m.event) == sorted([*events, *mentions])
