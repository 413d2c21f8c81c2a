"""The audit log's monthly partitions on PostgreSQL: their months, names and DDL.

On PostgreSQL ``audit_entries`` and its two search-index tables (``audit_person_reads``,
``audit_field_reads``) are partitioned by range of ``at``, one partition per calendar month in
UTC, so that the log's oldest months leave as a ``DROP TABLE`` (retention, :mod:`audit.retention`)
rather than as a ``DELETE`` of millions of rows, and a search over the last 30 days reads only
the partitions those days fall in. An index row's ``at`` is its entry's, so an entry and its
index rows always sit in partitions of the same month.

Each table also has a DEFAULT partition, so that an entry whose month has no partition yet is
still written (an audit write that fails is a request refused: a missing partition must never
be an outage). Partitions are made ahead of time (:func:`ensure_months`, run by every hub
process at start and daily, and by ``gridhub audit partitions``); rows that landed in a default
partition are moved into their month's partition when it is made.

SQLite keeps plain tables: nothing here applies to it. This module is the one place that knows
the partitions' names; the migration and :mod:`audit.partitions` both use it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from store import spatial

#: The partitioned tables, the entries first.
PARTITIONED_TABLES = ("audit_entries", "audit_person_reads", "audit_field_reads")
_PARTITION_NAME = re.compile(
    r"^(?P<table>audit_entries|audit_person_reads|audit_field_reads)_"
    r"(?:y(?P<year>\d{4})m(?P<month>\d{2})|default)$"
)
#: Months made ahead of the current one.
MONTHS_AHEAD = 3
#: How long partition DDL waits for a lock before it gives up (and is tried again later):
#: it waits behind a long read of the log, and every audit write would queue behind it.
LOCK_TIMEOUT = "2s"
#: Serialises partition DDL between hub processes (``pg_advisory_xact_lock``).
ADVISORY_LOCK = 0x6772_6964_6175  # "gridau"


@dataclass(frozen=True, order=True)
class Month:
    """A calendar month in UTC."""

    year: int
    month: int

    def __post_init__(self) -> None:
        if not 1 <= self.month <= 12 or not 1 <= self.year <= 9999:
            raise ValueError(f"no month {self.year:04d}-{self.month:02d}")

    @classmethod
    def parse(cls, value: str) -> Month:
        """``YYYY-MM``; ``ValueError`` otherwise."""
        found = re.fullmatch(r"(\d{4})-(\d{2})", value.strip())
        if found is None:
            raise ValueError(f"{value!r} is not a month (YYYY-MM)")
        return cls(int(found.group(1)), int(found.group(2)))

    @classmethod
    def of(cls, at: datetime) -> Month:
        at = at.astimezone(UTC)
        return cls(at.year, at.month)

    @property
    def start(self) -> datetime:
        return datetime(self.year, self.month, 1, tzinfo=UTC)

    @property
    def end(self) -> datetime:
        return self.next().start

    def next(self) -> Month:
        return Month(self.year + self.month // 12, self.month % 12 + 1)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


def partition_name(table: str, month: Month | None) -> str:
    """The partition of ``table`` for ``month`` (None: the default partition)."""
    if month is None:
        return f"{table}_default"
    return f"{table}_y{month.year:04d}m{month.month:02d}"


def is_partition(name: str) -> bool:
    """Whether a table name is one of the audit log's partitions (not a table the models
    declare: the migrations' comparison with the models leaves them out)."""
    return _PARTITION_NAME.match(name) is not None


def month_of_partition(name: str) -> Month | None:
    """The month a partition holds (None for a default partition or another table)."""
    found = _PARTITION_NAME.match(name)
    if found is None or found.group("year") is None:
        return None
    return Month(int(found.group("year")), int(found.group("month")))


def _bound(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S+00")


def create_partition_sql(table: str, month: Month) -> str:
    return (
        f"CREATE TABLE {partition_name(table, month)} PARTITION OF {table} "
        f"FOR VALUES FROM ('{_bound(month.start)}') TO ('{_bound(month.end)}')"
    )


def create_default_sql(table: str) -> str:
    return f"CREATE TABLE {partition_name(table, None)} PARTITION OF {table} DEFAULT"


_PARTITIONS = text(
    "SELECT c.relname FROM pg_inherits AS i"
    " JOIN pg_class AS c ON c.oid = i.inhrelid"
    " JOIN pg_class AS p ON p.oid = i.inhparent"
    " WHERE p.relname = :table AND p.relnamespace = current_schema()::regnamespace"
)
_IS_PARTITIONED = text(
    "SELECT count(*) FROM pg_partitioned_table AS t JOIN pg_class AS c ON c.oid = t.partrelid"
    " WHERE c.relname = 'audit_entries' AND c.relnamespace = current_schema()::regnamespace"
)


async def is_partitioned(connection: AsyncConnection) -> bool:
    """Whether the log is partitioned here (PostgreSQL after migration 0017)."""
    if connection.dialect.name != "postgresql":
        return False
    return bool((await connection.execute(_IS_PARTITIONED)).scalar_one())


async def months_of(connection: AsyncConnection, table: str = "audit_entries") -> list[Month]:
    """The months ``table`` has a partition for, oldest first."""
    names = (await connection.execute(_PARTITIONS, {"table": table})).scalars()
    return sorted(month for name in names if (month := month_of_partition(name)) is not None)


async def ensure_months(connection: AsyncConnection, months: list[Month]) -> list[Month]:
    """Make the partitions of ``months`` each table lacks, in the caller's transaction; rows
    of such a month already in a default partition move into the new partition. Returns the
    months made (for any table).

    Takes the partitions' advisory lock and a short lock timeout: a caller that times out
    (a long read holds the log) tries again later; nothing waits behind it meanwhile.
    """
    await connection.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
    await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK})
    made: set[Month] = set()
    for table in PARTITIONED_TABLES:
        have = set(await months_of(connection, table))
        for month in sorted(set(months) - have):
            await _make(connection, table, month)
            made.add(month)
    return sorted(made)


async def _make(connection: AsyncConnection, table: str, month: Month) -> None:
    default = partition_name(table, None)
    bounds = {"start": month.start, "end": month.end}
    waiting = await connection.execute(
        text(f"SELECT EXISTS (SELECT 1 FROM {default} WHERE at >= :start AND at < :end)"),
        bounds,
    )
    if not waiting.scalar_one():
        await connection.execute(text(create_partition_sql(table, month)))
        return
    # Rows of this month are in the default partition: a partition for them can not be
    # created while they are there. Build it apart, move them, then attach it.
    name = partition_name(table, month)
    await connection.execute(
        text(f"CREATE TABLE {name} (LIKE {table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
    )
    await connection.execute(
        text(
            f"WITH moved AS (DELETE FROM {default} WHERE at >= :start AND at < :end RETURNING *)"
            f" INSERT INTO {name} SELECT * FROM moved"
        ),
        bounds,
    )
    await connection.execute(
        text(
            f"ALTER TABLE {table} ATTACH PARTITION {name} FOR VALUES FROM "
            f"('{_bound(month.start)}') TO ('{_bound(month.end)}')"
        )
    )


def months_between(first: Month, last: Month) -> list[Month]:
    """``first`` to ``last``, both included."""
    months = []
    month = first
    while month <= last:
        months.append(month)
        month = month.next()
    return months


def months_ahead(now: datetime, ahead: int = MONTHS_AHEAD) -> list[Month]:
    """The current month and the ``ahead`` after it."""
    months = [Month.of(now)]
    for _ in range(ahead):
        months.append(months[-1].next())
    return months


def compared_with_models(dialect: str) -> Any:
    """Alembic's ``include_object`` for comparing the database with the models: partitions
    are not tables the models declare, and on PostgreSQL ``(writer_id, seq)`` is an index where
    the models (SQLite) have a unique constraint (see :mod:`store.models.audit`); PostGIS's own
    tables and the grids' generated geometry are not the models' either (:mod:`store.spatial`)."""

    def include(
        object: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
    ) -> bool:
        if type_ == "table" and name is not None and is_partition(name):
            return False
        if type_ == "table" and name in spatial.EXTENSION_OBJECTS:
            return False
        if name in (spatial.GEOMETRY_COLUMN, spatial.GEOMETRY_INDEX):
            return False
        if dialect == "postgresql" and name in (
            "uq_audit_entries_writer_id_seq",
            "ix_audit_entries_writer_id_seq",
        ):
            return False
        return True

    return include
