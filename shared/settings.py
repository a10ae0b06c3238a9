"""Settings fragments every service composes into its own `Settings`."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from .topics import Topics


class Mode(StrEnum):
    LOCAL = "local"
    PRODUCTION = "production"


class KafkaSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KAFKA_", extra="ignore")

    bootstrap_servers: str = "127.0.0.1:9092"
    topic_prefix: str = ""
    topic_partitions: int = 4  # used when this process creates topics (local runs, tests)
    # Latency vs. broker load: 50 ms gives an end-to-end p99 around 30 ms on Tansu (KAFKA-LOCAL.md).
    fetch_max_wait_ms: int = 50
    # Kafka's defaults make group joins slow; local runs and tests lower them, production keeps Kafka's.
    session_timeout_ms: int = 10_000
    heartbeat_interval_ms: int = 3_000
    max_poll_records: int = 500
    linger_ms: int = 2
    # Tansu rejects idempotent producers; real Kafka may turn this on.
    enable_idempotence: bool = False
    request_timeout_ms: int = 4_000  # below the platforms' 5 s webhook deadline
    commit_timeout_s: float = 10.0
    # How long a consumer re-fetches a hole in a partition's offsets before accepting it (shared/kafka.py:
    # OffsetContinuity; Tansu can skip a record under concurrent producers). 0 turns the check off.
    offset_gap_wait_s: float = 2.0

    @property
    def topics(self) -> Topics:
        return Topics(self.topic_prefix)


class DatabaseSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    database_url: str = Field(default="sqlite+aiosqlite:///var/inbox.db", alias="DATABASE_URL")
    database_echo: bool = Field(default=False, alias="DATABASE_ECHO")


class ReplySettings(BaseSettings):
    """How long a reply may wait to reach the citizen (INBOX_REPLY_TTL_S). case-api's value decides: it writes the
    deadline into each reply command (`expires_at`), which the channel service does not send after (it reports it
    failed, code `expired`), and reports a reply still queued after it, plus a margin for a send in progress, as
    failed. A channel service's own value applies only to commands that carry no deadline (queued before commands
    had one). An answer arriving hours late is worse than none: the operator may have phoned."""

    model_config = SettingsConfigDict(env_prefix="INBOX_REPLY_", extra="ignore")

    ttl_s: float = Field(default=15 * 60.0, gt=0)

    @property
    def ttl(self) -> timedelta:
        return timedelta(seconds=self.ttl_s)


class OutboundSettings(BaseSettings):
    """Delivering replies to the platforms: every ingest service consumes outbound.replies.v1 for its channel."""

    model_config = SettingsConfigDict(env_prefix="INBOX_OUTBOUND_", extra="ignore")

    enabled: bool = True  # false: webhooks only, this process sends nothing
    # The delivery ledger that makes sending at most once per reply id (shared/outbound/ledger.py). `{service}`
    # becomes the service name, so one variable serves a whole stack. It must be on persistent storage.
    ledger_path: str = "var/{service}-deliveries.db"
    ledger_retention_days: int = 30  # longer than outbound.replies.v1 keeps records, so no redelivery is missed
    consumer_group: str = "{service}-outbound"
    # Transient failures (network, 5xx, busy, rate limits) are retried with exponential backoff, bounded per reply
    # by attempts and by time since its first attempt.
    max_attempts: int = 6
    max_total_s: float = 120.0
    # A batch waits for retries this long, well inside Kafka's max.poll.interval (300 s); a retry due later is
    # taken up when the batch is polled again, so a reply late in a long batch still gets all its attempts.
    batch_time_s: float = 60.0
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 30.0
    batch_records: int = 50  # replies taken per poll; each batch is committed after all of them finished
    concurrency: int = 8  # citizens served at once; one citizen's replies always go out in order
    http_timeout_s: float = 10.0
    http_connect_timeout_s: float = 3.0
    # On shutdown a platform call already under way may finish for this long, so its outcome is recorded.
    shutdown_grace_s: float = 5.0
    # A command without its own `expires_at` is not sent once older than reply.ttl.
    reply: ReplySettings = Field(default_factory=ReplySettings)

    def ledger_file(self, service: str) -> Path:
        return Path(self.ledger_path.format(service=service))

    def group(self, service: str) -> str:
        return self.consumer_group.format(service=service)


class CommonSettings(BaseSettings):
    """What every service reads: mode, logging, where the accounts are."""

    model_config = SettingsConfigDict(env_prefix="INBOX_", extra="ignore")

    mode: Mode = Mode.LOCAL
    host: str = "127.0.0.1"  # production binds 0.0.0.0 behind its TLS-terminating proxy
    # Addresses of the TLS-terminating proxy whose X-Forwarded-* headers are believed (uvicorn).
    forwarded_allow_ips: str = "127.0.0.1"
    # Per account, far above the design load (1,000 req/s per channel service, bursts of 10,000 messages in
    # minutes): only a flood is refused, never a busy day.
    webhook_rate_per_account: float = 5000.0
    webhook_burst_per_account: int = 50_000
    log_level: str = "INFO"
    log_format: str = "console"  # console | json
    accounts_file: Path = Path("config/accounts.yaml")
    taxonomy_file: Path = Path("config/taxonomy.yaml")
