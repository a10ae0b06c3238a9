"""The repo's own package shared by every service: contracts, topic names, settings fragments, Kafka helpers."""

from . import topics
from .accounts import Account, AccountRegistry, AccountsFileError, load_accounts
from .settings import CommonSettings, DatabaseSettings, KafkaSettings, Mode

__all__ = [
    "Account",
    "AccountRegistry",
    "AccountsFileError",
    "CommonSettings",
    "DatabaseSettings",
    "KafkaSettings",
    "Mode",
    "load_accounts",
    "topics",
]
