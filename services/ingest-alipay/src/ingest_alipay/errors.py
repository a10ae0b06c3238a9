"""What can go wrong with Alipay, in and out. Replies raise shared.outbound's delivery errors with Alipay's most
specific code (sub_code, else code)."""

from __future__ import annotations

from shared.outbound import DeliveryError, PermanentDeliveryError, TransientDeliveryError

__all__ = [
    "AlipayError",
    "BadSignature",
    "DeliveryError",
    "MalformedNotify",
    "PermanentDeliveryError",
    "TransientDeliveryError",
]


class AlipayError(Exception):
    """Base of this channel's inbound errors."""


class MalformedNotify(AlipayError, ValueError):
    """400 with this message: the gateway post is not an Alipay notify we can read."""


class BadSignature(AlipayError):
    """403: the notify was not signed with the Alipay public key configured for this account."""
