from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from case_api.sla import SlaSettings
from shared.settings import CommonSettings, DatabaseSettings, KafkaSettings


class Settings(CommonSettings):
    model_config = SettingsConfigDict(env_prefix="INBOX_", extra="ignore")

    service_name: str = "case-api"
    port: int = 8000
    consumer_group: str = "case-api"
    timezone: str = "Asia/Shanghai"  # tracking numbers carry the local date citizens know
    # Tokens are signed with this; production must set its own (placeholders are refused outside local mode).
    secret_key: str = "local-development-secret-change-me"
    token_ttl_minutes: int = 8 * 60  # one working shift
    admin_user: str = "admin"
    admin_password: str = "admin"  # local default; production must set INBOX_ADMIN_PASSWORD
    claim_lease_seconds: int = 300
    outbox_batch: int = 500
    outbox_idle_s: float = 0.1  # poll interval; commits in this process wake the publisher at once
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    db: DatabaseSettings = Field(default_factory=DatabaseSettings)
    sla: SlaSettings = Field(default_factory=SlaSettings)


@lru_cache
def get_settings() -> Settings:
    return Settings()
