"""The whole product as `make run` starts it: Tansu, migrations, five service processes, on free ports."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from inbox_dev.demo_keys import ensure_demo_keys
from inbox_dev.ports import free_port
from inbox_dev.simulator.fake_alipay import GATEWAY_PATH, FakeAlipay
from inbox_dev.simulator.fake_wechat import FakeWeChat
from inbox_dev.simulator.fake_weibo import FakeWeibo
from inbox_dev.simulator.wechat import WeChatAccount
from inbox_dev.stack import DEFAULT_SERVICES, Service, Stack
from shared.settings import KafkaSettings

WECHAT = WeChatAccount(
    token="e2e-token",
    app_id="wxe2e00000000001",
    encoding_aes_key="abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
)
WEIBO_SECRET = "e2e-weibo-secret"
ALIPAY_APP_ID = "2021000000000099"
WECHAT_SECRET = "e2e-wechat-app-secret"
ADMIN_PASSWORD = "e2e-admin-password"


@dataclass
class RunningStack:
    stack: Stack
    ports: dict[str, int]
    alipay_platform_key: RSAPrivateKey
    auth: dict[str, str]  # an admin's bearer token
    kafka: KafkaSettings  # where the stack's topics are, to read them as another system would
    wechat_api: FakeWeChat
    weibo_api: FakeWeibo
    alipay_api: FakeAlipay

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"


@pytest.fixture(scope="package")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    work = tmp_path_factory.mktemp("stack")
    keys = ensure_demo_keys(work / "keys")
    # The citizen's WeChat: a fake platform API that records what the product sends back.
    wechat_api = FakeWeChat({WECHAT.app_id: WECHAT_SECRET})
    weibo_api = FakeWeibo({"e2e-weibo-token"})
    platform_key = serialization.load_pem_private_key((keys / "alipay-platform-private.pem").read_bytes(), None)
    app_key = serialization.load_pem_private_key((keys / "alipay-app-private.pem").read_bytes(), None)
    assert isinstance(platform_key, RSAPrivateKey) and isinstance(app_key, RSAPrivateKey)
    alipay_api = FakeAlipay(platform_key=platform_key, app_keys={ALIPAY_APP_ID: app_key.public_key()})
    fakes = (wechat_api, weibo_api, alipay_api)
    for fake in fakes:
        fake.start()
    accounts = work / "accounts.yaml"
    accounts.write_text(
        "accounts:\n"
        f"  - {{id: city-wechat, channel: wechat, name: 微信, token: {WECHAT.token}, app_id: {WECHAT.app_id},"
        f" encoding_aes_key: {WECHAT.encoding_aes_key}, app_secret: {WECHAT_SECRET}, api_base: '{wechat_api.url}'}}\n"
        f"  - {{id: city-weibo, channel: weibo, name: 微博, app_secret: {WEIBO_SECRET}, access_token: e2e-weibo-token,"
        f" api_base: '{weibo_api.url}'}}\n"
        f"  - {{id: city-alipay, channel: alipay, name: 支付宝, app_id: '{ALIPAY_APP_ID}',"
        f" app_private_key_file: {keys / 'alipay-app-private.pem'},"
        f" alipay_public_key_file: {keys / 'alipay-platform-public.pem'},"
        f" api_base: '{alipay_api.url}{GATEWAY_PATH}'}}\n",
        encoding="utf-8",
    )
    services = tuple(Service(s.name, s.module, free_port()) for s in DEFAULT_SERVICES)
    prefix = f"e2e{uuid.uuid4().hex[:6]}."
    stack = Stack(
        services=services,
        broker_port=free_port(),
        log_dir=work / "log",
        echo=False,
        env={
            "INBOX_ACCOUNTS_FILE": str(accounts),
            "DATABASE_URL": f"sqlite+aiosqlite:///{work / 'inbox.db'}",
            "KAFKA_TOPIC_PREFIX": prefix,
            "KAFKA_SESSION_TIMEOUT_MS": "2000",
            "KAFKA_HEARTBEAT_INTERVAL_MS": "300",
            "KAFKA_FETCH_MAX_WAIT_MS": "20",
            "INBOX_ADMIN_USER": "e2e-admin",
            "INBOX_OUTBOUND_LEDGER_PATH": str(work / "{service}-deliveries.db"),
            "INBOX_ADMIN_PASSWORD": ADMIN_PASSWORD,
        },
    )
    try:
        stack.start(timeout=60)
    except Exception:
        stack.stop()
        for fake in fakes:
            fake.stop()
        for log in sorted((work / "log").glob("*.log")):
            print(f"--- {log.name}\n{log.read_text(errors='replace')[-4000:]}")
        raise
    ports = {s.name: s.port for s in services}
    token = httpx.post(
        f"http://127.0.0.1:{ports['case-api']}/api/v1/auth/token",
        data={"username": "e2e-admin", "password": ADMIN_PASSWORD},
    ).json()["access_token"]
    assert stack.broker is not None
    kafka = KafkaSettings(bootstrap_servers=stack.broker.bootstrap_servers, topic_prefix=prefix)
    yield RunningStack(stack, ports, platform_key, {"Authorization": f"Bearer {token}"}, kafka, *fakes)
    stack.stop()
    for fake in fakes:
        fake.stop()
    for name, process in stack.processes.items():
        assert process.returncode is not None, f"{name} did not stop"


@pytest.fixture
def stack_logs(running: RunningStack) -> Path:
    return running.stack.log_dir
