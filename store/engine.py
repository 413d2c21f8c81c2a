"""The async database engine for both back ends, and schema migrations through Alembic."""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import event, exc
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.util import await_only

from store.sqlite_driver import one_hop_dbapi

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


#: A pooled PostgreSQL connection idle for longer than this (seconds) is pinged before it is
#: handed out; one back in the pool for less is handed out as it is, if its driver has not
#: seen it closed.
PING_AFTER_IDLE = 2.0
_IDLE_SINCE = "gridhub_idle_since"
PING = "SELECT 1"


def _stamp_idle(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
    record.info[_IDLE_SINCE] = time.monotonic()


def _check_alive(dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
    """Hand out a pooled PostgreSQL connection only if it is alive, at the price of a round
    trip only when it may have died unseen.

    SQLAlchemy's own pre-ping costs three round trips on asyncpg (BEGIN, ``;``, ROLLBACK) at
    every checkout: on a loaded machine, where each round trip is a switch to the server's
    process and back, more than the statement a small request checks out for. A connection a
    database restart or ``pg_terminate_backend`` ended is closed by the server, and asyncpg
    marks it closed as soon as the loop reads that: no round trip is needed to see it. Only a
    connection idle for longer than :data:`PING_AFTER_IDLE` (one a silent network cut or an idle
    timeout may have ended without a word) is pinged, with one simple-protocol ``SELECT 1``
    (no statement to prepare: one round trip, and safe behind a transaction pooler). Either
    failure raises ``DisconnectionError``: the pool drops the connection and takes another.
    """
    driver = dbapi_connection.driver_connection
    if driver is None or driver.is_closed():
        raise exc.DisconnectionError("the connection was closed")
    idle_since = record.info.get(_IDLE_SINCE)
    if idle_since is not None and time.monotonic() - idle_since <= PING_AFTER_IDLE:
        return
    try:
        await_only(driver.execute(PING))
    except Exception as error:
        raise exc.DisconnectionError(f"the connection failed a ping: {error}") from error


async def connect(engine: AsyncEngine, *, reads_only: bool = False) -> AsyncConnection:
    """A connection from ``engine``'s pool; ``reads_only``: for a request that only reads.

    On PostgreSQL such a connection runs in autocommit: each statement is its own transaction,
    with no BEGIN before the first and no ROLLBACK when it goes back, two round trips fewer.
    Nothing is lost by it: at PostgreSQL's READ COMMITTED, the default the hub runs at, every
    statement of a transaction takes a snapshot of its own anyway. (A reader that needs one
    snapshot for several statements asks for REPEATABLE READ itself.)
    """
    connection = await engine.connect()
    if reads_only and engine.dialect.name == "postgresql":
        try:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
        except BaseException:
            await connection.close()
            raise
    return connection


def create_engine(settings: EngineSettings, **kwargs: Any) -> AsyncEngine:
    """Build the engine for ``settings.database_url`` with the pragmas each back end needs.

    Statements' parameters are personal data (an ID number in a filter, a phone): the engine
    never logs them nor puts them in its exceptions' messages, whatever the log level, and
    aiosqlite's debug log (which prints every statement with its parameters) is kept off.

    Every wait on the database is bounded, so a database that has gone away answers a request
    with an error within the timeouts instead of holding it: connecting (and waiting for a
    free pooled connection) by ``database_connect_timeout``, each statement by
    ``database_statement_timeout`` (asyncpg cancels it on the server). On SQLite the connect
    timeout is how long a statement waits for another process's write lock. The pool checks
    a PostgreSQL connection before handing it out (:func:`_check_alive`), so connections a
    database restart cut are replaced, not used.
    """
    url = make_url(settings.database_url)
    kwargs.setdefault("hide_parameters", True)
    if url.get_backend_name() == "sqlite":
        aiosqlite_log = logging.getLogger("aiosqlite")
        if aiosqlite_log.getEffectiveLevel() < logging.INFO:
            aiosqlite_log.setLevel(logging.INFO)
        kwargs.setdefault("connect_args", {"timeout": settings.database_connect_timeout})
        if url.get_driver_name() == "aiosqlite" and "module" not in kwargs:
            module = one_hop_dbapi()  # one thread hop per statement (store.sqlite_driver)
            if module is not None:
                kwargs["module"] = module
        engine = create_async_engine(url, **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 10)
    kwargs.setdefault("pool_timeout", settings.database_connect_timeout)
    kwargs.setdefault(
        "connect_args",
        {
            "timeout": settings.database_connect_timeout,
            "command_timeout": settings.database_statement_timeout,
            "server_settings": POSTGRESQL_SESSION_SETTINGS,
        },
    )
    engine = create_async_engine(url, **kwargs)
    if not kwargs.get("pool_pre_ping"):
        event.listen(engine.sync_engine, "connect", _stamp_idle)
        event.listen(engine.sync_engine, "checkin", _stamp_idle)
        event.listen(engine.sync_engine, "checkout", _check_alive)
    return engine


@asynccontextmanager
async def statement_limit(connection: AsyncConnection, seconds: float) -> AsyncIterator[None]:
    """Let each statement on ``connection`` take up to ``seconds`` within the block, then
    restore the engine's ``database_statement_timeout``: bulk work (a feed run's staging and
    merge over a million rows) is bounded too, but not by a request's measure. SQLite's
    statements have no limit to lift."""
    if connection.dialect.name != "postgresql":
        yield
        return
    driver: Any = (await connection.get_raw_connection()).driver_connection
    # asyncpg reads a statement's default timeout from the connection's configuration.
    configured = driver._config
    driver._config = configured._replace(command_timeout=seconds)
    try:
        yield
    finally:
        driver._config = configured


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
