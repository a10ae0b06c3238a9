"""Outbound tests: the channel services against fake platform APIs (real HTTP servers on 127.0.0.1) and a real
broker. Replies are produced onto outbound.replies.v1 the way case-api's outbox does; receipts are read back
from outbound.receipts.v1 the way case-api reads them."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from fastapi import FastAPI

from inbox_dev.simulator.fake_alipay import FakeAlipay
from inbox_dev.simulator.fake_wechat import FakeWeChat
from inbox_dev.simulator.fake_weibo import FakeWeibo
from shared.contracts.v1 import (
    Channel,
    DeliveryReceipt,
    DeliveryReceiptRecord,
    ReplyCommand,
    ReplyCommandRecord,
    ReplyKind,
)
from shared.kafka import make_producer
from shared.settings import KafkaSettings, OutboundSettings
from tests.asgi import serving
from tests.kafka_helpers import read_topic

WECHAT_APP_ID, WECHAT_SECRET = "wxoutbound000001", "wechat-app-secret"
WEIBO_TOKEN = "2.00weibo_access_token"
ALIPAY_APP_ID = "2021000000000042"
ACCOUNT_IDS = {Channel.WECHAT: "city-wechat", Channel.WEIBO: "city-weibo", Channel.ALIPAY: "city-alipay"}
RECIPIENTS = {
    Channel.WECHAT: "oFTYt0l9wQDDhwmx1js_d1T6zZkw",
    Channel.WEIBO: "2489518277",
    Channel.ALIPAY: "2088102286952333",
}


@pytest.fixture(scope="session")
def alipay_platform_key() -> RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def alipay_app_key() -> RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def fake_wechat() -> Iterator[FakeWeChat]:
    with FakeWeChat({WECHAT_APP_ID: WECHAT_SECRET}) as fake:
        yield fake


@pytest.fixture
def fake_weibo() -> Iterator[FakeWeibo]:
    with FakeWeibo([WEIBO_TOKEN]) as fake:
        yield fake


@pytest.fixture
def fake_alipay(alipay_platform_key: RSAPrivateKey, alipay_app_key: RSAPrivateKey) -> Iterator[FakeAlipay]:
    with FakeAlipay(platform_key=alipay_platform_key, app_keys={ALIPAY_APP_ID: alipay_app_key.public_key()}) as fake:
        yield fake


def _pem(key: RSAPrivateKey, path: Path, *, private: bool) -> Path:
    if private:
        data = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    else:
        data = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    path.write_bytes(data)
    return path


@pytest.fixture
def accounts_file(
    tmp_path: Path,
    fake_wechat: FakeWeChat,
    fake_weibo: FakeWeibo,
    fake_alipay: FakeAlipay,
    alipay_platform_key: RSAPrivateKey,
    alipay_app_key: RSAPrivateKey,
) -> Path:
    """The three channels' accounts, each with `api_base` pointing at its fake platform."""
    app_private = _pem(alipay_app_key, tmp_path / "app-private.pem", private=True)
    platform_public = _pem(alipay_platform_key, tmp_path / "platform-public.pem", private=False)
    path = tmp_path / "accounts.yaml"
    path.write_text(
        "accounts:\n"
        f"  - {{id: city-wechat, channel: wechat, name: 城市服务, token: tok, app_id: {WECHAT_APP_ID},"
        f" app_secret: {WECHAT_SECRET}, api_base: '{fake_wechat.url}'}}\n"
        f"  - {{id: city-weibo, channel: weibo, name: 官方微博, app_secret: ws, access_token: '{WEIBO_TOKEN}',"
        f" api_base: '{fake_weibo.url}'}}\n"
        f"  - {{id: stale-weibo, channel: weibo, name: 过期令牌, app_secret: ws, access_token: expired,"
        f" api_base: '{fake_weibo.url}'}}\n"
        f"  - {{id: city-alipay, channel: alipay, name: 生活号, app_id: '{ALIPAY_APP_ID}',"
        f" app_private_key_file: {app_private}, alipay_public_key_file: {platform_public},"
        f" api_base: '{fake_alipay.url}/gateway.do'}}\n",
        encoding="utf-8",
    )
    return path


def outbound_settings(tmp_path: Path, **overrides: Any) -> OutboundSettings:
    """Quick retries so tests take milliseconds; a ledger per test."""
    values: dict[str, Any] = {
        "ledger_path": str(tmp_path / "{service}-deliveries.db"),
        "backoff_initial_s": 0.05,
        "backoff_max_s": 0.2,
        "max_attempts": 5,
        "max_total_s": 20.0,
        "http_timeout_s": 5.0,
        "shutdown_grace_s": 3.0,
    }
    return OutboundSettings(**(values | overrides))


def channel_app(
    channel: Channel,
    *,
    accounts_file: Path,
    kafka: KafkaSettings,
    outbound: OutboundSettings,
    transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    if channel is Channel.WECHAT:
        from ingest_wechat.main import create_app as wechat_app
        from ingest_wechat.settings import Settings as WeChatSettings

        return wechat_app(
            WeChatSettings(accounts_file=accounts_file, kafka=kafka, outbound=outbound), transport=transport
        )
    if channel is Channel.WEIBO:
        from ingest_weibo.main import create_app as weibo_app
        from ingest_weibo.settings import Settings as WeiboSettings

        return weibo_app(
            WeiboSettings(accounts_file=accounts_file, kafka=kafka, outbound=outbound), transport=transport
        )
    from ingest_alipay.main import create_app as alipay_app
    from ingest_alipay.settings import Settings as AlipaySettings

    return alipay_app(AlipaySettings(accounts_file=accounts_file, kafka=kafka, outbound=outbound), transport=transport)


@dataclass
class Outbound:
    """Runs channel services and talks to them through Kafka, as case-api does."""

    kafka: KafkaSettings
    accounts_file: Path
    tmp_path: Path

    def settings(self, **overrides: Any) -> OutboundSettings:
        # A group per test: a group a previous test just left can take a session timeout to rejoin on Tansu.
        group = f"{self.kafka.topic_prefix}{{service}}-outbound"
        return outbound_settings(self.tmp_path, **({"consumer_group": group} | overrides))

    def service(
        self, channel: Channel, *, kafka: KafkaSettings | None = None, **overrides: Any
    ) -> AbstractAsyncContextManager[httpx.AsyncClient]:
        app = channel_app(
            channel, accounts_file=self.accounts_file, kafka=kafka or self.kafka, outbound=self.settings(**overrides)
        )
        return serving(app)

    async def produce(self, *commands: ReplyCommand, queued_at: datetime | None = None) -> None:
        """As case-api's outbox publishes them; `queued_at` backdates the envelope (when case-api queued them)."""
        records = [ReplyCommandRecord.wrap(c, source="case-api") for c in commands]
        if queued_at is not None:
            records = [r.model_copy(update={"occurred_at": queued_at}) for r in records]
        await self.produce_raw(*((r.data.contact_key.encode(), r.to_bytes()) for r in records))

    async def produce_raw(self, *records: tuple[bytes | None, bytes]) -> None:
        producer = make_producer(self.kafka, client_id="test-case-api")
        await producer.start()
        try:
            for key, value in records:
                await producer.send_and_wait(self.kafka.topics.outbound_replies, value=value, key=key)
        finally:
            await producer.stop()

    async def receipts(self, expect: int, *, timeout: float = 10.0) -> list[tuple[str, DeliveryReceipt]]:
        """(record key, receipt) for every receipt published so far, once `expect` arrived."""
        raw = await read_topic(self.kafka, self.kafka.topics.outbound_receipts, expect=expect, timeout=timeout)
        return [(r.key.decode(), DeliveryReceiptRecord.from_bytes(r.value).data) for r in raw]

    async def receipt_for(self, command: ReplyCommand, *, timeout: float = 10.0) -> DeliveryReceipt:
        """The (last) receipt for `command`, waiting for it to appear."""
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            receipts = [r for _, r in await self.receipts(seen + 1, timeout=0.5)]
            mine = [r for r in receipts if r.reply_id == command.reply_id]
            if mine:
                return mine[-1]
            assert time.monotonic() < deadline, f"no receipt for reply {command.reply_id} within {timeout} s"
            seen = len(receipts)


@pytest.fixture
def outbound(kafka_settings: KafkaSettings, accounts_file: Path, tmp_path: Path) -> Outbound:
    return Outbound(kafka_settings, accounts_file, tmp_path)


def reply(
    channel: Channel,
    text: str = "您好，您反映的问题已受理，工单号 20261124-00042，我们将在1个工作日内答复。",
    *,
    recipient: str | None = None,
    account_id: str | None = None,
    kind: ReplyKind = ReplyKind.TEXT,
    media_id: str | None = None,
    expires_at: datetime | None = None,
) -> ReplyCommand:
    return ReplyCommand(
        reply_id=uuid.uuid4(),
        case_id=uuid.uuid4(),
        case_number="20261124-00042",
        channel=channel,
        account_id=account_id or ACCOUNT_IDS[channel],
        recipient_id=recipient or RECIPIENTS[channel],
        kind=kind,
        text=text if kind is ReplyKind.TEXT else "",
        media_id=media_id,
        expires_at=expires_at,
    )
