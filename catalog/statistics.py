"""Live statistics of the catalogued data: rows, completeness per field, last change.

They are computed from the data when asked for, one statement per table: ``count(*)``, one
``count(CASE WHEN <has a value> ...)`` per data item and the newest of the time columns, in one
scan. A value is there when its column is not null and, for text, not empty (a care-tag list
with no tag is empty).

That scan is **exact** and costs a pass over the table: fine for the thousands of rows of most
tables, seconds for a district's millions of people or tens of millions of events. So on
PostgreSQL a table the planner believes larger than ``exact_up_to`` rows (200,000 by default) is
**estimated** instead, within a few milliseconds whatever its size: its rows from the planner's
own estimate (``pg_class.reltuples`` scaled to the table's current size, as the planner does),
the share of rows with each value from a block sample of about :data:`SAMPLE_ROWS` rows
(``TABLESAMPLE SYSTEM``), the last change from ``max`` over the indexed time columns (exact).
Each answer says which it is (:attr:`TypeStatistics.method`). SQLite always counts exactly: an
embedded hub's tables are small.

Statistics are counts over the whole district, whoever asks: they show how much data a resource
holds and how complete it is, never a value, so they are metadata like the rest of the
catalogue. A request measures each table at most once, however many resources of it it shows.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, String, and_, case, func, literal, select, text
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.util import ClauseAdapter

from catalog.columns import STORED

#: Tables the planner believes larger than this are estimated (PostgreSQL).
EXACT_UP_TO = 200_000
#: About how many rows an estimate's sample reads.
SAMPLE_ROWS = 30_000


class Method(enum.StrEnum):
    """How statistics were obtained."""

    EXACT = "exact"
    ESTIMATED = "estimated"


@dataclass(frozen=True, slots=True)
class TypeStatistics:
    """What one table holds: its rows, how many have each data item, when it last changed."""

    rows: int
    filled: Mapping[str, int]
    #: The newest value of the table's time columns; None when it has none (or no rows).
    last_changed: datetime | None
    method: Method = Method.EXACT

    def completeness(self, field: str) -> float | None:
        """The share of rows that have a value for ``field``; None when there are no rows."""
        return None if self.rows == 0 else self.filled[field] / self.rows


def _has_value(columns: tuple[Any, ...]) -> ColumnElement[bool]:
    tests = []
    for column in columns:
        tests.append(column.is_not(None))
        if isinstance(column.type, String):
            tests.append(column != "")
    return and_(*tests)


def _aware(value: datetime | date | None, zone: ZoneInfo) -> datetime | None:
    """A time column's value as an aware datetime: a date counts from its start, in the
    district's time zone."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.combine(value, time(), zone)


#: The planner's row estimate of a table: its last counted density times its current size.
_PLANNED_ROWS = text(
    "SELECT CASE WHEN c.reltuples < 0 THEN NULL"
    " WHEN c.relpages = 0 THEN c.reltuples"
    " ELSE c.reltuples / c.relpages"
    " * (pg_relation_size(c.oid) / current_setting('block_size')::int) END"
    " FROM pg_class AS c WHERE c.oid = to_regclass(:table)"
)


async def planned_rows(connection: AsyncConnection, table: str) -> int | None:
    """The planner's estimate of a PostgreSQL table's rows; None if never analysed."""
    found = (await connection.execute(_PLANNED_ROWS, {"table": table})).scalar_one_or_none()
    return None if found is None else round(found)


async def measure(
    connection: AsyncConnection,
    type_name: str,
    timezone: str,
    exact_up_to: int = EXACT_UP_TO,
) -> TypeStatistics:
    """Count ``type_name``'s table in one statement (the whole district), or estimate it on
    PostgreSQL when the planner believes it holds more than ``exact_up_to`` rows."""
    stored = STORED[type_name]
    distinct = list(dict.fromkeys(stored.items.values()))
    columns = [func.count().label("rows")]
    columns += [
        func.count(case((_has_value(item), 1))).label(f"item_{i}")
        for i, item in enumerate(distinct)
    ]
    zone = ZoneInfo(timezone)
    planned = None
    if connection.dialect.name == "postgresql":
        planned = await planned_rows(connection, stored.table.name)
    if planned is not None and planned > exact_up_to:
        percent = min(100.0, 100.0 * SAMPLE_ROWS / planned)
        sample = stored.table.tablesample(func.system(percent), seed=literal(0))
        adapter = ClauseAdapter(sample)
        sampling = select(*(adapter.traverse(column) for column in columns)).select_from(sample)
        row = (await connection.execute(sampling)).one()._mapping
        sampled = int(row["rows"])
        scale = planned / sampled if sampled else 0.0
        counts = {item: round(int(row[f"item_{i}"]) * scale) for i, item in enumerate(distinct)}
        changed = [
            await connection.scalar(select(func.max(stored.column(field))))
            for field in stored.changed_at
        ]
        rows, method = planned, Method.ESTIMATED
    else:
        columns += [
            func.max(stored.column(field)).label(f"changed_{i}")
            for i, field in enumerate(stored.changed_at)
        ]
        row = (await connection.execute(select(*columns).select_from(stored.table))).one()._mapping
        counts = {item: int(row[f"item_{i}"]) for i, item in enumerate(distinct)}
        changed = [row[f"changed_{i}"] for i in range(len(stored.changed_at))]
        rows, method = int(row["rows"]), Method.EXACT
    times = [aware for value in changed if (aware := _aware(value, zone)) is not None]
    return TypeStatistics(
        rows=rows,
        filled={field: min(rows, counts[item]) for field, item in stored.items.items()},
        last_changed=max(times, default=None),
        method=method,
    )


class StatisticsCache:
    """The statistics one request shows: each table measured once, on the request's
    connection, however many resources of it are listed."""

    def __init__(
        self,
        connect: Callable[[], Awaitable[AsyncConnection]],
        timezone: str,
        exact_up_to: int = EXACT_UP_TO,
    ) -> None:
        self._connect = connect
        self._timezone = timezone
        self._exact_up_to = exact_up_to
        self._measured: dict[str, TypeStatistics] = {}
        self._lock = asyncio.Lock()

    async def of(self, type_name: str) -> TypeStatistics:
        async with self._lock:
            found = self._measured.get(type_name)
            if found is None:
                found = await measure(
                    await self._connect(), type_name, self._timezone, self._exact_up_to
                )
                self._measured[type_name] = found
            return found
