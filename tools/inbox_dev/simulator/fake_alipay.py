"""Alipay's open-platform gateway as the product calls it: `alipay.open.public.message.custom.send`.

It checks the request's RSA signature with the app's public key, and signs its answers with the platform key,
the way the SDKs expect: the signature covers the exact JSON text of the `…_response` member (alipay.md).
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey
from starlette.responses import Response

from ingest_alipay.errors import BadSignature
from ingest_alipay.signature import sign, signing_content, verify

from .server import FakePlatform, Handler, Received

GATEWAY_PATH = "/gateway.do"
SEND_METHOD = "alipay.open.public.message.custom.send"
RESPONSE_KEY = "alipay_open_public_message_custom_send_response"


@dataclass(frozen=True)
class AlipayError:
    code: str
    msg: str
    sub_code: str = ""
    sub_msg: str = ""

    def result(self) -> dict[str, str]:
        result = {"code": self.code, "msg": self.msg}
        if self.sub_code:
            result |= {"sub_code": self.sub_code, "sub_msg": self.sub_msg}
        return result


UNAVAILABLE = AlipayError("20000", "Service Currently Unavailable", "isp.unknow-error", "服务暂不可用")
OUTSIDE_WINDOW = AlipayError("40004", "Business Failed", "msg_sd_over_time", "超过消息发送时间窗口")
INVALID_SIGNATURE = AlipayError("40002", "Invalid Arguments", "isv.invalid-signature", "验签出错")
INVALID_APP_ID = AlipayError("40002", "Invalid Arguments", "isv.invalid-app-id", "无效的AppID参数")
INVALID_METHOD = AlipayError("40002", "Invalid Arguments", "isv.invalid-method", "不存在的方法名")
MISSING_ARGUMENT = AlipayError("40001", "Missing Required Arguments", "isv.missing-biz-content", "缺少业务参数")


def _params(body: bytes) -> dict[str, str]:
    # The percent-encoded bytes are in the request's own charset; its name is ASCII, so read it first.
    charset = dict(parse_qsl(body.decode("ascii"), encoding="latin-1")).get("charset") or "utf-8"
    return dict(parse_qsl(body.decode("ascii"), keep_blank_values=True, encoding=charset))


class FakeAlipay(FakePlatform):
    name = "alipay"

    def __init__(self, *, platform_key: RSAPrivateKey, app_keys: Mapping[str, RSAPublicKey]) -> None:
        """`platform_key` signs answers (its public half is each account's alipay_public_key); `app_keys` maps
        app_id → the app public key that checks the requests."""
        super().__init__()
        self.platform_key = platform_key
        self.app_keys = dict(app_keys)
        self._next_errors: deque[AlipayError] = deque()
        self._user_errors: dict[str, AlipayError] = {}
        self._delivered: list[dict[str, Any]] = []

    def fail_next(self, error: AlipayError, times: int = 1) -> None:
        """The next `times` correctly signed sends answer `error` (UNAVAILABLE is transient)."""
        with self.lock:
            self._next_errors.extend([error] * times)

    def fail_for(self, to_user_id: str, error: AlipayError | None) -> None:
        with self.lock:
            if error is None:
                self._user_errors.pop(to_user_id, None)
            else:
                self._user_errors[to_user_id] = error

    @property
    def delivered(self) -> list[dict[str, Any]]:
        """Accepted messages: the parsed biz_content plus the app_id."""
        with self.lock:
            return list(self._delivered)

    def routes(self) -> dict[tuple[str, str], Handler]:
        return {("POST", GATEWAY_PATH): self._gateway}

    def _answer(self, result: dict[str, str], *, charset: str, signed: bool, member: str = RESPONSE_KEY) -> Response:
        text = json.dumps(result, ensure_ascii=False, separators=(",", ":"))
        document = f'{{"{member}":{text}'
        if signed:
            document += f',"sign":"{sign(text, self.platform_key, sign_type="RSA2", charset=charset)}"'
        return Response((document + "}").encode(charset), media_type=f"application/json;charset={charset}")

    async def _gateway(self, request: Received) -> Response:
        try:
            params = _params(request.body)
        except (UnicodeDecodeError, LookupError, ValueError):
            return self._answer(MISSING_ARGUMENT.result(), charset="utf-8", signed=False, member="error_response")
        charset = params.get("charset") or "utf-8"
        if params.get("method") != SEND_METHOD:
            return self._answer(INVALID_METHOD.result(), charset=charset, signed=False, member="error_response")
        app_key = self.app_keys.get(params.get("app_id", ""))
        if app_key is None:
            return self._answer(INVALID_APP_ID.result(), charset=charset, signed=False)
        try:
            # The same check Alipay makes: every non-empty parameter but sign, sorted, in the request's charset.
            verify(
                signing_content(params, exclude_sign_type=False),
                params.get("sign", ""),
                app_key,
                sign_type=params.get("sign_type") or "RSA2",
                charset=charset,
            )
        except BadSignature:
            # Alipay cannot tell who sent a request it cannot verify, so this answer comes unsigned.
            return self._answer(INVALID_SIGNATURE.result(), charset=charset, signed=False)
        try:
            biz = json.loads(params.get("biz_content", ""))
        except ValueError:
            biz = None
        if not isinstance(biz, dict) or not biz.get("to_user_id") or not biz.get("msg_type"):
            return self._answer(MISSING_ARGUMENT.result(), charset=charset, signed=True)
        with self.lock:
            scripted = self._next_errors.popleft() if self._next_errors else self._user_errors.get(biz["to_user_id"])
            if scripted is None:
                self._delivered.append({**biz, "app_id": params["app_id"]})
        if scripted is not None:
            return self._answer(scripted.result(), charset=charset, signed=True)
        return self._answer({"code": "10000", "msg": "Success"}, charset=charset, signed=True)
