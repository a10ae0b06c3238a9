"""WeChat's API as the product calls it: the access-token endpoint and customer-service messages.

It behaves like the platform where the product depends on it (wechat.md): tokens expire, a new token leaves the
previous ones valid for a short overlap only, refused tokens answer 40001/42001, and the knobs below script the
errors the product must handle (rate limit 45009, window 45015, …).
"""

from __future__ import annotations

import itertools
import json
import secrets
import time
from collections import deque
from typing import Any

from starlette.responses import Response

from .server import FakePlatform, Handler, Received, json_response

TOKEN_PATH = "/cgi-bin/token"
SEND_PATH = "/cgi-bin/message/custom/send"

ERRMSG = {
    -1: "system error",
    40001: "invalid credential, access_token is invalid or not latest",
    40003: "invalid openid",
    40008: "invalid message type",
    40013: "invalid appid",
    40014: "invalid access_token",
    40125: "invalid appsecret",
    41001: "access_token missing",
    42001: "access_token expired",
    43004: "require subscribe",
    45002: "content size out of limit",
    45009: "reach max api daily quota limit",
    45011: "api minute-quota reach limit, must slower, retry next minute",
    45015: "response out of time limit or subscription is canceled",
    45047: "out of response count limit",
    47001: "data format error",
    48002: "api blocked by user",
}


def error(code: int) -> Response:
    return json_response({"errcode": code, "errmsg": ERRMSG.get(code, "error")})


class FakeWeChat(FakePlatform):
    name = "wechat"

    def __init__(self, apps: dict[str, str], *, token_ttl_s: int = 7200, overlap_s: float = 300.0) -> None:
        """`apps`: app_id → app_secret of the accounts it knows."""
        super().__init__()
        self.apps = dict(apps)
        self.token_ttl_s = token_ttl_s
        self.overlap_s = overlap_s
        self._tokens: dict[str, tuple[str, float]] = {}  # token → (app_id, expires at, monotonic)
        self._serial = itertools.count(1)
        self._next_errors: deque[int] = deque()
        self._user_errors: dict[str, int] = {}
        self._delivered: list[dict[str, Any]] = []

    # Knobs -----------------------------------------------------------------------------------------------
    def fail_next(self, errcode: int, times: int = 1) -> None:
        """The next `times` sends that pass the token check answer `errcode` (e.g. 45009 rate limit, -1 busy)."""
        with self.lock:
            self._next_errors.extend([errcode] * times)

    def fail_for(self, openid: str, errcode: int | None) -> None:
        """Every send to `openid` answers `errcode` (45015 window closed, 43004 unfollowed, 48002 blocked…)."""
        with self.lock:
            if errcode is None:
                self._user_errors.pop(openid, None)
            else:
                self._user_errors[openid] = errcode

    def expire_tokens(self) -> None:
        """Every token issued so far has expired: the next send with one answers 42001."""
        with self.lock:
            self._tokens = {t: (app, 0.0) for t, (app, _) in self._tokens.items()}

    @property
    def delivered(self) -> list[dict[str, Any]]:
        """The messages it accepted, each with the `app_id` whose token sent it."""
        with self.lock:
            return list(self._delivered)

    @property
    def token_requests(self) -> list[Received]:
        return self.received_at(TOKEN_PATH)

    @property
    def send_requests(self) -> list[Received]:
        return self.received_at(SEND_PATH)

    # The API ---------------------------------------------------------------------------------------------
    def routes(self) -> dict[tuple[str, str], Handler]:
        return {("GET", TOKEN_PATH): self._token, ("POST", SEND_PATH): self._send}

    async def _token(self, request: Received) -> Response:
        query = request.query
        if query.get("grant_type") != "client_credential":
            return json_response({"errcode": 40002, "errmsg": "invalid grant_type"})
        app_id = query.get("appid", "")
        if app_id not in self.apps:
            return error(40013)
        if query.get("secret") != self.apps[app_id]:
            return error(40125)
        with self.lock:
            now = time.monotonic()
            # A new token leaves this app's earlier ones valid for the overlap only (wechat.md).
            for token, (app, expires) in list(self._tokens.items()):
                if app == app_id:
                    self._tokens[token] = (app, min(expires, now + self.overlap_s))
            token = f"FAKE{next(self._serial)}_{secrets.token_hex(12)}"
            self._tokens[token] = (app_id, now + self.token_ttl_s)
        return json_response({"access_token": token, "expires_in": self.token_ttl_s})

    async def _send(self, request: Received) -> Response:
        token = request.query.get("access_token")
        if not token:
            return error(41001)
        with self.lock:
            entry = self._tokens.get(token)
        if entry is None:
            return error(40001)
        app_id, expires = entry
        if time.monotonic() >= expires:
            return error(42001)
        try:
            message = json.loads(request.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return error(47001)
        if not isinstance(message, dict) or not isinstance(message.get("touser"), str):
            return error(47001)
        msg_type = message.get("msgtype")
        if msg_type == "text":
            content = message.get("text", {}).get("content") if isinstance(message.get("text"), dict) else None
            if not isinstance(content, str) or not content:
                return error(47001)
        elif msg_type in {"image", "voice"}:
            media = message.get(msg_type)
            if not isinstance(media, dict) or not media.get("media_id"):
                return error(47001)
        else:
            return error(40008)
        with self.lock:
            scripted = self._next_errors.popleft() if self._next_errors else self._user_errors.get(message["touser"])
            if scripted is None:
                self._delivered.append({**message, "app_id": app_id})
        if scripted is not None:
            return error(scripted)
        return json_response({"errcode": 0, "errmsg": "ok"})
