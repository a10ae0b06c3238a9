from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import CommonSettings, KafkaSettings, OutboundSettings


class Settings(CommonSettings):
    model_config = SettingsConfigDict(env_prefix="INBOX_", extra="ignore")

    service_name: str = "ingest-alipay"
    port: int = 8103
    max_body_bytes: int = 256 * 1024
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    outbound: OutboundSettings = Field(default_factory=OutboundSettings)
    # custom.send's `chat="1"`: the reply appears in the citizen's conversation list (alipay.md).
    alipay_reply_in_chat: bool = True


@lru_cache
def get_settings() -> Settings:
    return Settings()
