"""Customer-service replies through Weibo's `messages/reply.json`; errors map to errors.DeliveryError.

No retries here: the reply sender decides, using Transient vs Permanent.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from shared.contracts.v1 import MAX_REPLY_CHARS, Channel

from .errors import AccountCredentialsError, DeliveryError, PermanentDeliveryError, TransientDeliveryError

DEFAULT_API_BASE = "https://m.api.weibo.com/2"
MAX_TEXT_CHARS = MAX_REPLY_CHARS[Channel.WEIBO]  # weibo.md: text ≤ 300 Chinese characters

# weibo.md: auth errors mean "account credentials need attention", never retryable.
# 21325 invalid_grant, 21327 expired_token (weibo.md); 21301 auth failed, 21314–21317 token used/expired/
# revoked/rejected, 21319 accessor revoked, 21332 invalid_access_token (Weibo's general Error_code table, not
# confirmed for reply.json).
CREDENTIAL_ERROR_CODES = frozenset({"21301", "21314", "21315", "21316", "21317", "21319", "21325", "21327", "21332"})
# Not in weibo.md; from Weibo's general Error_code table: 10001 system error, 10002 service unavailable,
# 10003 remote service error, 10009 system busy, 10011 RPC error, 10022–10024 IP/user rate limits.
TRANSIENT_ERROR_CODES = frozenset({"10001", "10002", "10003", "10009", "10011", "10022", "10023", "10024"})


class WeiboClient:
    """One per process, around the long-lived `httpx.AsyncClient` the service opens in its lifespan."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        api_base: str = DEFAULT_API_BASE,
        timeout: httpx.Timeout | float = 10.0,
        max_text_chars: int = MAX_TEXT_CHARS,
    ) -> None:
        self._http = http
        self._reply_url = f"{api_base.rstrip('/')}/messages/reply.json"
        # Per request, so the deadline holds whatever the injected client was built with.
        self._timeout = timeout
        self._max_text_chars = max_text_chars

    async def send_text(self, *, access_token: str, receiver_id: str, text: str, save_sender_box: bool = True) -> None:
        if len(text) > self._max_text_chars:
            # Refused before the call: the platform would refuse it too, and the caller must split or shorten.
            raise PermanentDeliveryError("text_too_long", f"{len(text)} characters, at most {self._max_text_chars}")
        await self._reply(
            access_token=access_token,
            receiver_id=receiver_id,
            msg_type="text",
            data={"text": text},
            save_sender_box=save_sender_box,
        )

    async def _reply(
        self,
        *,
        access_token: str,
        receiver_id: str,
        msg_type: str,
        data: dict[str, Any],
        save_sender_box: bool,
    ) -> None:
        # The token travels in the form body, not the URL, so it stays out of access logs.
        form = {
            "access_token": access_token,
            "type": msg_type,
            # JSON as one form field; httpx URL-encodes it exactly once with the rest of the form.
            "data": json.dumps(data, ensure_ascii=False, separators=(",", ":")),
            "receiver_id": receiver_id,
            "save_sender_box": "1" if save_sender_box else "0",
        }
        try:
            response = await self._http.post(self._reply_url, data=form, timeout=self._timeout)
        except httpx.TimeoutException as exc:
            raise TransientDeliveryError("timeout", f"{type(exc).__name__} calling messages/reply.json") from exc
        except httpx.TransportError as exc:
            raise TransientDeliveryError("network", f"{type(exc).__name__}: {exc}") from exc
        _raise_for_error(response)


def _raise_for_error(response: httpx.Response) -> None:
    """Weibo errors are `{"error", "error_code", "request"}`, maybe with a 2xx status: the code decides."""
    try:
        body = response.json()
    except ValueError:
        body = None
    status = response.status_code
    transient_status = status >= 500 or status == 429
    if isinstance(body, dict) and body.get("error_code") not in (None, "", 0, "0"):
        code, reason = str(body["error_code"]), str(body.get("error") or "")
        error: type[DeliveryError]
        if code in CREDENTIAL_ERROR_CODES:
            error = AccountCredentialsError
        elif code in TRANSIENT_ERROR_CODES or transient_status:
            error = TransientDeliveryError
        else:
            error = PermanentDeliveryError
        raise error(code, reason)
    if response.is_success:
        if not isinstance(body, dict):
            # A proxy's error page, say: not Weibo's answer. The message may or may not have gone out; retrying
            # is the lesser harm than recording it delivered (as the WeChat client does).
            raise TransientDeliveryError("unreadable_response", "messages/reply.json did not answer with JSON")
        return
    reason = response.reason_phrase or response.text[:200]
    if transient_status:
        raise TransientDeliveryError(f"http_{status}", reason)
    if status == 401:
        raise AccountCredentialsError(f"http_{status}", reason)
    raise PermanentDeliveryError(f"http_{status}", reason)
