"""The SQLite driver: one thread hop per statement, and the same answers, errors and
transactions as the stock adapter (``store.sqlite_driver``).

Each test opens its own database file through the hub's own ``create_engine``; the hops are
counted where aiosqlite hands a call to its thread.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiosqlite
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import exc, text
from sqlalchemy.ext.asyncio import AsyncEngine

from store.engine import create_engine
from store.sqlite_driver import OneHopConnection


class Hops:
    """Calls handed to aiosqlite's thread while counting."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.on = False


@pytest.fixture
def hops(monkeypatch: pytest.MonkeyPatch) -> Hops:
    seen = Hops()
    execute = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        if seen.on:
            seen.names.append(getattr(fn, "__name__", repr(fn)))
        return await execute(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    return seen


def _engine(path: Path) -> AsyncEngine:
    return create_engine(
        SimpleNamespace(
            database_url=f"sqlite+aiosqlite:///{path}",
            database_connect_timeout=5.0,
            database_statement_timeout=5.0,
        )
    )


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = _engine(tmp_path / "driver.db")
    async with engine.begin() as connection:
        await connection.execute(
            text("CREATE TABLE things (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)")
        )
    yield engine
    await engine.dispose()


async def test_the_engine_uses_the_one_hop_driver(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        raw = await connection.get_raw_connection()
        assert isinstance(raw.dbapi_connection, OneHopConnection)


async def test_a_read_costs_one_hop_and_its_connection_none_more(
    engine: AsyncEngine, hops: Hops
) -> None:
    """Stock: cursor, execute, fetchall, close, and a rollback at check-in (five)."""
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))  # the connection made, pragmas run
    hops.on = True
    async with engine.connect() as connection:
        rows = (await connection.execute(text("SELECT 41 + 1 AS n, 'x' AS s"))).all()
    hops.on = False
    assert [tuple(row) for row in rows] == [(42, "x")]
    assert hops.names == ["_run"]


async def test_a_write_costs_a_hop_per_statement_and_one_for_its_commit(
    engine: AsyncEngine, hops: Hops
) -> None:
    hops.on = True
    async with engine.begin() as connection:
        result = await connection.execute(text("INSERT INTO things (name) VALUES ('a')"))
        assert result.rowcount == 1
        assert result.lastrowid == 1
        await connection.execute(
            text("INSERT INTO things (name) VALUES (:name)"), [{"name": "b"}, {"name": "c"}]
        )
    hops.on = False
    assert hops.names == ["_run", "_run", "commit"]
    async with engine.connect() as connection:
        names = (await connection.execute(text("SELECT name FROM things ORDER BY id"))).all()
    assert [name for (name,) in names] == ["a", "b", "c"]


async def test_returning_rows_and_their_count(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        result = await connection.execute(
            text("INSERT INTO things (name) VALUES ('p'), ('q') RETURNING id, name")
        )
        assert [tuple(row) for row in result.all()] == [(1, "p"), (2, "q")]
        changed = await connection.execute(text("UPDATE things SET name = name || '!'"))
        assert changed.rowcount == 2


async def test_a_transaction_not_committed_is_rolled_back(engine: AsyncEngine) -> None:
    """The rollback is skipped only where nothing was begun: an uncommitted write is undone
    when its connection goes back to the pool, and the next checkout does not see it."""
    async with engine.connect() as connection:
        await connection.execute(text("INSERT INTO things (name) VALUES ('lost')"))
    async with engine.connect() as connection:
        assert (await connection.execute(text("SELECT count(*) FROM things"))).scalar() == 0


async def test_errors_are_the_drivers_and_leave_the_connection_usable(
    engine: AsyncEngine,
) -> None:
    async with engine.begin() as connection:
        await connection.execute(text("INSERT INTO things (name) VALUES ('one')"))
    async with engine.connect() as connection:
        with pytest.raises(exc.IntegrityError):
            await connection.execute(text("INSERT INTO things (name) VALUES ('one')"))
        await connection.rollback()
        with pytest.raises(exc.OperationalError, match="no such table"):
            await connection.execute(text("SELECT * FROM nothing_here"))
        assert (await connection.execute(text("SELECT count(*) FROM things"))).scalar() == 1


async def test_streaming_reads_in_parts(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(
            text("INSERT INTO things (name) VALUES (:name)"),
            [{"name": f"n{i:03}"} for i in range(250)],
        )
    async with engine.connect() as connection:
        streamed = await connection.stream(text("SELECT name FROM things ORDER BY id"))
        names = [name async for (name,) in streamed]
    assert names == [f"n{i:03}" for i in range(250)]


@settings(max_examples=40, deadline=None)
@given(
    values=st.lists(
        st.one_of(
            st.none(),
            st.integers(min_value=-(2**63), max_value=2**63 - 1),
            st.floats(allow_nan=False),
            st.text(),
            st.binary(),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_any_values_come_back_as_they_went_in(tmp_path_factory: Any, values: list[Any]) -> None:
    """A statement's parameters and rows pass through the SQLite thread unchanged."""
    import asyncio

    async def round_trip() -> list[Any]:
        engine = _engine(tmp_path_factory.mktemp("values") / "values.db")
        try:
            columns = ", ".join(f":v{i} AS c{i}" for i in range(len(values)))
            async with engine.connect() as connection:
                row = (
                    await connection.execute(
                        text(f"SELECT {columns}"), {f"v{i}": v for i, v in enumerate(values)}
                    )
                ).one()
            return list(row)
        finally:
            await engine.dispose()

    assert asyncio.run(round_trip()) == values
