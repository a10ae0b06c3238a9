"""Outbound calls to the Alipay open platform: `alipay.open.public.message.custom.send`.

One signed form POST per call, no retries: the caller decides from the exception type whether to retry.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode

import httpx
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey

from .errors import BadSignature, PermanentDeliveryError, TransientDeliveryError
from .signature import sign, signing_content, verify

DEFAULT_API_BASE = "https://openapi.alipay.com/gateway.do"
SEND_METHOD = "alipay.open.public.message.custom.send"

# Alipay reads timestamps as Beijing time; China has no daylight saving, so a fixed offset is exact
# and needs no tz database in the image.
_SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")

# The body's signed part is the raw JSON value of the `…_response` member (alipay-sdk-python-all).
# Success answers use the method's name (`alipay_open_…_send_response`), gateway errors `error_response`.
_RESPONSE_MEMBER = re.compile(r'"[a-z_]+_response"\s*:\s*(?=\{)')

_SUCCESS = "10000"
# 20000: service unavailable, "retry later" (isp.unknow-error, aop.unknow-error). isp.* sub codes come
# from Alipay's business systems being unavailable. Every other code needs a different request.
_TRANSIENT_CODES = {"20000"}
_TRANSIENT_SUB_CODE_PREFIX = "isp."


def _utcnow() -> datetime:
    return datetime.now(UTC)


class AlipayClient:
    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        app_id: str,
        private_key: RSAPrivateKey,
        alipay_public_key: RSAPublicKey,
        api_base: str = DEFAULT_API_BASE,
        sign_type: str = "RSA2",
        charset: str = "utf-8",
        chat: bool = True,
        timeout: float = 10.0,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        """`http` is the process's long-lived client; `chat` puts replies in the citizen's chat list."""
        self._http = http
        self._app_id = app_id
        self._private_key = private_key
        self._alipay_public_key = alipay_public_key
        self._api_base = api_base
        self._sign_type = sign_type
        self._charset = charset
        self._chat = chat
        self._timeout = timeout
        self._clock = clock

    def signed_params(self, method: str, biz_content: dict[str, Any]) -> dict[str, str]:
        """The common request parameters plus `sign`, ready to be form-encoded."""
        params = {
            "app_id": self._app_id,
            "method": method,
            "format": "JSON",
            "charset": self._charset,
            "sign_type": self._sign_type,
            "timestamp": self._clock().astimezone(_SHANGHAI).strftime("%Y-%m-%d %H:%M:%S"),
            "version": "1.0",
            "biz_content": json.dumps(biz_content, ensure_ascii=False, separators=(",", ":")),
        }
        content = signing_content(params, exclude_sign_type=False)
        params["sign"] = sign(content, self._private_key, sign_type=self._sign_type, charset=self._charset)
        return params

    async def send_text(self, *, to_user_id: str, text: str) -> None:
        biz: dict[str, Any] = {"to_user_id": to_user_id, "msg_type": "text", "text": {"content": text}}
        if self._chat:
            biz["chat"] = "1"
        await self._call(SEND_METHOD, biz)

    async def _call(self, method: str, biz_content: dict[str, Any]) -> dict[str, Any]:
        # An RSA signature costs about a millisecond of CPU: made on a worker thread, off the event loop.
        params = await asyncio.to_thread(self.signed_params, method, biz_content)
        body = urlencode(params, encoding=self._charset)
        headers = {"Content-Type": f"application/x-www-form-urlencoded;charset={self._charset}"}
        try:
            response = await self._http.post(
                self._api_base, content=body.encode("ascii"), headers=headers, timeout=self._timeout
            )
        except httpx.TimeoutException as exc:
            # A timeout may hide a delivered message; a retry then risks a duplicate, not a loss.
            raise TransientDeliveryError("timeout", f"{type(exc).__name__} calling {method}") from exc
        except httpx.TransportError as exc:  # the same codes as the other channels: operators read them side by side
            raise TransientDeliveryError("network", f"{type(exc).__name__}: {exc}") from exc
        if response.status_code == 429 or response.status_code >= 500:
            raise TransientDeliveryError(f"http_{response.status_code}", response.reason_phrase)
        if response.status_code != 200:
            raise PermanentDeliveryError(f"http_{response.status_code}", response.reason_phrase)
        result, signed, signature = self._read(response.content)
        code = str(result.get("code", ""))
        # As in Alipay's SDK: a success must carry a valid signature, an error only when it is signed
        # (answers to requests Alipay could not authenticate, e.g. isv.invalid-signature, come unsigned).
        if signature or code == _SUCCESS:
            self._check_signature(signed, signature)
        if code == _SUCCESS:
            return result
        sub_code = str(result.get("sub_code") or "")
        reason = " ".join(str(result.get(k) or "") for k in ("code", "msg", "sub_msg")).strip()
        error = TransientDeliveryError if _is_transient(code, sub_code) else PermanentDeliveryError
        raise error(sub_code or code or "unknown", reason or "no reason given")

    def _read(self, raw: bytes) -> tuple[dict[str, Any], str, str]:
        """The response member, its exact text (what Alipay signed) and the body's `sign`."""
        try:
            text = raw.decode(self._charset)
            document = json.loads(text)
            member = _RESPONSE_MEMBER.search(text)
            if not isinstance(document, dict) or member is None:
                raise ValueError("no *_response member")
            result, end = json.JSONDecoder().raw_decode(text, member.end())
            if not isinstance(result, dict):
                raise ValueError("the *_response member is not an object")
        except ValueError as exc:
            # Gateways and proxies answer outages with HTML pages; treat anything unreadable as one.
            raise TransientDeliveryError("unreadable_response", str(exc)[:200]) from exc
        return result, text[member.end() : end], str(document.get("sign") or "")

    def _check_signature(self, signed: str, signature: str) -> None:
        # Alipay's Java SDK retries with "\/" unescaped: some responses are signed before JSON escaping.
        for candidate in dict.fromkeys((signed, signed.replace("\\/", "/"))):
            try:
                verify(
                    candidate,
                    signature,
                    self._alipay_public_key,
                    sign_type=self._sign_type,
                    charset=self._charset,
                )
                return
            except BadSignature:
                continue
        raise PermanentDeliveryError(
            "invalid_response_signature", "the response is not signed by the configured Alipay public key"
        )


def _is_transient(code: str, sub_code: str) -> bool:
    return code in _TRANSIENT_CODES or sub_code.lower().startswith(_TRANSIENT_SUB_CODE_PREFIX)
