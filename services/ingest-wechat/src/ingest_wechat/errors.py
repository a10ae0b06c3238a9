"""What can go wrong with WeChat, in and out: the HTTP layer maps push errors to status codes; the reply client
raises shared.outbound's delivery errors — transient: network, 5xx, system busy (-1), frequency limits (45009,
45011); permanent: invalid user, unsubscribed, blocked, outside the reply window, too long; credentials: a
refused app_id/app_secret or token."""

from shared.outbound import AccountCredentialsError, DeliveryError, PermanentDeliveryError, TransientDeliveryError

__all__ = [
    "AccountCredentialsError",
    "BadSignature",
    "DeliveryError",
    "MalformedPush",
    "PermanentDeliveryError",
    "TransientDeliveryError",
    "WeChatError",
]


class WeChatError(Exception):
    """Base of this channel's inbound errors."""


class BadSignature(WeChatError):
    """403: the request was not signed with this account's token."""


class MalformedPush(WeChatError, ValueError):
    """400: the body is not a WeChat message we can read."""
