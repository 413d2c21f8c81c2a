"""Writing a generated district into the database: parents before children, in chunks."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Table, insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from demo.generator import District
from store.models import (
    Address,
    Base,
    Department,
    Entity,
    Event,
    EventAction,
    Grid,
    House,
    Matter,
    Person,
    Room,
)

#: Rows per INSERT: big enough to amortise the round trip, small enough for SQLite's limits.
CHUNK_SIZE = 2_000

Progress = Callable[[str, int, int], None]

#: District fields and their models, in an order that satisfies every foreign key.
TABLES: tuple[tuple[str, type[Base]], ...] = (
    ("departments", Department),
    ("matters", Matter),
    ("grids", Grid),
    ("houses", House),
    ("rooms", Room),
    ("addresses", Address),
    ("people", Person),
    ("entities", Entity),
    ("events", Event),
    ("event_actions", EventAction),
)


class DistrictNotEmptyError(RuntimeError):
    """The database already holds areas: seeding again would mix two districts."""


async def is_empty(engine: AsyncEngine) -> bool:
    """True when no area exists; every place-bound row needs one, so nothing else does either."""
    async with engine.connect() as connection:
        found = await connection.scalar(select(Grid.code).limit(1))
    return found is None


async def load(engine: AsyncEngine, district: District, progress: Progress | None = None) -> None:
    """Insert the whole district in one transaction, so a failure leaves nothing behind.

    Refuses (:class:`DistrictNotEmptyError`) a database that already has areas: two districts
    would collide on their codes half-way through anyway.

    Departments and matters that are already there (another component may have registered the
    reference data first) are kept as they are and not inserted again.
    """
    async with engine.begin() as connection:
        if await connection.scalar(select(Grid.code).limit(1)) is not None:
            raise DistrictNotEmptyError("the database already holds a district")
        for name, model in TABLES:
            rows: Sequence[dict[str, Any]] = getattr(district, name)
            if name == "grids":
                rows = sorted(rows, key=lambda row: len(row["code"]))  # parents first
            if model in (Department, Matter):
                rows = await _new_reference_rows(connection, model, rows)
            await _insert(connection, model.__table__, name, rows, progress)
        await _follow_sequences(connection, [model.__table__ for _, model in TABLES])


async def _follow_sequences(connection: AsyncConnection, tables: Sequence[Table]) -> None:
    """On PostgreSQL, move each serial key's sequence past the ids the district brought (they
    are inserted as generated, so the sequence never ran): the next row a writer adds, a
    reported event, gets a fresh id. SQLite's keys follow the largest id by themselves."""
    if connection.dialect.name != "postgresql":
        return
    for table in tables:
        key = table.c.get("id")
        if key is None or not key.primary_key or key.type.python_type is not int:
            continue
        await connection.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'),"
                f" COALESCE((SELECT MAX(id) FROM {table.name}), 0) + 1, false)"
            )
        )


async def _new_reference_rows(
    connection: AsyncConnection, model: type[Base], rows: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    code = model.__table__.c.code
    present = set(await connection.scalars(select(code)))
    return [row for row in rows if row["code"] not in present]


async def _insert(
    connection: AsyncConnection,
    table: Table,
    name: str,
    rows: Sequence[dict[str, Any]],
    progress: Progress | None,
) -> None:
    if not rows and progress is not None:
        progress(name, 0, 0)
    for start in range(0, len(rows), CHUNK_SIZE):
        chunk = rows[start : start + CHUNK_SIZE]
        await connection.execute(insert(table), list(chunk))
        if progress is not None:
            progress(name, start + len(chunk), len(rows))
