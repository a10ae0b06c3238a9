from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import CommonSettings, KafkaSettings


class Settings(CommonSettings):
    model_config = SettingsConfigDict(env_prefix="INBOX_", extra="ignore")

    service_name: str = "router"
    port: int = 8200  # health and metrics only
    consumer_group: str = "router"
    taxonomy_reload_s: float = 2.0  # how often the taxonomy file's mtime is checked
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)


@lru_cache
def get_settings() -> Settings:
    return Settings()
