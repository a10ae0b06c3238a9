"""Access tokens: cached per account, renewed early, one refresh at a time (a new token retires the old one)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from inbox_dev.simulator.fake_wechat import FakeWeChat
from ingest_wechat.errors import AccountCredentialsError, TransientDeliveryError
from ingest_wechat.token import AccessTokens
from shared.accounts import Account
from shared.contracts.v1 import Channel

APP_ID, SECRET = "wxtoken000000001", "token-secret"


@pytest.fixture
def fake() -> Iterator[FakeWeChat]:
    with FakeWeChat({APP_ID: SECRET}) as fake:
        fake.delay_s = 0.05  # long enough for concurrent callers to overlap
        yield fake


@pytest.fixture
def account(fake: FakeWeChat) -> Account:
    return Account(
        id="city",
        channel=Channel.WECHAT,
        name="城市服务",
        token="t",
        app_id=APP_ID,
        app_secret=SECRET,
        api_base=fake.url,
    )


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5.0, trust_env=False) as client:
        yield client


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_concurrent_callers_share_one_fetch(fake: FakeWeChat, account: Account, http: httpx.AsyncClient) -> None:
    tokens = AccessTokens(http)
    values = await asyncio.gather(*(tokens.get(account) for _ in range(20)))

    assert len(set(values)) == 1
    assert len(fake.token_requests) == 1
    assert await tokens.get(account) == values[0]  # cached
    assert len(fake.token_requests) == 1


async def test_a_token_is_renewed_before_it_expires(
    fake: FakeWeChat, account: Account, http: httpx.AsyncClient
) -> None:
    clock = Clock()
    tokens = AccessTokens(http, refresh_margin_s=300, clock=clock)
    first = await tokens.get(account)
    clock.now += 7200 - 301  # just before the margin
    assert await tokens.get(account) == first
    clock.now += 2  # inside the last 300 s of the token's 7200
    second = await tokens.get(account)

    assert second != first
    assert len(fake.token_requests) == 2


async def test_a_refused_token_is_refreshed_once_for_all_callers(
    fake: FakeWeChat, account: Account, http: httpx.AsyncClient
) -> None:
    tokens = AccessTokens(http)
    stale = await tokens.get(account)
    fresh = await asyncio.gather(*(tokens.refresh(account, stale=stale) for _ in range(10)))

    assert len(set(fresh)) == 1 and fresh[0] != stale
    assert len(fake.token_requests) == 2  # the first, and one refresh for the ten callers


async def test_accounts_have_their_own_tokens(fake: FakeWeChat, account: Account, http: httpx.AsyncClient) -> None:
    fake.apps["wxother0000000002"] = "other-secret"
    other = account.model_copy(update={"id": "other", "app_id": "wxother0000000002", "app_secret": "other-secret"})
    tokens = AccessTokens(http)
    a, b = await asyncio.gather(tokens.get(account), tokens.get(other))

    assert a != b
    assert sorted(r.query["appid"] for r in fake.token_requests) == sorted([APP_ID, "wxother0000000002"])


async def test_two_entries_for_one_app_share_its_token(
    fake: FakeWeChat, account: Account, http: httpx.AsyncClient
) -> None:
    # Fetching a second token would end the first one's life early: WeChat keeps one per app.
    twin = account.model_copy(update={"id": "city-safe"})
    tokens = AccessTokens(http)
    assert await tokens.get(account) == await tokens.get(twin)
    assert len(fake.token_requests) == 1


async def test_a_wrong_secret_is_a_credentials_error(
    fake: FakeWeChat, account: Account, http: httpx.AsyncClient
) -> None:
    wrong = account.model_copy(update={"app_secret": "wrong"})
    with pytest.raises(AccountCredentialsError) as caught:
        await AccessTokens(http).get(wrong)
    assert caught.value.code == "40125"
    assert "wrong" not in str(caught.value)  # the secret stays out of reasons and logs


async def test_an_account_without_a_secret_cannot_send(account: Account, http: httpx.AsyncClient) -> None:
    with pytest.raises(AccountCredentialsError) as caught:
        await AccessTokens(http).get(account.model_copy(update={"app_secret": None}))
    assert caught.value.code == "no_app_secret"


async def test_an_unreachable_token_endpoint_is_transient_and_hides_the_secret(account: Account) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"cannot reach {request.url}", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(refuse)) as http:
        with pytest.raises(TransientDeliveryError) as caught:
            await AccessTokens(http).get(account)
    assert caught.value.code == "network"
    assert SECRET not in str(caught.value) and caught.value.__cause__ is None


async def test_a_token_still_valid_is_used_while_its_early_renewal_fails(account: Account) -> None:
    busy = {"errcode": -1, "errmsg": "system busy"}
    answers = iter([{"access_token": "first", "expires_in": 7200}, busy, busy])
    clock = Clock()
    async with httpx.AsyncClient(
        transport=httpx.MockTransport(lambda r: httpx.Response(200, json=next(answers)))
    ) as http:
        tokens = AccessTokens(http, refresh_margin_s=300, clock=clock)
        assert await tokens.get(account) == "first"
        clock.now += 7200 - 100  # inside the renewal margin, 100 s before the token expires
        assert await tokens.get(account) == "first"  # the busy endpoint costs no reply
        clock.now += 200  # expired now: nothing to fall back on
        with pytest.raises(TransientDeliveryError):
            await tokens.get(account)


@pytest.mark.parametrize("errcode", [-1, 45009])
async def test_a_busy_token_endpoint_is_transient(account: Account, errcode: int) -> None:
    async with httpx.AsyncClient(
        transport=httpx.MockTransport(lambda r: httpx.Response(200, json={"errcode": errcode, "errmsg": "busy"}))
    ) as http:
        with pytest.raises(TransientDeliveryError) as caught:
            await AccessTokens(http).get(account)
    assert caught.value.code == str(errcode)
