"""Delivering replies to the platforms, the same way in every channel service.

A channel provides only `send(account, command)` (raising `SendFailed`); this package runs the consumer of
outbound.replies.v1, the retries with backoff, the at-most-once delivery ledger and the receipts on
outbound.receipts.v1.
"""

from .consumer import DeliveryService, ReplyBatchHandler, running_delivery
from .deliver import OUTCOME_UNKNOWN, ReplyDeliverer
from .ledger import Delivery, DeliveryLedger, LedgerStatus
from .platform import (
    AccountCredentialsError,
    DeliveryError,
    PermanentDeliveryError,
    Send,
    SenderFactory,
    SendFailed,
    TransientDeliveryError,
    platform_http,
)
from .retry import RetryPolicy

__all__ = [
    "OUTCOME_UNKNOWN",
    "AccountCredentialsError",
    "Delivery",
    "DeliveryError",
    "DeliveryLedger",
    "DeliveryService",
    "LedgerStatus",
    "PermanentDeliveryError",
    "ReplyBatchHandler",
    "ReplyDeliverer",
    "RetryPolicy",
    "Send",
    "SendFailed",
    "SenderFactory",
    "TransientDeliveryError",
    "platform_http",
    "running_delivery",
]
