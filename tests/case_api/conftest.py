from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from case_api.catalog.service import seed_from_taxonomy
from case_api.db import make_engine, make_sessionmaker
from shared.taxonomy import load_taxonomy


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_engine(database_url)
    maker = make_sessionmaker(engine)
    async with maker() as session:
        await seed_from_taxonomy(session, taxonomy=load_taxonomy(Path("config/taxonomy.yaml")))
    yield maker
    await engine.dispose()
