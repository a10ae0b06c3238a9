import json
from collections.abc import Callable
from urllib.parse import parse_qs

import httpx
import pytest

from ingest_weibo.client import WeiboClient
from ingest_weibo.errors import (
    AccountCredentialsError,
    DeliveryError,
    PermanentDeliveryError,
    TransientDeliveryError,
)

TOKEN = "2.00abcDEF_token"
CITIZEN = "2489518277"
REPLY = "您好，已转交武昌区城管部门处理，工单号 WH-20120716-0042。"

Handler = Callable[[httpx.Request], httpx.Response]


def make_client(handler: Handler, **kwargs: object) -> tuple[WeiboClient, httpx.AsyncClient]:
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return WeiboClient(http, **kwargs), http  # type: ignore[arg-type]


async def send(handler: Handler, text: str = REPLY, **kwargs: object) -> None:
    client, http = make_client(handler, **kwargs)
    async with http:
        await client.send_text(access_token=TOKEN, receiver_id=CITIZEN, text=text)


async def test_send_text_posts_the_form_weibo_expects() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"result": True})

    await send(handler)

    [request] = seen
    assert request.method == "POST"
    assert str(request.url) == "https://m.api.weibo.com/2/messages/reply.json"  # token not in the URL
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    form = parse_qs(request.content.decode(), strict_parsing=True)
    assert form == {
        "access_token": [TOKEN],
        "type": ["text"],
        "data": ['{"text":"' + REPLY + '"}'],
        "receiver_id": [CITIZEN],
        "save_sender_box": ["1"],
    }
    # Encoded once: one round of URL-decoding yields the JSON itself.
    assert json.loads(form["data"][0]) == {"text": REPLY}


async def test_api_base_and_sender_box_are_configurable() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={})

    client, http = make_client(handler, api_base="http://127.0.0.1:9000/weibo/2/")
    async with http:
        await client.send_text(access_token=TOKEN, receiver_id=CITIZEN, text=REPLY, save_sender_box=False)

    assert str(seen[0].url) == "http://127.0.0.1:9000/weibo/2/messages/reply.json"
    assert parse_qs(seen[0].content.decode())["save_sender_box"] == ["0"]


async def test_text_over_300_characters_is_refused_without_calling_weibo() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise AssertionError("must not be called")

    with pytest.raises(PermanentDeliveryError) as caught:
        await send(handler, text="路" * 301)
    assert caught.value.code == "text_too_long"


async def test_300_characters_are_sent() -> None:
    await send(lambda request: httpx.Response(200, json={}), text="路" * 300)


@pytest.mark.parametrize(
    ("status", "body", "error", "code"),
    [
        (
            400,
            {"error": "expired_token", "error_code": 21327, "request": "/2/messages/reply.json"},
            AccountCredentialsError,
            "21327",
        ),
        (
            400,
            {"error": "invalid_grant", "error_code": "21325", "request": "/2/messages/reply.json"},
            AccountCredentialsError,
            "21325",
        ),
        (
            401,
            {"error": "invalid_access_token", "error_code": 21332, "request": "/2/messages/reply.json"},
            AccountCredentialsError,
            "21332",
        ),
        (
            403,
            {"error": "User requests out of rate limit!", "error_code": 10023},
            TransientDeliveryError,
            "10023",
        ),
        (
            400,
            {"error": "IP requests out of rate limit!", "error_code": "10022"},
            TransientDeliveryError,
            "10022",
        ),
        (
            200,
            {"error": "Too many pending tasks, system is busy", "error_code": 10009},
            TransientDeliveryError,
            "10009",
        ),
        (400, {"error": "Invalid weibo user", "error_code": 10013}, PermanentDeliveryError, "10013"),
        (
            200,
            {"error": "Text too long, please input text less than 300 characters!", "error_code": 20013},
            PermanentDeliveryError,
            "20013",
        ),
        (502, {"error": "unknown", "error_code": 29999}, TransientDeliveryError, "29999"),
        (500, None, TransientDeliveryError, "http_500"),
        (503, "<html>Service Unavailable</html>", TransientDeliveryError, "http_503"),
        # A 200 that is not Weibo's JSON (a proxy's page) is no proof of delivery.
        (200, "<html>Please log in to the proxy</html>", TransientDeliveryError, "unreadable_response"),
        (429, None, TransientDeliveryError, "http_429"),
        (401, None, AccountCredentialsError, "http_401"),
        (404, "not found", PermanentDeliveryError, "http_404"),
        (400, {"error": "", "error_code": 0}, PermanentDeliveryError, "http_400"),
    ],
)
async def test_platform_errors_map_to_the_hierarchy(
    status: int, body: object, error: type[DeliveryError], code: str
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if isinstance(body, dict):
            return httpx.Response(status, json=body)
        return httpx.Response(status, text=str(body or ""))

    with pytest.raises(error) as caught:
        await send(handler)
    assert type(caught.value) is error
    assert caught.value.code == code
    if isinstance(body, dict) and body.get("error"):
        assert caught.value.reason == body["error"]


@pytest.mark.parametrize(
    ("exc", "code"),
    [(httpx.ReadTimeout("timed out"), "timeout"), (httpx.ConnectError("refused"), "network")],
)
async def test_network_failures_are_transient(exc: httpx.TransportError, code: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    with pytest.raises(TransientDeliveryError) as caught:
        await send(handler)
    assert caught.value.code == code
    assert TOKEN not in str(caught.value)


def test_credentials_errors_are_permanent_and_readable() -> None:
    error = AccountCredentialsError("21327", "expired_token")
    assert isinstance(error, PermanentDeliveryError)
    assert str(error) == "21327: expired_token"
