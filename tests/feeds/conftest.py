"""Fixtures of the feed tests: a database of their own holding the demo district and the
catalogue, the matcher over its addresses, and helpers that write exports.

Each test declares feeds of its own (unique codes) and residents of its own (fresh ID
numbers), so tests can share the database without seeing each other's runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from addresses.base import load_matcher
from addresses.matcher import Matcher
from auth.clients import NewClient
from auth.keys import HubKeys
from auth.tokens import issue_token
from catalog.sync import sync_packaged
from demo import District, load
from demo.principals import demo_principals, seed_principals
from hub.settings import Settings
from store.engine import create_engine
from tests.conftest import SEED, _fresh_database


@pytest.fixture(scope="session")
def feeds_clients() -> dict[str, NewClient]:
    """The demo apps' credentials in :func:`feeds_url`'s database, by subject."""
    return {}


@pytest.fixture(scope="session")
def feeds_url(
    backend: str,
    tmp_path_factory: pytest.TempPathFactory,
    district: District,
    feeds_clients: dict[str, NewClient],
) -> Iterator[str]:
    """A migrated database with the district, the demo's principals and the packaged
    catalogue (and its feeds)."""
    for url in _fresh_database(backend, tmp_path_factory):

        async def seed(url: str) -> None:
            engine = create_engine(Settings(database_url=url))
            try:
                await load(engine, district)
                feeds_clients.update(
                    await seed_principals(engine, demo_principals(district.grids, SEED))
                )
                await sync_packaged(engine, by="test seed")
            finally:
                await engine.dispose()

        asyncio.run(seed(url))
        yield url


@pytest.fixture(scope="session")
def feeds_settings(feeds_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings of a hub on :func:`feeds_url` (keys in temporary folders; feeds up to 4 KiB)."""
    return Settings(  # type: ignore[call-arg]
        database_url=feeds_url,
        key_dir=tmp_path_factory.mktemp("feed-keys"),
        audit_key_dir=tmp_path_factory.mktemp("feed-audit-keys"),
        feed_max_bytes=4096,
        _env_file=None,
    )


@pytest.fixture(scope="session")
def feeds_token(
    feeds_settings: Settings, feeds_clients: dict[str, NewClient]
) -> Callable[[str], str]:
    """A hub-signed token for a principal of :func:`feeds_url` (an app's carries its client)."""
    keys = HubKeys.load_or_create(feeds_settings.key_dir)

    def mint(subject: str) -> str:
        client = feeds_clients.get(subject)
        if client is not None:
            return issue_token(keys, feeds_settings, subject, "client", client_id=client.client_id)
        return issue_token(keys, feeds_settings, subject, "person")

    return mint


@pytest.fixture(scope="session")
async def feeds_engine(feeds_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(Settings(database_url=feeds_url))
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
async def matcher(feeds_engine: AsyncEngine) -> Matcher:
    async with feeds_engine.connect() as connection:
        return await load_matcher(connection, 0.9)
