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


def upgrade(database_url: str, revision: str = "head") -> None:
    """Apply migrations up to ``revision`` (blocking; Alembic runs its own event loop inside)."""
    from alembic import command

    command.upgrade(alembic_config(database_url), revision)
