from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import CommonSettings, KafkaSettings


class Settings(CommonSettings):
    model_config = SettingsConfigDict(env_prefix="INBOX_", extra="ignore")

    service_name: str = "router"
    port: int = 8200  # health, metrics, and /admin (model, corrections, retrain)
    case_api_url: str = "http://127.0.0.1:8000"  # /admin asks case-api whose bearer token it was given
    consumer_group: str = "router"
    taxonomy_reload_s: float = 2.0  # how often the taxonomy file's and the model's mtime are checked
    # The learned classifier (`inbox-router train --model-dir …`); unset: rules only.
    router_model_dir: Path | None = None
    # Below this calibrated confidence the model's guess is shown to the operator but nothing is proposed.
    router_model_min_confidence: float = Field(default=0.5, ge=0, le=1)
    # The model overrides a keyword rule only when at least this sure (and the rule was less sure).
    router_model_override_confidence: float = Field(default=0.98, ge=0, le=1)
    # A retrained model goes live when its macro-F1 on the frozen evaluation set is at most this much lower.
    router_retrain_tolerance: float = Field(default=0.005, ge=0, le=1)
    router_retrain_every_s: float = 0.0  # 0: retrain only on demand (POST /admin/retrain, `inbox-router retrain`)
    # Keep operators' classifications from case.events.v1 as training data (off until case-api's events are final).
    router_learn_from_case_events: bool = False
    learning_consumer_group: str = "router-learning"
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)


@lru_cache
def get_settings() -> Settings:
    return Settings()
