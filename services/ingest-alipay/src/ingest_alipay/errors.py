"""What can go wrong with Alipay, in and out; the HTTP layer and the sender map each to an outcome."""

from __future__ import annotations


class AlipayError(Exception):
    """Base of this channel's errors."""


class MalformedNotify(AlipayError, ValueError):
    """400 with this message: the gateway post is not an Alipay notify we can read."""


class BadSignature(AlipayError):
    """403: the notify was not signed with the Alipay public key configured for this account."""


class DeliveryError(AlipayError):
    """A reply was not delivered. `code` is Alipay's most specific code (sub_code, else code)."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason


class TransientDeliveryError(DeliveryError):
    """Worth retrying later: Alipay or the network was unavailable."""


class PermanentDeliveryError(DeliveryError):
    """Retrying the same request cannot succeed (bad request, configuration, citizen unreachable)."""
