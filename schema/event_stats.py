"""``eventStats``: events counted per group for leaders, small groups left out (see
:mod:`events.stats`)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

import strawberry

from events import stats
from schema.base import Info
from schema.enums import EventSource, EventStatus
from views.definition import DEFAULT_MIN_COUNT, MIN_COUNT_FLOOR, check_min_count

strawberry.enum(stats.GroupBy, name="EventStatsGroup", description="What events are counted by.")


@strawberry.type(description="One group of events: its key (the groupings asked for) and figures.")
class EventStatsRow:
    category_code: str | None = strawberry.field(description="By CATEGORY: the matter's code.")
    handling_department_code: str | None = strawberry.field(description="By DEPARTMENT.")
    grid_code: str | None = strawberry.field(description="By GRID.")
    source: EventSource | None = strawberry.field(description="By SOURCE.")
    status: EventStatus | None = strawberry.field(description="By STATUS.")
    day: date | None = strawberry.field(
        description="By DAY: the day reported, in the district's time zone."
    )
    count: int = strawberry.field(description="Events reported in the range.")
    closed: int = strawberry.field(description="Of those, closed (办结).")
    closed_on_time: int = strawberry.field(description="Of those closed, closed by the deadline.")
    on_time_rate: float | None = strawberry.field(
        description="closedOnTime / closed; null when none is closed."
    )
    median_handling_hours: float | None = strawberry.field(
        description="The median hours from report to close, of those closed; null when none is."
    )


def _row(group: stats.Group) -> EventStatsRow:
    key: dict[stats.GroupBy, Any] = group.key
    source, status = key.get(stats.GroupBy.SOURCE), key.get(stats.GroupBy.STATUS)
    return EventStatsRow(
        category_code=key.get(stats.GroupBy.CATEGORY),
        handling_department_code=key.get(stats.GroupBy.DEPARTMENT),
        grid_code=key.get(stats.GroupBy.GRID),
        source=None if source is None else EventSource(source),
        status=None if status is None else EventStatus(status),
        day=key.get(stats.GroupBy.DAY),
        count=group.count,
        closed=group.closed,
        closed_on_time=group.closed_on_time,
        on_time_rate=group.on_time_rate,
        median_handling_hours=group.median_handling_hours,
    )


async def resolve_event_stats(
    info: Info,
    area_code: str,
    from_: Annotated[datetime, strawberry.argument(name="from", description="With a time zone.")],
    to: Annotated[datetime, strawberry.argument(description="Exclusive.")],
    group_by: Annotated[
        list[stats.GroupBy],
        strawberry.argument(description="May be empty: one group of everything."),
    ],
    min_count: Annotated[
        int,
        strawberry.argument(
            description=f"Groups of fewer events are left out; at least {MIN_COUNT_FLOOR}."
        ),
    ] = DEFAULT_MIN_COUNT,
) -> list[EventStatsRow] | None:
    check_min_count(min_count)
    context = info.context
    grouped = list(group_by)
    stats.check(context.plan, area_code, from_, to, grouped)
    context.field_reads.update(("Event", name) for name in stats.fields_read(grouped))
    groups = await stats.event_stats(
        await context.connection(),
        context.plan,
        area_code,
        from_,
        to,
        grouped,
        min_count=min_count,
        timezone=context.settings.timezone,
    )
    return [_row(group) for group in groups]
