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
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, select
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
    keyed = [g for g in group_by if g is not GroupBy.DAY]
    columns = [table.c[GROUPED[g][1]] for g in keyed]
    statement = select(*columns, table.c.reported_at, table.c.closed_at, table.c.deadline).where(
        *where
    )
    zone = ZoneInfo(timezone)
    tallies: dict[tuple[Any, ...], _Tally] = {}
    for row in (await connection.execute(statement)).all():
        values = list(row[: len(keyed)])
        reported, closed, deadline = row[len(keyed) :]
        key = tuple(
            reported.astimezone(zone).date() if g is GroupBy.DAY else values.pop(0)
            for g in group_by
        )
        tally = tallies.get(key)
        if tally is None:
            tally = tallies[key] = _Tally()
        tally.add(reported, closed, deadline)
    groups = [
        tally.group(dict(zip(group_by, key, strict=True)))
        for key, tally in tallies.items()
        if tally.count >= min_count
    ]
    groups.sort(key=lambda g: (-g.count, [_sortable(v) for v in g.key.values()]))
    return groups


def _sortable(value: Any) -> str:
    return value.isoformat() if isinstance(value, date) else str(value)


class _Tally:
    __slots__ = ("closed_on_time", "count", "handling_hours")

    def __init__(self) -> None:
        self.count = 0
        self.closed_on_time = 0
        self.handling_hours: list[float] = []

    def add(self, reported: datetime, closed: datetime | None, deadline: datetime) -> None:
        self.count += 1
        if closed is not None:
            self.handling_hours.append((closed - reported).total_seconds() / 3600)
            if closed <= deadline:
                self.closed_on_time += 1

    def group(self, key: dict[GroupBy, Any]) -> Group:
        closed = len(self.handling_hours)
        return Group(
            key=key,
            count=self.count,
            closed=closed,
            closed_on_time=self.closed_on_time,
            on_time_rate=self.closed_on_time / closed if closed else None,
            median_handling_hours=statistics.median(self.handling_hours) if closed else None,
        )
