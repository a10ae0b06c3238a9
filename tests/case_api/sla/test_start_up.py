"""case-api's real lifespan tells the engineers, before any deadline gets there, which years' holidays are missing."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from case_api.main import create_app
from case_api.migrate import upgrade
from case_api.settings import Settings
from case_api.sla import SlaSettings
from shared.settings import DatabaseSettings, KafkaSettings
from tests.asgi import serving

from .helpers import write


async def test_metrics_count_the_years_ahead_without_a_holiday_schedule(
    tmp_path: Path, kafka_settings: KafkaSettings
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'inbox.db'}"
    await asyncio.to_thread(upgrade, url)
    # Without the package and with an empty calendar file no year is known: every year from today to 120 days on.
    sla = SlaSettings(calendar_file=write(tmp_path, "calendar.yaml", "years: {}\n"), use_holiday_package=False)
    settings = Settings(kafka=kafka_settings, db=DatabaseSettings(DATABASE_URL=url), sla=sla)
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    expected = (today + timedelta(days=120)).year - today.year + 1
    async with serving(create_app(settings)) as client:
        metrics = (await client.get("/metrics")).text
        health = await client.get("/healthz")
    assert f"inbox_sla_calendar_unknown_years {float(expected)}" in metrics.splitlines()
    assert health.status_code == 200  # a missing year is a warning, not an outage
