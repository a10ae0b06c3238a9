"""What can go wrong with Weibo, in and out; the HTTP layer and the reply sender map each to an outcome."""

from __future__ import annotations


class MalformedPush(ValueError):
    """400: the body is not a Weibo push we can read. The message is the reason, safe to return."""


class DeliveryError(Exception):
    """A reply was not delivered. `code` is Weibo's `error_code`, or `http_<status>`, `timeout`, `network`."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(code, reason)
        self.code = code
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.code}: {self.reason}"


class TransientDeliveryError(DeliveryError):
    """Worth trying again later: network trouble, timeouts, 5xx, rate limits, platform busy."""


class PermanentDeliveryError(DeliveryError):
    """Trying again will not help: invalid user, outside the reply window, content refused, other 4xx."""


class AccountCredentialsError(PermanentDeliveryError):
    """The account's access token was refused: someone must fix it in the platform console (weibo.md)."""
