"""Events counted for leaders: per group, how many, how many closed on time, how fast.

``eventStats(areaCode, from, to, groupBy)`` counts the events reported in ``[from, to)`` under
an area, grouped by any of category, handling department, grid, source, status and the day
reported (in the district's time zone), with for each group the events closed, the share closed
by their deadline (the on-time rate, of those closed) and the median time from report to close.

Everything counted is cut by the caller's plan: the rows through its row predicate in the
statement (site ``stats.events``), and a group, a range or an area is a filter, so every field
it reads must be one the plan ALLOWs wherever the caller sees events (as ``events(filter:)``
asks: anything less would let masked values be recovered by grouping). A group of fewer than
``min_count`` events is left out, as a view's small counts are (``views.definition``): "fewer
than five" would still say "at least one".
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from policies import row_scope as scoping
from policies.areas import check_area_code, under_area
from policies.field_rules import Plan
from resolvers.resources import EVENTS
from store.errors import BadUserInput, Forbidden, PurposeRequired

#: The longest range one answer counts over.
MOST_DAYS = 366


class GroupBy(enum.StrEnum):
    CATEGORY = "CATEGORY"
    DEPARTMENT = "DEPARTMENT"
    GRID = "GRID"
    SOURCE = "SOURCE"
    STATUS = "STATUS"
    DAY = "DAY"


#: Per grouping, the field of ``Event`` it reads and its column.
GROUPED: dict[GroupBy, tuple[str, str]] = {
    GroupBy.CATEGORY: ("categoryCode", "category_code"),
    GroupBy.DEPARTMENT: ("handlingDepartmentCode", "handling_department_code"),
    GroupBy.GRID: ("gridCode", "grid_code"),
    GroupBy.SOURCE: ("source", "source"),
    GroupBy.STATUS: ("status", "status"),
    GroupBy.DAY: ("reportedAt", "reported_at"),
}
#: The fields every answer reads: the range is on ``reportedAt``; closing on time compares
#: ``closedAt`` with ``deadline``; handling time runs from ``reportedAt`` to ``closedAt``.
ALWAYS_READ = ("reportedAt", "closedAt", "deadline")


@dataclass(frozen=True, slots=True)
class Group:
    """One group's figures; ``key`` holds the value of each grouping asked for."""

    key: dict[GroupBy, Any]
    count: int
    closed: int
    closed_on_time: int
    #: Of the events closed, the share closed by their deadline (None: none closed).
    on_time_rate: float | None
    #: The median hours from report to close, of the events closed (None: none closed).
    median_handling_hours: float | None


def fields_read(group_by: Iterable[GroupBy]) -> tuple[str, ...]:
    """The ``Event`` fields an answer grouped by ``group_by`` reads (for the audit entry)."""
    return tuple(sorted({*ALWAYS_READ, *(GROUPED[g][0] for g in group_by)}))


def check(
    plan: Plan, area_code: str, start: datetime, end: datetime, group_by: Sequence[GroupBy]
) -> None:
    """Refuse, before any SQL runs: an area code that is none, a range that is empty, open
    or too long (BAD_USER_INPUT), a field the plan does not ALLOW everywhere (FORBIDDEN, or
    PURPOSE_REQUIRED where a covered purpose would allow it)."""
    check_area_code(area_code)
    if start.tzinfo is None or end.tzinfo is None:
        raise BadUserInput("`from` and `to` are times with a zone (2026-11-01T00:00:00+08:00)")
    if not start < end:
        raise BadUserInput("`from` must be before `to`")
    if end - start > timedelta(days=MOST_DAYS):
        raise BadUserInput(f"Count at most {MOST_DAYS} days at a time")
    if len(set(group_by)) != len(group_by):
        raise BadUserInput("Name each grouping once in `groupBy`")
    needed = list(fields_read(group_by))
    if plan.area_splits("events", area_code):
        needed.append("gridCode")
    for field_name in needed:
        if plan.filterable("Event", field_name):
            continue
        if plan.needs_purpose("Event", field_name):
            raise PurposeRequired(
                f"Counting by `{field_name}` needs a declared purpose that your access covers"
                " (X-Access-Purpose)",
                field=field_name,
            )
        raise Forbidden(f"Not allowed to count events by `{field_name}`", field=field_name)


async def event_stats(
    connection: AsyncConnection,
    plan: Plan,
    area_code: str,
    start: datetime,
    end: datetime,
    group_by: Sequence[GroupBy],
    *,
    min_count: int,
    timezone: str,
) -> list[Group]:
    """The groups of at least ``min_count`` events, largest first (ties by key); see
    :func:`check` for what is refused."""
    check(plan, area_code, start, end, group_by)
    table = EVENTS.table
    where: list[ColumnElement[bool]] = [
        table.c.reported_at >= start,
        table.c.reported_at < end,
        under_area(table.c.grid_code, area_code),
        *scoping.row_scope(plan, "stats.events", "events", table.c.grid_code),
    ]
    postgresql = connection.dialect.name == "postgresql"
    keys = [
        (
            _day(table.c.reported_at, timezone, start, end, postgresql)
            if g is GroupBy.DAY
            else table.c[GROUPED[g][1]]
        ).label(f"k{i}")
        for i, g in enumerate(group_by)
    ]
    statement = _grouped(table, keys, where, min_count, postgresql)
    groups = []
    for row in (await connection.execute(statement)).all():
        key = {
            g: _day_value(row[i]) if g is GroupBy.DAY else row[i] for i, g in enumerate(group_by)
        }
        count, closed, on_time, median = row[len(keys) :]
        closed, on_time = int(closed), int(on_time or 0)
        groups.append(
            Group(
                key=key,
                count=int(count),
                closed=closed,
                closed_on_time=on_time,
                on_time_rate=on_time / closed if closed else None,
                median_handling_hours=None if median is None else float(median),
            )
        )
    groups.sort(key=lambda g: (-g.count, [_sortable(v) for v in g.key.values()]))
    return groups


def _hours(closed: ColumnElement[Any], reported: ColumnElement[Any], postgresql: bool) -> Any:
    """Hours from report to close, in SQL (NULL while the event is open)."""
    if postgresql:
        return func.extract("epoch", closed - reported) / 3600.0
    return (func.julianday(closed) - func.julianday(reported)) * 24.0


def _grouped(
    table: Any,
    keys: list[Any],
    where: list[ColumnElement[bool]],
    min_count: int,
    postgresql: bool,
) -> Any:
    """One statement: per group, the count, the closed, the closed on time and the median
    handling hours, groups of fewer than ``min_count`` left out.

    PostgreSQL takes the median with ``percentile_cont(0.5)``. SQLite has no ordered-set
    aggregate, so each closed event is numbered within its group by handling time (a window
    function) and the median is the mean of the middle one (odd count) or two (even): row
    numbers ``(n + 1) / 2`` and ``(n + 2) / 2`` in integer division, ``n`` the group's closed
    events — both the same row when ``n`` is odd."""
    hours = case(
        (table.c.closed_at.is_not(None), _hours(table.c.closed_at, table.c.reported_at, postgresql))
    )
    on_time = case((table.c.closed_at <= table.c.deadline, 1), else_=0)
    if postgresql:
        inner = select(*keys, hours.label("hours"), on_time.label("on_time")).where(*where)
        rows = inner.subquery("e")
        median: Any = func.percentile_cont(0.5).within_group(rows.c.hours)
    else:
        partition = [*keys, hours.is_(None)]
        inner = select(
            *keys,
            hours.label("hours"),
            on_time.label("on_time"),
            func.row_number().over(partition_by=partition, order_by=hours).label("place"),
            func.count(hours).over(partition_by=keys or None).label("closed_n"),
        ).where(*where)
        rows = inner.subquery("e")
        middle = case(
            (
                and_(
                    rows.c.hours.is_not(None),
                    rows.c.place.in_([(rows.c.closed_n + 1) // 2, (rows.c.closed_n + 2) // 2]),
                ),
                rows.c.hours,
            )
        )
        median = func.avg(middle)
    grouped = [rows.c[f"k{i}"] for i in range(len(keys))]
    return (
        select(
            *grouped,
            func.count().label("count"),
            func.count(rows.c.hours).label("closed"),
            func.sum(case((rows.c.hours.is_not(None), rows.c.on_time), else_=0)).label("on_time"),
            median.label("median"),
        )
        .group_by(*grouped)
        .having(func.count() >= min_count)
    )


def _day(
    reported: ColumnElement[Any], timezone: str, start: datetime, end: datetime, postgresql: bool
) -> ColumnElement[Any]:
    """The day reported, in the district's time zone, in SQL.

    PostgreSQL converts with the zone itself. SQLite holds UTC text and knows no zones, so the
    zone's offsets over the range (at most :data:`MOST_DAYS` days, so a few transitions at
    most) become a ``CASE`` of fixed shifts: exact for any zone, daylight saving included."""
    if postgresql:
        return func.date(func.timezone(timezone, reported))
    spans = _offsets(ZoneInfo(timezone), start, end)
    shifts = [
        (reported < until, func.date(reported, f"{seconds:+d} seconds"))
        for until, seconds in spans[:-1]
    ]
    last = func.date(reported, f"{spans[-1][1]:+d} seconds")
    return case(*shifts, else_=last) if shifts else last


def _offsets(zone: ZoneInfo, start: datetime, end: datetime) -> list[tuple[datetime, int]]:
    """The zone's UTC offset (seconds) over ``[start, end)``: ``(until, offset)`` pairs, each
    offset holding until the next pair's time (the last one's ``until`` is ``end``)."""
    step = timedelta(minutes=15)  # zones shift on quarter hours
    at = start.astimezone(UTC)
    stop = end.astimezone(UTC)
    current = _offset(zone, at)
    spans: list[tuple[datetime, int]] = []
    while at < stop:
        at += step
        now = _offset(zone, min(at, stop))
        if now != current:
            spans.append((min(at, stop), current))
            current = now
    spans.append((stop, current))
    return spans


def _offset(zone: ZoneInfo, at: datetime) -> int:
    offset = at.astimezone(zone).utcoffset()
    assert offset is not None
    return int(offset.total_seconds())


def _day_value(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _sortable(value: Any) -> str:
    return value.isoformat() if isinstance(value, date) else str(value)
