"""alipay.open.public.message.custom.send against a MockTransport that plays Alipay's open gateway."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from urllib.parse import parse_qsl

import httpx
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from ingest_alipay.client import DEFAULT_API_BASE, AlipayClient
from ingest_alipay.errors import DeliveryError, PermanentDeliveryError, TransientDeliveryError

NOW = datetime(2024, 5, 1, 2, 3, 4, tzinfo=UTC)  # 10:03:04 in Beijing
RESPONSE_KEY = "alipay_open_public_message_custom_send_response"
Handler = Callable[[httpx.Request], httpx.Response]


def alipay_response(alipay_key: RSAPrivateKey | None, result: dict[str, str], *, charset: str = "utf-8") -> bytes:
    """A gateway answer: the response member's exact text signed with Alipay's key, as its SDKs expect."""
    member = json.dumps(result, ensure_ascii=False, separators=(",", ":"))
    if alipay_key is None:
        return f'{{"{RESPONSE_KEY}":{member}}}'.encode(charset)
    signature = alipay_key.sign(member.encode(charset), padding.PKCS1v15(), hashes.SHA256())
    return f'{{"{RESPONSE_KEY}":{member},"sign":"{base64.b64encode(signature).decode()}"}}'.encode(charset)


SUCCESS = {"code": "10000", "msg": "Success"}


class Gateway:
    """Records requests and answers each with `answer(request)`."""

    def __init__(self, answer: Handler) -> None:
        self.answer = answer
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.answer(request)


@pytest.fixture
async def http() -> AsyncIterator[Callable[[Handler], httpx.AsyncClient]]:
    """Long-lived-style clients on a MockTransport, closed after the test."""
    clients: list[httpx.AsyncClient] = []

    def make(handler: Handler) -> httpx.AsyncClient:
        clients.append(httpx.AsyncClient(transport=httpx.MockTransport(handler)))
        return clients[-1]

    yield make
    for client in clients:
        await client.aclose()


def make_client(
    http: httpx.AsyncClient, app_key: RSAPrivateKey, alipay_key: RSAPrivateKey, **kwargs: object
) -> AlipayClient:
    return AlipayClient(
        http,
        app_id="2016010601068750",
        private_key=app_key,
        alipay_public_key=alipay_key.public_key(),
        clock=lambda: NOW,
        **kwargs,  # type: ignore[arg-type]
    )


async def test_send_text_posts_a_signed_form(
    http: Callable[[Handler], httpx.AsyncClient], app_key: RSAPrivateKey, alipay_key: RSAPrivateKey
) -> None:
    gateway = Gateway(lambda _: httpx.Response(200, content=alipay_response(alipay_key, SUCCESS)))
    client = make_client(http(gateway), app_key, alipay_key)

    await client.send_text(to_user_id="2088102286952333", text="您反映的问题已受理")

    (request,) = gateway.requests
    assert request.method == "POST" and str(request.url) == DEFAULT_API_BASE
    assert request.headers["content-type"] == "application/x-www-form-urlencoded;charset=utf-8"
    fields = dict(parse_qsl(request.content.decode("ascii"), encoding="utf-8", strict_parsing=True))
    signature = fields.pop("sign")
    assert fields == {
        "app_id": "2016010601068750",
        "method": "alipay.open.public.message.custom.send",
        "format": "JSON",
        "charset": "utf-8",
        "sign_type": "RSA2",
        "timestamp": "2024-05-01 10:03:04",
        "version": "1.0",
        "biz_content": fields["biz_content"],
    }
    assert json.loads(fields["biz_content"]) == {
        "to_user_id": "2088102286952333",
        "msg_type": "text",
        "text": {"content": "您反映的问题已受理"},
        "chat": "1",
    }
    # Alipay's check: every non-empty parameter but sign, sorted, &-joined, with our app public key.
    content = "&".join(f"{k}={v}" for k, v in sorted(fields.items()))
    app_key.public_key().verify(base64.b64decode(signature), content.encode(), padding.PKCS1v15(), hashes.SHA256())


async def test_a_gbk_client_encodes_the_form_in_gbk(
    http: Callable[[Handler], httpx.AsyncClient], app_key: RSAPrivateKey, alipay_key: RSAPrivateKey
) -> None:
    answer = alipay_response(alipay_key, SUCCESS, charset="gbk")
    gateway = Gateway(lambda _: httpx.Response(200, content=answer))
    client = make_client(
        http(gateway),
        app_key,
        alipay_key,
        charset="GBK",
        chat=False,
        api_base="https://sandbox.test/gateway.do",
    )

    await client.send_text(to_user_id="u", text="受理")

    (request,) = gateway.requests
    assert str(request.url) == "https://sandbox.test/gateway.do"
    assert b"%CA%DC%C0%ED" in request.content  # "受理" in GBK
    fields = dict(parse_qsl(request.content.decode("ascii"), encoding="gbk"))
    assert fields["charset"] == "GBK"
    assert "chat" not in json.loads(fields["biz_content"])


def error(code: str, msg: str, sub_code: str = "", sub_msg: str = "") -> dict[str, str]:
    return {"code": code, "msg": msg} | ({"sub_code": sub_code, "sub_msg": sub_msg} if sub_code else {})


@pytest.mark.parametrize(
    ("result", "signed", "expected", "code"),
    [
        (
            error("20000", "Service Currently Unavailable", "isp.unknow-error", "服务暂不可用"),
            True,
            TransientDeliveryError,
            "isp.unknow-error",
        ),
        (error("20000", "Service Currently Unavailable"), False, TransientDeliveryError, "20000"),
        (
            error("40004", "Business Failed", "isp.system-busy", "系统繁忙"),
            True,
            TransientDeliveryError,
            "isp.system-busy",
        ),
        (
            error("40004", "Business Failed", "msg_sd_over_time", "超过时间窗口"),
            True,
            PermanentDeliveryError,
            "msg_sd_over_time",
        ),
        (
            error("40002", "Invalid Arguments", "isv.invalid-signature", "无效签名"),
            False,
            PermanentDeliveryError,
            "isv.invalid-signature",
        ),
        (
            error("40001", "Missing Required Arguments", "isv.missing-app-id", "缺少appId参数"),
            False,
            PermanentDeliveryError,
            "isv.missing-app-id",
        ),
        (error("40003", "Insufficient Conditions"), True, PermanentDeliveryError, "40003"),
        (
            error("20001", "Insufficient Token Permissions", "aop.invalid-auth-token"),
            True,
            PermanentDeliveryError,
            "aop.invalid-auth-token",
        ),
    ],
)
async def test_error_codes_map_to_transient_or_permanent(
    http: Callable[[Handler], httpx.AsyncClient],
    app_key: RSAPrivateKey,
    alipay_key: RSAPrivateKey,
    result: dict[str, str],
    signed: bool,
    expected: type[DeliveryError],
    code: str,
) -> None:
    body = alipay_response(alipay_key if signed else None, result)
    client = make_client(http(Gateway(lambda _: httpx.Response(200, content=body))), app_key, alipay_key)

    with pytest.raises(expected) as raised:
        await client.send_text(to_user_id="u", text="t")

    assert raised.value.code == code
    assert result["msg"] in raised.value.reason


@pytest.mark.parametrize(
    ("answer", "code"),
    [
        pytest.param(lambda k: httpx.Response(502, text="Bad Gateway"), "http_502", id="http_502"),
        pytest.param(lambda k: httpx.Response(429), "http_429", id="http_429"),
        pytest.param(lambda k: httpx.Response(200, text="<html>维护中</html>"), "unreadable_response", id="html-page"),
        pytest.param(lambda k: httpx.Response(200, json={"unexpected": 1}), "unreadable_response", id="no-member"),
    ],
)
async def test_outages_are_transient(
    http: Callable[[Handler], httpx.AsyncClient],
    app_key: RSAPrivateKey,
    alipay_key: RSAPrivateKey,
    answer: Callable[[RSAPrivateKey], httpx.Response],
    code: str,
) -> None:
    client = make_client(http(Gateway(lambda _: answer(alipay_key))), app_key, alipay_key)
    with pytest.raises(TransientDeliveryError) as raised:
        await client.send_text(to_user_id="u", text="t")
    assert raised.value.code == code  # spelt as WeChat and Weibo spell it: operators read them side by side


async def test_a_network_failure_is_transient(
    http: Callable[[Handler], httpx.AsyncClient], app_key: RSAPrivateKey, alipay_key: RSAPrivateKey
) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    client = make_client(http(refuse), app_key, alipay_key)
    with pytest.raises(TransientDeliveryError) as raised:
        await client.send_text(to_user_id="u", text="t")
    assert raised.value.code == "network"  # as WeChat and Weibo say it


async def test_a_4xx_from_the_gateway_is_permanent(
    http: Callable[[Handler], httpx.AsyncClient], app_key: RSAPrivateKey, alipay_key: RSAPrivateKey
) -> None:
    client = make_client(http(Gateway(lambda _: httpx.Response(404))), app_key, alipay_key)
    with pytest.raises(PermanentDeliveryError) as raised:
        await client.send_text(to_user_id="u", text="t")
    assert raised.value.code == "http_404"


@pytest.mark.parametrize("signer", ["other-key", "unsigned"])
async def test_a_success_not_signed_by_alipay_is_not_trusted(
    http: Callable[[Handler], httpx.AsyncClient],
    app_key: RSAPrivateKey,
    alipay_key: RSAPrivateKey,
    signer: str,
) -> None:
    body = alipay_response(app_key if signer == "other-key" else None, SUCCESS)
    client = make_client(http(Gateway(lambda _: httpx.Response(200, content=body))), app_key, alipay_key)
    with pytest.raises(PermanentDeliveryError) as raised:
        await client.send_text(to_user_id="u", text="t")
    assert raised.value.code == "invalid_response_signature"


async def test_a_response_signed_before_json_escaping_slashes_verifies(
    http: Callable[[Handler], httpx.AsyncClient], app_key: RSAPrivateKey, alipay_key: RSAPrivateKey
) -> None:
    # Alipay signed ".../a", the body carries ".../\/a": its Java SDK accepts this, so must we.
    member = '{"code":"10000","msg":"Success","url":"https://x/a"}'
    signature = base64.b64encode(alipay_key.sign(member.encode(), padding.PKCS1v15(), hashes.SHA256())).decode()
    escaped = member.replace("/", "\\/")
    body = f'{{"{RESPONSE_KEY}":{escaped},"sign":"{signature}"}}'
    client = make_client(http(Gateway(lambda _: httpx.Response(200, text=body))), app_key, alipay_key)

    await client.send_text(to_user_id="u", text="t")


async def test_a_gateway_error_response_is_read_too(
    http: Callable[[Handler], httpx.AsyncClient], app_key: RSAPrivateKey, alipay_key: RSAPrivateKey
) -> None:
    body = {"error_response": error("40002", "Invalid Arguments", "isv.invalid-app-id", "无效的AppID参数")}
    client = make_client(http(Gateway(lambda _: httpx.Response(200, json=body))), app_key, alipay_key)
    with pytest.raises(PermanentDeliveryError) as raised:
        await client.send_text(to_user_id="u", text="t")
    assert raised.value.code == "isv.invalid-app-id"
    assert "无效的AppID参数" in raised.value.reason
