"""Delivering replies to the platforms, the same way in every channel service.

A channel provides only `send(account, command)` (raising `SendFailed`); this package runs the consumer of
outbound.replies.v1, the retries with backoff, the at-most-once delivery ledger and the receipts on
outbound.receipts.v1.
"""

from .consumer import DeliveryService, ReplyBatchHandler, running_delivery
from .deliver import OUTCOME_UNKNOWN, ReplyDeliverer
from .ledger import Delivery, DeliveryLedger, LedgerStatus
from .platform import Send, SenderFactory, SendFailed, platform_http
from .retry import RetryPolicy

__all__ = [
    "OUTCOME_UNKNOWN",
    "Delivery",
    "DeliveryLedger",
    "DeliveryService",
    "LedgerStatus",
    "ReplyBatchHandler",
    "ReplyDeliverer",
    "RetryPolicy",
    "Send",
    "SendFailed",
    "SenderFactory",
    "platform_http",
    "running_delivery",
]
