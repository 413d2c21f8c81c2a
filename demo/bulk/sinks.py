"""Where a streamed district's rows go: PostgreSQL through ``COPY``, SQLite through inserts.

Both write the whole district in one transaction, so a failure leaves the database as it was.

On PostgreSQL the bulk tables' indexes, primary keys, unique and foreign-key constraints are
read from the catalogue and dropped inside that transaction, the tables are truncated (they are
empty) so that ``COPY … FREEZE`` writes rows already frozen and visible to index-only scans, and
after the last row every index and constraint is made again from its own definition — so what
the migrations made is what the database ends with — and the tables are analysed. Indexes
built over a loaded table take a fraction of the time of indexes kept up row by row, and
PostgreSQL builds each with its parallel workers. The transaction holds the bulk tables locked
until it commits: seed a database nobody uses yet.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import asyncpg
from sqlalchemy import Table, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from demo.bulk.pieces import BULK_TABLES, COLUMNS, NULL, as_dicts
from demo.bulk.workers import Format, Piece
from demo.loader import DistrictNotEmptyError
from store.models import Department, Grid, Matter

Progress = Callable[[str, int, int | None], None]
Row = dict[str, Any]
#: Memory for each index build (PostgreSQL's, not this process's).
MAINTENANCE_WORK_MEM = "512MB"


class Sink:
    """One load: reference rows, then pieces, then :meth:`finish`; all or nothing."""

    format: Format

    async def reference(self, departments: list[Row], matters: list[Row], grids: list[Row]) -> None:
        raise NotImplementedError

    async def write(self, piece: Piece) -> None:
        raise NotImplementedError

    async def finish(self, progress: Progress | None) -> None:
        raise NotImplementedError


def _postgres_dsn(engine: AsyncEngine) -> str:
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


class PostgresSink(Sink):
    """``COPY`` into the bulk tables, their indexes and constraints made again at the end."""

    format: Format = "copy"

    def __init__(self, connection: asyncpg.Connection) -> None:
        self.connection = connection
        self._restore: list[tuple[str, str]] = []  # (what, SQL), in the order to run them

    async def prepare(self) -> None:
        conn = self.connection
        await conn.execute(f"SET LOCAL maintenance_work_mem = '{MAINTENANCE_WORK_MEM}'")
        names = list(BULK_TABLES)
        if await conn.fetchval("SELECT EXISTS (SELECT 1 FROM grids)"):
            raise DistrictNotEmptyError("the database already holds a district")
        for name in names:
            if await conn.fetchval(f'SELECT EXISTS (SELECT 1 FROM "{name}")'):
                raise DistrictNotEmptyError(f"the table {name} is not empty")
        oids = [await conn.fetchval("SELECT to_regclass($1)::oid", f'"{name}"') for name in names]
        constraints = await conn.fetch(
            """
            SELECT c.conname, c.conrelid::regclass::text AS tab, c.contype::text AS contype,
                   pg_get_constraintdef(c.oid) AS def
            FROM pg_constraint c
            WHERE (c.contype IN ('p', 'u') AND c.conrelid = ANY($1::oid[]))
               OR (c.contype = 'f'
                   AND (c.conrelid = ANY($1::oid[]) OR c.confrelid = ANY($1::oid[])))
            ORDER BY c.contype = 'f', c.conrelid::regclass::text, c.conname
            """,
            oids,
        )
        indexes = await conn.fetch(
            """
            SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS def
            FROM pg_index i
            WHERE i.indrelid = ANY($1::oid[])
              AND NOT EXISTS (SELECT 1 FROM pg_constraint c
                              WHERE c.conindid = i.indexrelid AND c.conrelid = i.indrelid)
            ORDER BY 1
            """,
            oids,
        )
        keys = [c for c in constraints if c["contype"] != "f"]
        foreign = [c for c in constraints if c["contype"] == "f"]
        for c in foreign + keys:
            await conn.execute(f'ALTER TABLE {c["tab"]} DROP CONSTRAINT "{c["conname"]}"')
        for index in indexes:
            await conn.execute(f"DROP INDEX {index['name']}")
        await conn.execute("TRUNCATE " + ", ".join(f'"{name}"' for name in names))
        self._restore = (
            [
                (c["conname"], f'ALTER TABLE {c["tab"]} ADD CONSTRAINT "{c["conname"]}" {c["def"]}')
                for c in keys
            ]
            + [(index["name"], index["def"]) for index in indexes]
            + [
                (c["conname"], f'ALTER TABLE {c["tab"]} ADD CONSTRAINT "{c["conname"]}" {c["def"]}')
                for c in foreign
            ]
        )

    async def reference(self, departments: list[Row], matters: list[Row], grids: list[Row]) -> None:
        for model, rows in ((Department, departments), (Matter, matters), (Grid, grids)):
            table: Table = model.__table__
            found = await self.connection.fetch(f"SELECT code FROM {table.name}")
            present = {record[0] for record in found}
            columns = [column.name for column in table.columns]
            records = [
                tuple(row[column] for column in columns)
                for row in sorted(rows, key=lambda row: len(row["code"]))
                if row["code"] not in present
            ]
            if records:
                await self.connection.copy_records_to_table(
                    table.name, records=records, columns=columns
                )

    async def write(self, piece: Piece) -> None:
        payload = piece.payload
        if not isinstance(payload, bytes):
            raise TypeError("the PostgreSQL loader takes COPY text")

        async def source() -> AsyncIterator[bytes]:
            yield payload

        await self.connection.copy_to_table(
            piece.table,
            source=source(),
            columns=list(COLUMNS[piece.table]),
            format="text",
            null=NULL,
            freeze=True,
        )

    async def finish(self, progress: Progress | None) -> None:
        analyse = [(f"analyze {name}", f'ANALYZE "{name}"') for name in [*BULK_TABLES, "grids"]]
        steps = [*self._restore, *analyse]
        for done, (_what, sql) in enumerate(steps, start=1):
            await self.connection.execute(sql)
            if progress is not None:
                progress("indexes", done, len(steps))


class SQLiteSink(Sink):
    """Inserts through SQLAlchemy, in the transaction of ``connection``."""

    format: Format = "rows"

    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    async def prepare(self) -> None:
        if await self.connection.scalar(select(Grid.code).limit(1)) is not None:
            raise DistrictNotEmptyError("the database already holds a district")

    async def reference(self, departments: list[Row], matters: list[Row], grids: list[Row]) -> None:
        for model, rows in ((Department, departments), (Matter, matters), (Grid, grids)):
            table: Table = model.__table__
            present = set(await self.connection.scalars(select(table.c.code)))
            new = [row for row in rows if row["code"] not in present]
            new.sort(key=lambda row: len(row["code"]))
            if new:
                await self.connection.execute(insert(table), new)

    async def write(self, piece: Piece) -> None:
        payload = piece.payload
        if isinstance(payload, bytes):
            raise TypeError("the SQLite loader takes rows")
        rows: Sequence[Any] = as_dicts(piece.table, payload)
        await self.connection.execute(insert(BULK_TABLES[piece.table]), list(rows))

    async def finish(self, progress: Progress | None) -> None:
        if progress is not None:
            progress("indexes", 1, 1)


async def open_postgres(engine: AsyncEngine) -> asyncpg.Connection:
    """A plain asyncpg connection to the engine's database (``COPY`` needs the driver's own)."""
    return await asyncpg.connect(_postgres_dsn(engine))
