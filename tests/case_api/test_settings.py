from __future__ import annotations

import pytest
from pydantic import ValidationError

from case_api.settings import Settings
from shared.settings import DatabaseSettings, Mode


def test_local_mode_runs_on_the_demo_defaults() -> None:
    assert Settings().mode is Mode.LOCAL


def test_production_refuses_placeholder_secrets_and_sqlite() -> None:
    with pytest.raises(ValidationError) as info:
        Settings(mode=Mode.PRODUCTION)
    message = str(info.value)
    assert "INBOX_SECRET_KEY" in message and "INBOX_ADMIN_PASSWORD" in message and "PostgreSQL" in message


def test_production_starts_with_real_secrets() -> None:
    settings = Settings(
        mode=Mode.PRODUCTION,
        secret_key="x" * 40,
        admin_password="a-long-admin-password",
        db=DatabaseSettings(DATABASE_URL="postgresql+asyncpg://inbox@db/inbox"),
    )
    assert settings.mode is Mode.PRODUCTION
