from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import CommonSettings, KafkaSettings, OutboundSettings


class Settings(CommonSettings):
    model_config = SettingsConfigDict(env_prefix="INBOX_", extra="ignore")

    service_name: str = "ingest-weibo"
    port: int = 8102
    max_body_bytes: int = 256 * 1024
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    outbound: OutboundSettings = Field(default_factory=OutboundSettings)
    # A push or handshake whose signed timestamp is further than this from our clock, either way, is refused (403):
    # the platform's tries end within seconds of the first (5 s apart, 3 in all), the rest allows for clock skew.
    webhook_max_age_s: float = Field(default=300.0, gt=0)
    # Keep a copy of each reply in the account's sent box on Weibo (reply.json's save_sender_box).
    weibo_save_sender_box: bool = True


@lru_cache
def get_settings() -> Settings:
    return Settings()
