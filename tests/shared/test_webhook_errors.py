"""Weibo and Alipay webhooks over HTTP: each kind of bad request gets its own status and reason, and
nothing reaches the broker."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from inbox_dev.simulator import alipay, weibo
from ingest_alipay.main import create_app as alipay_app
from ingest_alipay.settings import Settings as AlipaySettings
from ingest_weibo.main import create_app as weibo_app
from ingest_weibo.settings import Settings as WeiboSettings
from shared.settings import KafkaSettings, OutboundSettings
from tests.asgi import serving
from tests.kafka_helpers import read_topic

OFF = OutboundSettings(enabled=False)


async def nothing_produced(kafka: KafkaSettings) -> bool:
    return await read_topic(kafka, kafka.topics.inbox_messages, expect=1, timeout=0.5) == []


async def test_weibo_bad_requests(kafka_settings: KafkaSettings, tmp_path: Path) -> None:
    accounts = tmp_path / "accounts.yaml"
    accounts.write_text("accounts:\n  - {id: city, channel: weibo, name: w, app_secret: s3cret}\n")
    settings = WeiboSettings(accounts_file=accounts, kafka=kafka_settings, outbound=OFF, max_body_bytes=2048)
    good = weibo.push_body(msg_type="text", sender_id=1, receiver_id=2, text="你好")
    async with serving(weibo_app(settings)) as client:
        cases = [
            ("/webhooks/weibo/nobody", weibo.signed_query("s3cret"), good, 404, "nobody"),
            ("/webhooks/weibo/city", weibo.signed_query("wrong"), good, 403, "signature"),
            ("/webhooks/weibo/city", weibo.signed_query("s3cret"), b"{not json", 400, "malformed"),
            ("/webhooks/weibo/city", weibo.signed_query("s3cret"), b"x" * 5000, 413, "limit"),
        ]
        for path, query, body, status, reason in cases:
            response = await client.post(path, params=query, content=body)
            assert (response.status_code, reason in response.text) == (status, True), (path, response.text)
        handshake = await client.get("/webhooks/weibo/city", params=weibo.signed_query("s3cret") | {"echostr": "42"})
        assert handshake.text == "42"
    assert await nothing_produced(kafka_settings)


@pytest.fixture
def alipay_keys(tmp_path: Path) -> tuple[Path, rsa.RSAPrivateKey]:
    platform = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    app = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (tmp_path / "app.pem").write_bytes(
        app.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    (tmp_path / "platform.pem").write_bytes(
        platform.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    accounts = tmp_path / "accounts.yaml"
    accounts.write_text(
        "accounts:\n  - {id: city, channel: alipay, name: a, app_id: '2021', "
        f"app_private_key_file: {tmp_path / 'app.pem'}, alipay_public_key_file: {tmp_path / 'platform.pem'}}}\n"
    )
    return accounts, platform


async def test_alipay_bad_requests(kafka_settings: KafkaSettings, alipay_keys: tuple[Path, rsa.RSAPrivateKey]) -> None:
    accounts, platform = alipay_keys
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    biz = alipay.text_biz_content(
        app_id="2021", alipay_user_id="2088000000000001", from_user_id="2088X", text="路灯坏了", msg_id="m1"
    )
    # Correctly signed, but for another of the centre's life accounts.
    elsewhere = alipay.text_biz_content(
        app_id="2099", alipay_user_id="2088000000000001", from_user_id="2088X", text="路灯坏了", msg_id="m2"
    )
    settings = AlipaySettings(accounts_file=accounts, kafka=kafka_settings, outbound=OFF, max_body_bytes=4096)
    form = {"content-type": "application/x-www-form-urlencoded; charset=GBK"}
    async with serving(alipay_app(settings)) as client:
        cases = [
            (
                "/webhooks/alipay/nobody",
                alipay.message_notify(biz, app_id="2021", platform_key=platform),
                404,
                "nobody",
            ),
            ("/webhooks/alipay/city", alipay.message_notify(biz, app_id="2021", platform_key=other), 403, "signature"),
            ("/webhooks/alipay/city", b"service=x", 400, "malformed"),
            (
                "/webhooks/alipay/city",
                alipay.message_notify(elsewhere, app_id="2099", platform_key=platform),
                403,
                "for app 2099",
            ),
            ("/webhooks/alipay/city", b"a=" + b"b" * 5000, 413, "limit"),
        ]
        for path, body, status, reason in cases:
            response = await client.post(path, content=body, headers=form)
            assert (response.status_code, reason in response.text) == (status, True), (path, response.text)
    assert await nothing_produced(kafka_settings)
