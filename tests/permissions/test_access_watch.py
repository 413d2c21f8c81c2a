"""On PostgreSQL a hub keeps a principal's row between requests and hears every change to it.

The kept row saves a round trip per request; these tests make sure it is never used after a
change: an area reassigned, a principal deleted (its live tokens end), a policy bumped — made
on another connection, as another process would make them — and that nothing is kept while the
listener is down.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from auth.principal import Identity, Unauthenticated
from hub.settings import Settings
from policies.access import Access
from policies.access_watch import AccessWatch
from tests.conftest import StatementCounter

SUBJECT = "watched-worker"
GRID, OTHER_GRID = "440306001001001", "440306001001002"


@pytest.fixture
async def watch(backend: str, settings: Settings) -> AsyncIterator[AccessWatch]:
    if backend != "postgresql":
        pytest.skip("notifications are PostgreSQL's; on SQLite every request reads")
    watch = AccessWatch(settings.database_url)
    await watch.start()
    assert watch.live
    yield watch
    await watch.close()


@pytest.fixture
async def principal(engine: AsyncEngine) -> AsyncIterator[str]:
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO principals (subject, kind, name, department_code)"
                " VALUES (:s, 'person', 'watched', 'grid_office')"
            ),
            {"s": SUBJECT},
        )
        await connection.execute(
            text("INSERT INTO principal_grids (subject, grid_code) VALUES (:s, :g)"),
            {"s": SUBJECT, "g": GRID},
        )
    yield SUBJECT
    async with engine.begin() as connection:
        await connection.execute(text("DELETE FROM principals WHERE subject = :s"), {"s": SUBJECT})


async def heard(watch: AccessWatch, since: int) -> None:
    for _ in range(200):
        if watch.generation != since:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("no notification within 2 s")


IDENTITY = Identity(SUBJECT, "person", None, "gridhub", None)


async def areas(access: Access, engine: AsyncEngine) -> tuple[str, ...]:
    async with engine.connect() as connection:
        plan = await access.plan_for(IDENTITY, None, connection)
    return tuple(plan.principal.areas)


async def test_a_kept_principal_costs_no_statement_until_it_changes(
    watch: AccessWatch, principal: str, engine: AsyncEngine, statements: StatementCounter
) -> None:
    await _settled(watch)  # the fixture's own committed changes are heard first, not mid-test
    access = Access.create(engine, watch)
    assert await areas(access, engine) == (GRID,)
    with statements:
        assert await areas(access, engine) == (GRID,)
    assert statements.statements == []

    before = watch.generation
    async with engine.begin() as connection:  # another process reassigns the worker
        await connection.execute(
            text("UPDATE principal_grids SET grid_code = :g WHERE subject = :s"),
            {"g": OTHER_GRID, "s": SUBJECT},
        )
    await heard(watch, before)
    assert await areas(access, engine) == (OTHER_GRID,)

    before = watch.generation
    async with engine.begin() as connection:
        await connection.execute(text("DELETE FROM principals WHERE subject = :s"), {"s": SUBJECT})
    await heard(watch, before)
    with pytest.raises(Unauthenticated):
        await areas(access, engine)


async def test_a_rolled_back_change_is_not_heard(
    watch: AccessWatch, principal: str, engine: AsyncEngine
) -> None:
    before = await _settled(watch)  # the fixture's own committed changes are heard first
    async with engine.connect() as connection:
        await connection.execute(
            text("DELETE FROM principal_grids WHERE subject = :s"), {"s": SUBJECT}
        )
        await connection.rollback()
    await asyncio.sleep(0.2)
    assert watch.generation == before


async def _settled(watch: AccessWatch, quiet: float = 0.3) -> int:
    """The watch's generation once no notification has arrived for ``quiet`` seconds."""
    generation = watch.generation
    while True:
        await asyncio.sleep(quiet)
        if watch.generation == generation:
            return generation
        generation = watch.generation


async def test_nothing_is_kept_while_the_listener_is_down(
    watch: AccessWatch, principal: str, engine: AsyncEngine, statements: StatementCounter
) -> None:
    access = Access.create(engine, watch)
    await areas(access, engine)
    async with engine.begin() as connection:  # the database drops the listener's connection
        await connection.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE pid <> pg_backend_pid() AND query LIKE 'LISTEN%'"
                " AND datname = current_database()"
            )
        )
    for _ in range(200):
        if not watch.live:
            break
        await asyncio.sleep(0.01)
    assert not watch.live
    with statements:
        await areas(access, engine)
        await areas(access, engine)
    assert len(statements.statements) == 2  # read every time

    for _ in range(500):  # it reconnects by itself
        if watch.live:
            break
        await asyncio.sleep(0.02)
    assert watch.live
    await areas(access, engine)
    with statements:
        await areas(access, engine)
    assert statements.statements == []


async def test_a_deleted_clients_kept_tokens_end_at_once(
    watch: AccessWatch, engine: AsyncEngine
) -> None:
    """``gridhub client delete`` on another process: the app's other client goes on."""
    app = "watched-app"
    old = Identity(app, "client", "gh_watched_old", "gridhub", None)
    new = Identity(app, "client", "gh_watched_new", "gridhub", None)
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO principals (subject, kind, name, department_code)"
                " VALUES (:s, 'client', 'watched', 'housing')"
            ),
            {"s": app},
        )
        for identity in (old, new):
            await connection.execute(
                text(
                    "INSERT INTO oauth_clients (client_id, secret_hash, subject, created_at)"
                    " VALUES (:c, 'not a hash', :s, CURRENT_TIMESTAMP)"
                ),
                {"c": identity.client_id, "s": app},
            )
    try:
        access = Access.create(engine, watch)
        async with engine.connect() as connection:
            for identity in (old, new):  # both kept now
                await access.plan_for(identity, None, connection)

        before = watch.generation
        async with engine.begin() as connection:
            await connection.execute(
                text("DELETE FROM oauth_clients WHERE client_id = :c"), {"c": old.client_id}
            )
        await heard(watch, before)
        async with engine.connect() as connection:
            with pytest.raises(Unauthenticated):
                await access.plan_for(old, None, connection)
            assert (await access.plan_for(new, None, connection)).principal.subject == app
    finally:
        async with engine.begin() as connection:
            await connection.execute(text("DELETE FROM principals WHERE subject = :s"), {"s": app})


async def test_closing_the_watch_is_not_reported_as_losing_it(
    backend: str, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """Every clean shutdown closes the listener; that must not read as an outage in the log
    (operators learn to ignore a warning that comes at every stop)."""
    if backend != "postgresql":
        pytest.skip("notifications are PostgreSQL's; on SQLite every request reads")
    watch = AccessWatch(settings.database_url)
    await watch.start()
    assert watch.live
    with caplog.at_level(logging.INFO, logger="policies.access_watch"):
        await watch.close()
        await asyncio.sleep(0.1)  # a termination listener runs on the next loop turn
    assert not watch.live
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


async def test_losing_the_listener_is_still_reported(
    backend: str, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """The other side of the one above: the database ending the connection is a loss."""
    if backend != "postgresql":
        pytest.skip("notifications are PostgreSQL's; on SQLite every request reads")
    watch = AccessWatch(settings.database_url)
    await watch.start()
    connection = watch._connection
    assert connection is not None
    try:
        with caplog.at_level(logging.INFO, logger="policies.access_watch"):
            connection.terminate()  # as when the server ends it
            await asyncio.sleep(0.1)
    finally:
        await watch.close()
    assert any("Lost the access-change listener" in r.getMessage() for r in caplog.records)
