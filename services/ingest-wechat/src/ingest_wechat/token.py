"""Access tokens for WeChat's API: one cached token per account, refreshed early, by one caller at a time.

Fetching a new token invalidates the previous one after a 5-minute overlap (wechat.md). Two refreshes racing
would expire each other's tokens, so per account one refresh runs at a time, and callers that waited for it
take the token it brought instead of fetching their own. A token is renewed `refresh_margin_s` before its
`expires_in` runs out, and on demand when the API says it is invalid or expired.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from shared.accounts import Account

from .errors import AccountCredentialsError, TransientDeliveryError

DEFAULT_API_BASE = "https://api.weixin.qq.com"
# Token endpoint errors worth retrying: system busy, API call quotas. Every other code means the app_id or
# app_secret (or the server's IP allow-list) needs fixing: 40001, 40013, 40125, 40164, 89503, …
_TRANSIENT_TOKEN_ERRORS = frozenset({"-1", "45009", "45011"})


def api_base(account: Account) -> str:
    """The account's `api_base` (a test double, a proxy) or WeChat's own host."""
    return (account.api_base or DEFAULT_API_BASE).rstrip("/")


@dataclass(frozen=True)
class _Token:
    value: str
    refresh_at: float  # on the monotonic clock


class AccessTokens:
    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        refresh_margin_s: float = 300.0,
        timeout: httpx.Timeout | float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http = http
        self._margin_s = refresh_margin_s
        self._timeout = timeout if timeout is not None else http.timeout
        self._clock = clock
        self._tokens: dict[tuple[str, str], _Token] = {}
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}

    @staticmethod
    def _key(account: Account) -> tuple[str, str]:
        # The token is the app's, not the accounts file entry's: two entries for one app (one per webhook path, say)
        # fetching their own would each invalidate the other's, as WeChat keeps one token per app.
        return api_base(account), account.app_id or f"account:{account.id}"

    async def get(self, account: Account) -> str:
        """A token that is not about to expire; fetched (once, for all waiting callers) when needed."""
        token = self._tokens.get(self._key(account))
        if token is not None and self._clock() < token.refresh_at:
            return token.value
        return await self._renew(account, stale=None)  # due for renewal, not refused: still usable meanwhile

    async def refresh(self, account: Account, *, stale: str) -> str:
        """A token other than `stale`, which the API refused; another caller may have renewed it already."""
        return await self._renew(account, stale=stale)

    async def _renew(self, account: Account, *, stale: str | None) -> str:
        key = self._key(account)
        async with self._locks.setdefault(key, asyncio.Lock()):
            current = self._tokens.get(key)
            if current is not None and current.value != stale and self._clock() < current.refresh_at:
                return current.value  # renewed while we waited for the lock
            try:
                token = await self._fetch(account)
            except TransientDeliveryError:
                # Renewing early, with the token still good for up to the margin: send with it, renew next time.
                if (
                    current is not None
                    and current.value != stale
                    and self._clock() < current.refresh_at + self._margin_s
                ):
                    return current.value
                raise
            self._tokens[key] = token
            return token.value

    async def _fetch(self, account: Account) -> _Token:
        if not account.app_id or not account.app_secret:
            raise AccountCredentialsError(
                "no_app_secret", f"WeChat account {account.id!r} needs app_id and app_secret to send replies"
            )
        params = {"grant_type": "client_credential", "appid": account.app_id, "secret": account.app_secret}
        started = self._clock()
        try:
            response = await self._http.get(f"{api_base(account)}/cgi-bin/token", params=params, timeout=self._timeout)
        except httpx.TimeoutException as exc:
            # Only the exception's type: its text could carry the URL, and with it the app secret.
            raise TransientDeliveryError("timeout", f"{type(exc).__name__} fetching an access token") from None
        except httpx.TransportError as exc:
            raise TransientDeliveryError("network", f"{type(exc).__name__} fetching an access token") from None
        if response.status_code >= 500 or response.status_code == 429:
            raise TransientDeliveryError(f"http_{response.status_code}", "the token endpoint is unavailable")
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise TransientDeliveryError("unreadable_response", "the token endpoint did not answer with JSON")
        value = body.get("access_token")
        if isinstance(value, str) and value:
            expires_in = _seconds(body.get("expires_in"), default=7200.0)
            # Early by the margin, but never later than half the lifetime (short-lived tokens in tests).
            lifetime = max(expires_in - self._margin_s, expires_in / 2)
            return _Token(value, started + lifetime)
        code, errmsg = str(body.get("errcode", "")), str(body.get("errmsg", ""))
        if code in _TRANSIENT_TOKEN_ERRORS:
            raise TransientDeliveryError(code, f"WeChat could not issue an access token now: {errmsg}")
        raise AccountCredentialsError(
            code or f"http_{response.status_code}",
            f"WeChat refused an access token for app_id {account.app_id}: {errmsg or 'no reason given'}; "
            "check the account's app_id, app_secret and the server's IP allow-list",
        )


def _seconds(value: object, *, default: float) -> float:
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return default
    return seconds if seconds > 0 else default
