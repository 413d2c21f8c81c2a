"""Shared fixtures: one freshly migrated and seeded database per test session.

The back end is SQLite unless ``--db postgresql`` (or ``GRIDHUB_TEST_DB=postgresql``) is
given; PostgreSQL gets a new database on the server named by ``--db-url``, ``--db
postgresql://...`` or ``GRIDHUB_TEST_POSTGRES_URL`` (default: the local server), dropped at the
end. Under pytest-xdist every worker is a session
of its own, so each seeds its own databases. Tests share the seeded district and must leave it
as they found it: a test that writes shared rows makes rows of its own (or a database of its
own, as the audit and catalogue tests do) and cleans up after itself.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from auth.clients import NewClient
from auth.keys import HubKeys
from auth.principal import Identity
from auth.tokens import issue_token
from catalog.sync import sync_packaged
from demo import District, Profile, generate, load
from demo.grants import seed_grants
from demo.principals import demo_principals, seed_principals
from demo.views import seed_views
from hub.execution import Executor
from hub.limits import Limits
from hub.settings import Settings, normalise_database_url
from policies.access import Access
from policies.field_rules import OpenPlan, Plan
from resolvers.context import RequestContext
from schema import build_schema
from store.engine import create_engine, upgrade

SEED = 7
#: Who the seeded catalogue's versions are recorded as made by.
SYNCED_BY = "test seed"
AS_OF = date(2026, 11, 1)
DEFAULT_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--db",
        type=_backend_option,
        default=os.environ.get("GRIDHUB_TEST_DB", "sqlite"),
        help="The back end the suite runs against: sqlite, postgresql, or a PostgreSQL URL "
        "(postgresql://user@host:port/db) whose server the test databases are made on "
        "(default: sqlite, or GRIDHUB_TEST_DB).",
    )
    parser.addoption(
        "--db-url",
        default=None,
        help="The PostgreSQL server the test databases are made on (a URL; implies --db "
        "postgresql; default GRIDHUB_TEST_POSTGRES_URL, else the local server).",
    )


def _backend_option(value: str) -> str:
    """``sqlite``, ``postgresql`` or a PostgreSQL URL; anything else is refused by name."""
    if value in ("sqlite", "postgresql") or value.startswith(
        ("postgresql://", "postgresql+", "postgres://")
    ):
        return value
    raise argparse.ArgumentTypeError(
        f"{value!r}: give sqlite, postgresql or a PostgreSQL URL (postgresql://user@host/db)"
    )


def _server_url(config: pytest.Config) -> str:
    """The PostgreSQL server the sessions' databases are made on: --db-url, a URL given as
    --db, GRIDHUB_TEST_POSTGRES_URL, else the local server."""
    given = config.getoption("--db-url")
    chosen = str(config.getoption("--db"))
    if given is None and chosen not in ("sqlite", "postgresql"):
        given = chosen
    return normalise_database_url(
        given or os.environ.get("GRIDHUB_TEST_POSTGRES_URL", DEFAULT_POSTGRES)
    )


def pytest_configure(config: pytest.Config) -> None:
    """A server given on the command line is the one every test makes its databases on (also
    those that read GRIDHUB_TEST_POSTGRES_URL themselves)."""
    if _backend(config) == "postgresql":
        os.environ["GRIDHUB_TEST_POSTGRES_URL"] = _server_url(config)


def _backend(config: pytest.Config) -> str:
    chosen = str(config.getoption("--db"))
    if chosen == "sqlite" and config.getoption("--db-url") is None:
        return "sqlite"
    return "postgresql"


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that bound a time run in one xdist group: never beside each other."""
    for item in items:
        if item.get_closest_marker("serial"):
            item.add_marker(pytest.mark.xdist_group("serial"))


def pytest_report_header(config: pytest.Config) -> str:
    if _backend(config) == "sqlite":
        return "gridhub database back end: sqlite"
    server = make_url(_server_url(config)).render_as_string(hide_password=True)
    return f"gridhub database back end: postgresql on {server}"


async def _create_postgres_database(admin_url: str, name: str, drop: bool = False) -> None:
    admin = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            if drop:
                await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            else:
                await connection.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        await admin.dispose()


@pytest.fixture(scope="session")
def backend(pytestconfig: pytest.Config) -> str:
    return _backend(pytestconfig)


@pytest.fixture(scope="session")
def empty_database_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A factory-fresh, migrated, empty database for this session."""
    yield from _fresh_database(backend, tmp_path_factory)


def _fresh_database(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if backend == "sqlite":
        path: Path = tmp_path_factory.mktemp("db") / "gridhub.db"
        url = f"sqlite+aiosqlite:///{path}"
        upgrade(url)
        yield url
        return
    admin_url = normalise_database_url(
        os.environ.get("GRIDHUB_TEST_POSTGRES_URL", DEFAULT_POSTGRES)
    )
    name = f"gridhub_test_{uuid.uuid4().hex[:10]}"
    asyncio.run(_create_postgres_database(admin_url, name))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        yield url
    finally:
        asyncio.run(_create_postgres_database(admin_url, name, drop=True))


@pytest.fixture(scope="session")
def district() -> District:
    """The generated district the seeded database holds (the expected values of the tests)."""
    return generate(SEED, Profile.small(), AS_OF)


@pytest.fixture(scope="session")
def demo_clients() -> dict[str, NewClient]:
    """The seeded department apps' credentials, by subject (filled when the database is)."""
    return {}


@pytest.fixture(scope="session")
def database_url(
    backend: str,
    tmp_path_factory: pytest.TempPathFactory,
    district: District,
    demo_clients: dict[str, NewClient],
) -> Iterator[str]:
    """A migrated database holding :func:`district`, the demo's principals and rules, the
    catalogue of the shipped files, and the demo apps' grants (made through the workflow)."""
    for url in _fresh_database(backend, tmp_path_factory):

        async def seed(url: str) -> None:
            engine = create_engine(Settings(database_url=url))
            try:
                await load(engine, district)
                demo_clients.update(
                    await seed_principals(engine, demo_principals(district.grids, SEED))
                )
                await sync_packaged(engine, by=SYNCED_BY)
                await seed_grants(engine, datetime.now(UTC), Settings().grant_max_days)
                await seed_views(engine, datetime.now(UTC))
            finally:
                await engine.dispose()

        asyncio.run(seed(url))
        yield url


@pytest.fixture(scope="session")
def settings(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings for the session's database, with signing keys in a temporary folder."""
    keys = tmp_path_factory.mktemp("keys")
    return Settings(  # type: ignore[call-arg]
        database_url=database_url,
        key_dir=keys,
        audit_key_dir=tmp_path_factory.mktemp("audit-keys"),
        _env_file=None,
    )


@pytest.fixture(scope="session")
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(settings)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
def executor(settings: Settings) -> Executor:
    return Executor(build_schema(), settings.document_cache_size, compiled=settings.compiled_reads)


class StatementCounter:
    """Counts the SQL statements an engine runs while it is switched on."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.statements: list[str] = []
        self._on = False
        event.listen(engine.sync_engine, "before_cursor_execute", self._record)

    def _record(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if self._on:
            self.statements.append(statement)

    def __enter__(self) -> StatementCounter:
        self.statements.clear()
        self._on = True
        return self

    def __exit__(self, *_: object) -> None:
        self._on = False


@pytest.fixture(scope="session")
def statements(engine: AsyncEngine) -> StatementCounter:
    return StatementCounter(engine)


GraphQL = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture(scope="session")
def access(engine: AsyncEngine) -> Access:
    """The policy store and plan cache, as a server process holds them."""
    return Access.create(engine)


@pytest.fixture(scope="session")
def gql(settings: Settings, engine: AsyncEngine, executor: Executor, access: Access) -> GraphQL:
    """Run a query against the schema directly (no HTTP) and return the response body.

    ``as_`` runs it as that seeded principal (with ``purpose`` declared), on the plan a server
    would compile for them; without it, on ``plan`` (default: the all-allowing plan, for tests
    of the resolvers themselves). The hub's default limits apply.
    """
    return _runner(settings, engine, executor, access)


@pytest.fixture(scope="session")
def gql_without_limits(settings: Settings, engine: AsyncEngine, access: Access) -> GraphQL:
    """:func:`gql` with the limits on depth and cost lifted: for tests whose point is a long
    chain of links or a large answer, not what a client may ask."""
    roomy = Limits(max_depth=64, max_cost=10**9, max_tokens=100_000, max_query_length=10**6)
    executor = Executor(build_schema(), 0, roomy, compiled=settings.compiled_reads)
    return _runner(settings, engine, executor, access)


@pytest.fixture(scope="session")
def gql_field_by_field(settings: Settings, engine: AsyncEngine, access: Access) -> GraphQL:
    """:func:`gql` with compiled reads off: for tests of the field-by-field path itself (its
    loaders' batching), which the compiled path would otherwise answer."""
    executor = Executor(build_schema(), settings.document_cache_size, compiled=False)
    return _runner(settings, engine, executor, access)


def _runner(settings: Settings, engine: AsyncEngine, executor: Executor, access: Access) -> GraphQL:

    async def run(
        query: str,
        variables: dict[str, Any] | None = None,
        operation_name: str | None = None,
        now: datetime | None = None,
        plan: Plan | None = None,
        as_: str | None = None,
        purpose: str | None = None,
    ) -> dict[str, Any]:
        context = RequestContext.build(settings, engine, plan or OpenPlan())
        if now is not None:
            context.now = now
        try:
            if as_ is not None:
                kind = "client" if as_.endswith("-app") else "person"
                context.identity = Identity(as_, kind, None, settings.issuer, None)
                context.plan = await access.plan_for(
                    context.identity, purpose, await context.connection()
                )
            body = await executor.run(executor.prepare(query), variables, operation_name, context)
            # Compiled answers are spliced in as the database wrote them: read them as a
            # client would.
            return dict(orjson.loads(orjson.dumps(body)))
        finally:
            await context.close()

    return run


@pytest.fixture(scope="session")
def hub_keys(settings: Settings) -> HubKeys:
    """The keys a server on :func:`settings` signs with (made on first use)."""
    return HubKeys.load_or_create(settings.key_dir)


@pytest.fixture(scope="session")
def token_for(
    settings: Settings, hub_keys: HubKeys, demo_clients: dict[str, NewClient]
) -> Callable[[str], str]:
    """A valid hub-signed token for a seeded principal (an app's carries its client id)."""

    def mint(subject: str) -> str:
        client = demo_clients.get(subject)
        if client is not None:
            return issue_token(hub_keys, settings, subject, "client", client_id=client.client_id)
        return issue_token(hub_keys, settings, subject, "person")

    return mint
