from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import CommonSettings, DatabaseSettings, KafkaSettings


class Settings(CommonSettings):
    model_config = SettingsConfigDict(env_prefix="INBOX_", extra="ignore")

    service_name: str = "case-api"
    port: int = 8000
    consumer_group: str = "case-api"
    timezone: str = "Asia/Shanghai"  # tracking numbers carry the local date citizens know
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    db: DatabaseSettings = Field(default_factory=DatabaseSettings)


@lru_cache
def get_settings() -> Settings:
    return Settings()
