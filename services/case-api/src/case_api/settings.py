from __future__ import annotations

from functools import lru_cache

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from case_api.sla import SlaSettings
from shared.settings import CommonSettings, DatabaseSettings, KafkaSettings, Mode, ReplySettings

PLACEHOLDER_SECRET = "local-development-secret-change-me"
PLACEHOLDER_PASSWORD = "admin"


class Settings(CommonSettings):
    model_config = SettingsConfigDict(env_prefix="INBOX_", extra="ignore")

    service_name: str = "case-api"
    port: int = 8000
    consumer_group: str = "case-api"
    timezone: str = "Asia/Shanghai"  # tracking numbers carry the local date citizens know
    # Tokens are signed with this; production must set its own (placeholders are refused outside local mode).
    secret_key: str = PLACEHOLDER_SECRET
    token_ttl_minutes: int = 8 * 60  # one working shift
    admin_user: str = "admin"
    admin_password: str = PLACEHOLDER_PASSWORD  # local default; production must set INBOX_ADMIN_PASSWORD
    claim_lease_seconds: int = 300
    acknowledge: bool = True  # tell the citizen their tracking number when a case opens (per account too)
    request_rating: bool = True  # ask for a 1–5 rating when a case closes
    rating_window_days: int = 7
    low_rating: int = 2
    low_rating_action: str = Field(default="reopen", pattern="^(reopen|flag)$")
    sla_sweep_interval_s: float = 30.0
    sla_auto_escalate: bool = True  # a breached case goes to the supervisors' queue by itself
    # The learned model's calibrated confidence at or above which a new case goes straight to the proposed
    # department (its category's): take it from `inbox-router evaluate` on the city's own messages. Off: None.
    auto_dispatch_min_confidence: float | None = Field(default=None, ge=0.5, le=1.0)
    stats_cache_seconds: float = 60.0  # department statistics are served this long before recomputing
    outbox_batch: int = 500
    outbox_idle_s: float = 0.1  # poll interval; commits in this process wake the publisher at once
    # Published outbox rows older than this are deleted (hourly, by the publisher); the live queue can replay
    # this far back. 0 keeps them for ever.
    outbox_retention_days: float = 7
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    db: DatabaseSettings = Field(default_factory=DatabaseSettings)
    sla: SlaSettings = Field(default_factory=SlaSettings)
    # INBOX_REPLY_TTL_S: each reply command carries its end (`expires_at`), after which no channel service sends
    # it; a reply still queued this long (plus a margin) is reported failed.
    reply: ReplySettings = Field(default_factory=ReplySettings)

    @model_validator(mode="after")
    def _no_placeholders_in_production(self) -> Settings:
        if self.mode is Mode.PRODUCTION:
            problems = []
            if self.secret_key == PLACEHOLDER_SECRET or len(self.secret_key) < 32:
                problems.append("INBOX_SECRET_KEY must be set to a random value of at least 32 characters")
            if self.admin_password == PLACEHOLDER_PASSWORD or len(self.admin_password) < 12:
                problems.append("INBOX_ADMIN_PASSWORD must be set (12 characters or more)")
            if self.db.database_url.startswith("sqlite"):
                problems.append("DATABASE_URL must point at PostgreSQL in production")
            if problems:
                raise ValueError("refusing to start in production mode: " + "; ".join(problems))
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
