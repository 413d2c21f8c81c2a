"""Live statistics of the catalogued data: rows, completeness per field, last change.

They are computed from the data when asked for, one statement per table: ``count(*)``, one
``count(CASE WHEN <has a value> ...)`` per data item and the newest of the time columns, in one
scan. A value is there when its column is not null and, for text, not empty (a care-tag list
with no tag is empty).

Statistics are counts over the whole district, whoever asks: they show how much data a resource
holds and how complete it is, never a value, so they are metadata like the rest of the
catalogue. A request measures each table at most once, however many resources of it it shows.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, String, and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from catalog.columns import STORED


@dataclass(frozen=True, slots=True)
class TypeStatistics:
    """What one table holds: its rows, how many have each data item, when it last changed."""

    rows: int
    filled: Mapping[str, int]
    #: The newest value of the table's time columns; None when it has none (or no rows).
    last_changed: datetime | None

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


async def measure(connection: AsyncConnection, type_name: str, timezone: str) -> TypeStatistics:
    """Count ``type_name``'s table in one statement (the whole district)."""
    stored = STORED[type_name]
    distinct = list(dict.fromkeys(stored.items.values()))
    columns = [func.count().label("rows")]
    columns += [
        func.count(case((_has_value(item), 1))).label(f"item_{i}")
        for i, item in enumerate(distinct)
    ]
    columns += [
        func.max(stored.column(field)).label(f"changed_{i}")
        for i, field in enumerate(stored.changed_at)
    ]
    row = (await connection.execute(select(*columns).select_from(stored.table))).one()._mapping
    counts = {item: int(row[f"item_{i}"]) for i, item in enumerate(distinct)}
    zone = ZoneInfo(timezone)
    times = [
        aware
        for i in range(len(stored.changed_at))
        if (aware := _aware(row[f"changed_{i}"], zone)) is not None
    ]
    return TypeStatistics(
        rows=int(row["rows"]),
        filled={field: counts[item] for field, item in stored.items.items()},
        last_changed=max(times, default=None),
    )


class StatisticsCache:
    """The statistics one request shows: each table measured once, on the request's
    connection, however many resources of it are listed."""

    def __init__(self, connect: Callable[[], Awaitable[AsyncConnection]], timezone: str) -> None:
        self._connect = connect
        self._timezone = timezone
        self._measured: dict[str, TypeStatistics] = {}
        self._lock = asyncio.Lock()

    async def of(self, type_name: str) -> TypeStatistics:
        async with self._lock:
            found = self._measured.get(type_name)
            if found is None:
                found = await measure(await self._connect(), type_name, self._timezone)
                self._measured[type_name] = found
            return found
