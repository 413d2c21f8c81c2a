"""Fixtures of the feed tests: a database of their own holding the demo district and the
catalogue, the matcher over its addresses, and helpers that write exports.

Each test declares feeds of its own (unique codes) and residents of its own (fresh ID
numbers), so tests can share the database without seeing each other's runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from addresses.base import load_matcher
from addresses.matcher import Matcher
from catalog.sync import sync_packaged
from demo import District, load
from hub.settings import Settings
from store.engine import create_engine
from tests.conftest import _fresh_database


@pytest.fixture(scope="session")
def feeds_url(
    backend: str, tmp_path_factory: pytest.TempPathFactory, district: District
) -> Iterator[str]:
    """A migrated database with the district and the packaged catalogue (and its feeds)."""
    for url in _fresh_database(backend, tmp_path_factory):

        async def seed(url: str) -> None:
            engine = create_engine(Settings(database_url=url))
            try:
                await load(engine, district)
                await sync_packaged(engine, by="test seed")
            finally:
                await engine.dispose()

        asyncio.run(seed(url))
        yield url


@pytest.fixture(scope="session")
async def feeds_engine(feeds_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(Settings(database_url=feeds_url))
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
async def matcher(feeds_engine: AsyncEngine) -> Matcher:
    async with feeds_engine.connect() as connection:
        return await load_matcher(connection, 0.9)
