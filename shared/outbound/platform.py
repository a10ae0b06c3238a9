"""What a channel service gives the delivery loop: a `send(account, command)` function and its one failure type.

The loop knows nothing about any platform's wire format; a channel's send raises `SendFailed(code, reason,
transient=…)` — usually as one of the DeliveryError classes below — which is all the loop needs to retry or give up.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import ClassVar

import httpx

from ..accounts import Account
from ..contracts.v1 import ReplyCommand
from ..settings import OutboundSettings


class SendFailed(Exception):
    """The platform did not take the reply. `code` is the platform's (or ours, e.g. `unsupported_kind`), short
    enough for an operator's screen; `reason` says in words what happened and what to do."""

    def __init__(self, code: str, reason: str, *, transient: bool) -> None:
        super().__init__(code, reason)
        self.code = code
        self.reason = reason
        self.transient = transient

    def __str__(self) -> str:
        return f"{self.code}: {self.reason}"


class DeliveryError(SendFailed):
    """What a channel's API client raises; the class says whether trying again can help.
    `code` is the platform's own (WeChat errcode, Weibo error_code, Alipay sub_code) or `timeout`, `network`,
    `http_<status>`."""

    retryable: ClassVar[bool] = False

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(code, reason, transient=self.retryable)


class TransientDeliveryError(DeliveryError):
    """Worth trying again later: network trouble, timeouts, 5xx, rate limits, the platform busy."""

    retryable = True


class PermanentDeliveryError(DeliveryError):
    """Trying again will not help: invalid recipient, outside the reply window, content refused, other 4xx."""


class AccountCredentialsError(PermanentDeliveryError):
    """The platform refused the account's credentials: someone must fix the account, then resend."""


# Returns when the platform accepted the reply; raises SendFailed otherwise.
Send = Callable[[Account, ReplyCommand], Awaitable[None]]
# Built once per process around the service's long-lived HTTP client.
SenderFactory = Callable[[httpx.AsyncClient], Send]


def platform_http(
    settings: OutboundSettings, *, transport: httpx.AsyncBaseTransport | None = None
) -> httpx.AsyncClient:
    """The one long-lived client a service uses for its platform's API: explicit timeouts, pooled connections.

    `transport` lets a test put an `httpx.MockTransport` (or anything else) under the real client code.
    """
    # httpx logs every request's full URL at INFO, and WeChat puts the app secret and access token in URLs.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    return httpx.AsyncClient(
        timeout=httpx.Timeout(settings.http_timeout_s, connect=settings.http_connect_timeout_s),
        limits=httpx.Limits(max_connections=max(10, settings.concurrency * 2), max_keepalive_connections=10),
        transport=transport,
        headers={"User-Agent": "city-inbox"},
    )
