"""Customer-service messages (客服消息) through WeChat's `message/custom/send`, text and image.

No retries here beyond the one the token needs: a 40001/40014/42001 answer means the token was refused, the
message was not sent, so the client renews the token and tries once more. Every other outcome goes back to the
reply sender as Transient or Permanent (errors.py), which decides about retrying.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from shared.accounts import Account

from .errors import AccountCredentialsError, PermanentDeliveryError, TransientDeliveryError
from .token import AccessTokens, api_base

TOKEN_ERRORS = frozenset({"40001", "40014", "42001"})  # invalid credential, invalid token, token expired

# wechat.md's table, in words an operator can act on.
TRANSIENT_ERRORS = {
    "-1": "WeChat is busy",
    "45009": "the account reached WeChat's API call quota",
    "45011": "WeChat's per-minute API quota is used up",
}
PERMANENT_ERRORS = {
    "40003": "WeChat does not know this citizen's OpenID for this account",
    "43004": "the citizen no longer follows the account, so it cannot message them",
    "45002": "the reply is too long for WeChat: shorten it or split it into several replies",
    "45015": (
        "outside WeChat's reply window: the account may answer only within 48 hours of the citizen's last "
        "message; it can reply again once the citizen writes"
    ),
    "45047": (
        "the reply quota for this conversation is used up (at most 5 replies within 48 hours of the citizen's "
        "last message); it can reply again once the citizen writes"
    ),
    "48002": "the citizen has blocked messages from this account",
}


class WeChatClient:
    """One per process, around the service's long-lived `httpx.AsyncClient` and its token cache."""

    def __init__(
        self, http: httpx.AsyncClient, tokens: AccessTokens, *, timeout: httpx.Timeout | float | None = None
    ) -> None:
        self._http = http
        self._tokens = tokens
        self._timeout = timeout if timeout is not None else http.timeout

    async def send_text(self, account: Account, *, openid: str, text: str) -> None:
        await self._send(account, {"touser": openid, "msgtype": "text", "text": {"content": text}})

    async def send_image(self, account: Account, *, openid: str, media_id: str) -> None:
        await self._send(account, {"touser": openid, "msgtype": "image", "image": {"media_id": media_id}})

    async def _send(self, account: Account, message: dict[str, Any]) -> None:
        token = await self._tokens.get(account)
        code, errmsg = await self._post(account, token, message)
        if code in TOKEN_ERRORS:
            token = await self._tokens.refresh(account, stale=token)
            code, errmsg = await self._post(account, token, message)
            if code in TOKEN_ERRORS:
                # Usually another system fetched a token for the same app in between: the next attempt renews
                # again. If it keeps happening, only one system may own this app's tokens.
                raise TransientDeliveryError(
                    code,
                    f"WeChat refused a freshly fetched access token ({errmsg}); another system may be "
                    "fetching tokens for this app",
                )
        _raise_for(code, errmsg)

    async def _post(self, account: Account, token: str, message: dict[str, Any]) -> tuple[str, str]:
        # UTF-8 JSON, not \\u escapes: WeChat shows escaped Chinese to the citizen literally.
        body = json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode()
        try:
            response = await self._http.post(
                f"{api_base(account)}/cgi-bin/message/custom/send",
                params={"access_token": token},
                content=body,
                headers={"Content-Type": "application/json; charset=utf-8"},
                timeout=self._timeout,
            )
        except httpx.TimeoutException as exc:
            # The type only: the exception's text may carry the URL, and with it the access token.
            raise TransientDeliveryError("timeout", f"{type(exc).__name__} calling message/custom/send") from None
        except httpx.TransportError as exc:
            raise TransientDeliveryError("network", f"{type(exc).__name__} calling message/custom/send") from None
        status = response.status_code
        if status >= 500 or status == 429:
            raise TransientDeliveryError(f"http_{status}", response.reason_phrase or "WeChat is unavailable")
        if status != 200:
            raise PermanentDeliveryError(f"http_{status}", response.reason_phrase or "refused")
        try:
            result = response.json()
        except ValueError:
            result = None
        if not isinstance(result, dict):
            # A proxy's error page, say. The message may or may not have gone out; retrying is the lesser harm.
            raise TransientDeliveryError("unreadable_response", "message/custom/send did not answer with JSON")
        return str(result.get("errcode", 0)), str(result.get("errmsg", ""))


def _raise_for(code: str, errmsg: str) -> None:
    if code == "0":
        return
    detail = f"(WeChat {code}: {errmsg})" if errmsg else f"(WeChat {code})"
    if code in TRANSIENT_ERRORS:
        raise TransientDeliveryError(code, f"{TRANSIENT_ERRORS[code]} {detail}")
    if code in PERMANENT_ERRORS:
        raise PermanentDeliveryError(code, f"{PERMANENT_ERRORS[code]} {detail}")
    if code in {"40013", "40125", "40164", "41001"}:
        raise AccountCredentialsError(code, f"WeChat refused the account's credentials {detail}")
    raise PermanentDeliveryError(code, f"WeChat refused the message {detail}")
