"""What can go wrong with Weibo, in and out. Replies raise shared.outbound's delivery errors with Weibo's
`error_code`; an expired or refused access token is an AccountCredentialsError (weibo.md)."""

from __future__ import annotations

from shared.outbound import AccountCredentialsError, DeliveryError, PermanentDeliveryError, TransientDeliveryError

__all__ = [
    "AccountCredentialsError",
    "DeliveryError",
    "MalformedPush",
    "PermanentDeliveryError",
    "TransientDeliveryError",
]


class MalformedPush(ValueError):
    """400: the body is not a Weibo push we can read. The message is the reason, safe to return."""
