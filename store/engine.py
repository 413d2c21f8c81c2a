"""The async database engine for both back ends, and schema migrations through Alembic."""

from __future__ import annotations

import base64
import logging
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./gridhub.db"


class EngineSettings(Protocol):
    """What the engine needs of the hub's settings (``hub.settings.Settings`` has it)."""

    @property
    def database_url(self) -> str: ...
    @property
    def database_connect_timeout(self) -> float: ...
    @property
    def database_statement_timeout(self) -> float: ...


def normalise_database_url(url: str) -> str:
    """Pick the async driver for a plain ``postgresql://`` or ``sqlite://`` URL.

    Operators copy URLs from elsewhere; the hub only speaks asyncpg and aiosqlite.
    """
    for plain, driver in (
        ("postgres://", "postgresql+asyncpg://"),
        ("postgresql://", "postgresql+asyncpg://"),
        ("sqlite://", "sqlite+aiosqlite://"),
    ):
        if url.startswith(plain):
            return driver + url[len(plain) :]
    return url


#: Settings of every PostgreSQL session the engine opens.
#:
#: ``plan_cache_mode``: asyncpg prepares and caches every statement per connection, and after
#: the fifth execution PostgreSQL may switch a prepared statement to a *generic* plan, chosen
#: without the parameters' values. For a page of children scoped to an area (a street staff's
#: residents: ``house_code IN (…) AND grid_code >= $a AND grid_code < $b``) the generic plan
#: ANDs the ``grid_code`` index range with the ``house_code`` lookup, reading every row of the
#: street (about 12,000 in a benchmark district) for a few hundred residents: 10-20x slower
#: than the custom plan, which filters the few rows the ``house_code`` index finds. Custom
#: plans cost a re-plan per execution (tenths of a millisecond for the hub's statements) and
#: keep the plan right for the actual area, whatever its size.
POSTGRESQL_SESSION_SETTINGS = {"plan_cache_mode": "force_custom_plan"}


#: The SQL function SQLite lacks and compiled reads need (PostgreSQL has ``encode``).
SQLITE_BASE64 = "gridhub_base64"


def _base64(text: str | None) -> str | None:
    """Standard base64 of a text's UTF-8 bytes (global ids and cursors built in SQL)."""
    return None if text is None else base64.b64encode(text.encode("utf-8")).decode("ascii")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL lets readers run beside a writer; foreign keys are off in SQLite unless asked for.
    Also registers :data:`SQLITE_BASE64`, which compiled reads call to build ids in SQL."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
    dbapi_connection.create_function(SQLITE_BASE64, 1, _base64, deterministic=True)


def create_engine(settings: EngineSettings, **kwargs: Any) -> AsyncEngine:
    """Build the engine for ``settings.database_url`` with the pragmas each back end needs.

    Statements' parameters are personal data (an ID number in a filter, a phone): the engine
    never logs them nor puts them in its exceptions' messages, whatever the log level, and
    aiosqlite's debug log (which prints every statement with its parameters) is kept off.

    Every wait on the database is bounded, so a database that has gone away answers a request
    with an error within the timeouts instead of holding it: connecting (and waiting for a
    free pooled connection) by ``database_connect_timeout``, each statement by
    ``database_statement_timeout`` (asyncpg cancels it on the server). On SQLite the connect
    timeout is how long a statement waits for another process's write lock. The pool
    pre-pings a connection before handing it out, so connections a database restart cut are
    replaced, not used.
    """
    url = make_url(settings.database_url)
    kwargs.setdefault("hide_parameters", True)
    if url.get_backend_name() == "sqlite":
        aiosqlite_log = logging.getLogger("aiosqlite")
        if aiosqlite_log.getEffectiveLevel() < logging.INFO:
            aiosqlite_log.setLevel(logging.INFO)
        kwargs.setdefault("connect_args", {"timeout": settings.database_connect_timeout})
        engine = create_async_engine(url, **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 10)
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_timeout", settings.database_connect_timeout)
    kwargs.setdefault(
        "connect_args",
        {
            "timeout": settings.database_connect_timeout,
            "command_timeout": settings.database_statement_timeout,
            "server_settings": POSTGRESQL_SESSION_SETTINGS,
        },
    )
    return create_async_engine(url, **kwargs)


def alembic_config(database_url: str) -> Any:
    """An Alembic configuration that needs no ``alembic.ini``: the CLI and the tests use it."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> tuple[str | None, str | None]:
    """Apply migrations up to ``revision`` (blocking; Alembic runs its own event loop inside).

    Returns the schema revision before and after, so the caller can say what it did: ``None``
    before means the database held no gridhub tables and they were created.
    """
    from alembic import command

    before = current_revision(database_url)
    command.upgrade(alembic_config(database_url), revision)
    return before, current_revision(database_url)


def current_revision(database_url: str) -> str | None:
    """The database's schema revision (Alembic's), or None when it has no gridhub tables."""
    import asyncio
    from types import SimpleNamespace

    from alembic.migration import MigrationContext

    async def read() -> str | None:
        engine = create_engine(
            SimpleNamespace(
                database_url=normalise_database_url(database_url),
                database_connect_timeout=10.0,
                database_statement_timeout=60.0,
            )
        )
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(
                    lambda sync: MigrationContext.configure(sync).get_current_revision()
                )
        finally:
            await engine.dispose()

    return asyncio.run(read())
