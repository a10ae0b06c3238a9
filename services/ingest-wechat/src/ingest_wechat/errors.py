"""What can go wrong with WeChat, in and out: the HTTP layer maps push errors to status codes, the reply sender
maps delivery errors to transient (retry) or permanent (fail now)."""


class WeChatError(Exception):
    """Base of this channel's inbound errors."""


class BadSignature(WeChatError):
    """403: the request was not signed with this account's token."""


class MalformedPush(WeChatError, ValueError):
    """400: the body is not a WeChat message we can read."""


class DeliveryError(WeChatError):
    """A reply was not delivered. `code` is WeChat's `errcode`, or `http_<status>`, `timeout`, `network`."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(code, reason)
        self.code = code
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.code}: {self.reason}"


class TransientDeliveryError(DeliveryError):
    """Worth trying again later: network trouble, 5xx, system busy (-1), frequency limits (45009, 45011)."""


class PermanentDeliveryError(DeliveryError):
    """Trying again will not help: invalid user, unsubscribed, blocked, outside the reply window, too long."""


class AccountCredentialsError(PermanentDeliveryError):
    """WeChat refused the account's app_id/app_secret (or a fresh token): fix the account, then resend."""
