"""message/custom/send answers → what the reply sender is told (wechat.md's table), on a MockTransport."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from ingest_wechat.client import WeChatClient
from ingest_wechat.errors import (
    AccountCredentialsError,
    DeliveryError,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from ingest_wechat.token import AccessTokens
from shared.accounts import Account
from shared.contracts.v1 import Channel

ACCOUNT = Account(id="city", channel=Channel.WECHAT, name="城市服务", token="t", app_id="wxapp", app_secret="s")
SendAnswer = Callable[[httpx.Request], httpx.Response]


async def send(answer: SendAnswer, text: str = "您好") -> list[httpx.Request]:
    seen: list[httpx.Request] = []
    issued = iter(range(1, 100))

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/cgi-bin/token":
            return httpx.Response(200, json={"access_token": f"T{next(issued)}", "expires_in": 7200})
        seen.append(request)
        return answer(request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        client = WeChatClient(http, AccessTokens(http))
        await client.send_text(ACCOUNT, openid="oCitizen", text=text)
    return seen


def errcode(code: int, errmsg: str = "msg") -> SendAnswer:
    return lambda request: httpx.Response(200, json={"errcode": code, "errmsg": errmsg})


async def test_success_posts_utf8_json_to_wechats_host() -> None:
    [request] = await send(errcode(0, "ok"), "已受理")
    assert str(request.url) == "https://api.weixin.qq.com/cgi-bin/message/custom/send?access_token=T1"
    assert request.content == '{"touser":"oCitizen","msgtype":"text","text":{"content":"已受理"}}'.encode()


@pytest.mark.parametrize(
    ("code", "error", "words"),
    [
        (-1, TransientDeliveryError, "busy"),
        (45009, TransientDeliveryError, "quota"),
        (45011, TransientDeliveryError, "per-minute"),
        (40003, PermanentDeliveryError, "OpenID"),
        (43004, PermanentDeliveryError, "no longer follows"),
        (45002, PermanentDeliveryError, "too long"),
        (45015, PermanentDeliveryError, "48 hours"),
        (45047, PermanentDeliveryError, "at most 5 replies"),
        (48002, PermanentDeliveryError, "blocked"),
        (41001, AccountCredentialsError, "credentials"),
        (40008, PermanentDeliveryError, "refused the message"),
    ],
)
async def test_errcodes_map_to_transient_or_permanent_with_a_reason(
    code: int, error: type[DeliveryError], words: str
) -> None:
    with pytest.raises(error) as caught:
        await send(errcode(code, "platform says"))
    assert type(caught.value) is error
    assert caught.value.code == str(code)
    assert words in caught.value.reason and "platform says" in caught.value.reason


@pytest.mark.parametrize("code", [40001, 40014, 42001])
async def test_a_refused_token_is_refreshed_and_the_message_sent_once_more(code: int) -> None:
    answers = iter([errcode(code), errcode(0, "ok")])
    seen = await send(lambda request: next(answers)(request))
    assert [r.url.params["access_token"] for r in seen] == ["T1", "T2"]


async def test_a_token_refused_twice_is_transient() -> None:
    with pytest.raises(TransientDeliveryError) as caught:
        await send(errcode(40001))
    assert caught.value.code == "40001" and "freshly fetched" in caught.value.reason


@pytest.mark.parametrize(
    ("response", "error", "code"),
    [
        (httpx.Response(502, text="Bad Gateway"), TransientDeliveryError, "http_502"),
        (httpx.Response(429), TransientDeliveryError, "http_429"),
        (httpx.Response(404), PermanentDeliveryError, "http_404"),
        (httpx.Response(200, text="<html>维护中</html>"), TransientDeliveryError, "unreadable_response"),
    ],
)
async def test_http_failures(response: httpx.Response, error: type[DeliveryError], code: str) -> None:
    with pytest.raises(error) as caught:
        await send(lambda request: response)
    assert caught.value.code == code


async def test_a_timeout_is_transient_and_keeps_the_token_out_of_the_reason() -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout(f"timed out reading {request.url}", request=request)

    with pytest.raises(TransientDeliveryError) as caught:
        await send(slow)
    assert caught.value.code == "timeout" and "T1" not in str(caught.value)


async def test_an_image_message_carries_the_media_id() -> None:
    seen: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/cgi-bin/token":
            return httpx.Response(200, json={"access_token": "T", "expires_in": 7200})
        seen.append(request.content)
        return httpx.Response(200, json={"errcode": 0, "errmsg": "ok"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        await WeChatClient(http, AccessTokens(http)).send_image(ACCOUNT, openid="oC", media_id="M1")
    assert [json.loads(b) for b in seen] == [{"touser": "oC", "msgtype": "image", "image": {"media_id": "M1"}}]
