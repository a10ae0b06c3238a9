"""Weibo's `messages/reply.json` as the product calls it (weibo.md): a form with the access token, the reply as
JSON in `data`, the citizen's int64 id; errors as `{"error", "error_code", "request"}`."""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from starlette.responses import Response

from .server import FakePlatform, Handler, Received, json_response
from .weibo import created_at

REPLY_PATH = "/2/messages/reply.json"

ERRORS: dict[int, tuple[int, str]] = {  # error_code → (HTTP status, error)
    10001: (500, "System error"),
    10008: (400, "Param error, see doc for more info"),
    10009: (200, "Too many pending tasks, system is busy"),
    10013: (400, "Invalid weibo user"),
    10022: (403, "IP requests out of rate limit!"),
    10023: (403, "User requests out of rate limit!"),
    20013: (400, "Text too long, please input text less than 300 characters!"),
    21325: (400, "invalid_grant"),
    21327: (400, "expired_token"),
}


def error(code: int) -> Response:
    status, message = ERRORS.get(code, (400, "error"))
    return json_response({"error": message, "error_code": code, "request": REPLY_PATH}, status)


class FakeWeibo(FakePlatform):
    name = "weibo"

    def __init__(self, access_tokens: Iterable[str], *, sender_id: int = 1902538057) -> None:
        """`access_tokens`: the accounts' tokens it accepts; `sender_id` is the account's uid in its answers."""
        super().__init__()
        self.access_tokens = set(access_tokens)
        self.sender_id = sender_id
        self._next_errors: deque[int] = deque()
        self._user_errors: dict[str, int] = {}
        self._delivered: list[dict[str, Any]] = []

    def fail_next(self, error_code: int, times: int = 1) -> None:
        """The next `times` replies with a valid token answer `error_code` (10023 rate limit, 10009 busy…)."""
        with self.lock:
            self._next_errors.extend([error_code] * times)

    def fail_for(self, receiver_id: str, error_code: int | None) -> None:
        with self.lock:
            if error_code is None:
                self._user_errors.pop(receiver_id, None)
            else:
                self._user_errors[receiver_id] = error_code

    @property
    def delivered(self) -> list[dict[str, Any]]:
        """Accepted replies: the form's fields with `data` parsed."""
        with self.lock:
            return list(self._delivered)

    def routes(self) -> dict[tuple[str, str], Handler]:
        return {("POST", REPLY_PATH): self._reply}

    async def _reply(self, request: Received) -> Response:
        try:
            form = request.form()
        except (UnicodeDecodeError, ValueError):
            return error(10008)
        if form.get("access_token") not in self.access_tokens:
            return error(21327)
        receiver = form.get("receiver_id", "")
        if form.get("type") not in {"text", "articles", "position"} or not receiver.isdigit():
            return error(10008)
        try:
            data = json.loads(form.get("data", ""))
        except ValueError:
            return error(10008)
        if form["type"] == "text":
            if not isinstance(data, dict) or not isinstance(data.get("text"), str) or not data["text"]:
                return error(10008)
            if len(data["text"]) > 300:
                return error(20013)
        with self.lock:
            scripted = self._next_errors.popleft() if self._next_errors else self._user_errors.get(receiver)
            if scripted is None:
                self._delivered.append({**form, "data": data})
                serial = len(self._delivered)
        if scripted is not None:
            return error(scripted)
        return json_response(
            {
                "id": serial,
                "type": form["type"],
                "sender_id": self.sender_id,
                "receiver_id": int(receiver),
                "created_at": created_at(datetime.now().astimezone()),
                "text": data.get("text", "") if isinstance(data, dict) else "",
                "data": form.get("data", ""),
            }
        )
