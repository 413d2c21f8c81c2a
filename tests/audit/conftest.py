"""Fixtures for the audit log: a fresh, migrated, empty database per test module.

The session's seeded database is shared by every other test and must never hold tampered
entries, so each module here gets a database of its own (on the back end under test), and each
test starts with the audit tables empty. Writers made through :func:`make_writer` are closed at
the end of their test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from audit.keys import AuditKeys
from audit.writer import AuditWriter
from hub.settings import Settings
from store.engine import create_engine
from tests.audit.helpers import empty_audit_tables
from tests.conftest import _fresh_database

MakeWriter = Callable[..., Awaitable[AuditWriter]]


@pytest.fixture(scope="module")
def audit_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated, empty database of this module's own."""
    yield from _fresh_database(backend, tmp_path_factory)


@pytest.fixture(scope="module")
def audit_settings(audit_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Checkpoints every 10 entries (so small logs have several), keys in a temporary folder."""
    return Settings(
        database_url=audit_url,
        audit_key_dir=tmp_path_factory.mktemp("audit") / "keys",
        key_dir=tmp_path_factory.mktemp("audit") / "token-keys",
        audit_checkpoint_entries=10,
        audit_checkpoint_seconds=60.0,
        _env_file=None,  # type: ignore[call-arg]
    )


@pytest.fixture(scope="module")
async def audit_engine(audit_settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(audit_settings)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="module")
def audit_keys(audit_settings: Settings) -> AuditKeys:
    return AuditKeys.load_or_create(audit_settings.audit_key_dir)


@pytest.fixture(autouse=True)
async def _empty_log(audit_engine: AsyncEngine) -> None:
    await empty_audit_tables(audit_engine)


@pytest.fixture
async def make_writer(
    audit_engine: AsyncEngine, audit_keys: AuditKeys, audit_settings: Settings
) -> AsyncIterator[MakeWriter]:
    """Start writers on the module's database; ``settings`` overrides go to Settings."""
    writers: list[AuditWriter] = []

    async def make(
        engine: AsyncEngine | None = None, keys: AuditKeys | None = None, **options: Any
    ) -> AuditWriter:
        overrides = {
            name: options.pop(name)
            for name in list(options)
            if name.startswith("audit_") and name in Settings.model_fields
        }
        settings = audit_settings.model_copy(update=overrides)
        writer = AuditWriter(engine or audit_engine, keys or audit_keys, settings, **options)
        await writer.start()
        writers.append(writer)
        return writer

    yield make
    for writer in writers:
        await writer.close()
