"""``taskStats``: verification tasks counted per group for leaders, small groups left out (see
:mod:`tasks.stats`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from schema.base import Info
from store.models import TaskKind
from tasks.resolve import Outcome
from tasks.stats import TaskGroup, TaskGroupBy, task_stats
from views.definition import DEFAULT_MIN_COUNT, MIN_COUNT_FLOOR, check_min_count

strawberry.enum(TaskGroupBy, name="TaskStatsGroup", description="What tasks are counted by.")


@strawberry.type(description="One group of tasks: its key (the groupings asked for) and figures.")
class TaskStatsRow:
    grid_code: str | None = strawberry.field(description="By GRID.")
    kind: TaskKind | None = strawberry.field(description="By KIND.")
    outcome: Outcome | None = strawberry.field(
        description="By OUTCOME: null for the tasks not resolved."
    )
    count: int = strawberry.field(description="Tasks raised in the range.")
    done: int = strawberry.field(description="Of those, DONE.")
    done_on_time: int = strawberry.field(description="Of those done, done by their due time.")
    on_time_rate: float | None = strawberry.field(
        description="doneOnTime / done; null when none is done."
    )
    waiting: int = strawberry.field(description="Still OPEN or ESCALATED.")
    overdue: int = strawberry.field(description="Still waiting past their due time.")
    escalated: int = strawberry.field(description="ESCALATED now.")
    cancelled: int = strawberry.field(description="CANCELLED.")


def _row(group: TaskGroup) -> TaskStatsRow:
    kind, outcome = group.key.get(TaskGroupBy.KIND), group.key.get(TaskGroupBy.OUTCOME)
    return TaskStatsRow(
        grid_code=group.key.get(TaskGroupBy.GRID),
        kind=None if kind is None else TaskKind(kind),
        outcome=None if outcome is None else Outcome(outcome),
        count=group.count,
        done=group.done,
        done_on_time=group.done_on_time,
        on_time_rate=group.on_time_rate,
        waiting=group.waiting,
        overdue=group.overdue,
        escalated=group.escalated,
        cancelled=group.cancelled,
    )


async def resolve_task_stats(
    info: Info,
    area_code: str,
    from_: Annotated[datetime, strawberry.argument(name="from", description="With a time zone.")],
    to: Annotated[datetime, strawberry.argument(description="Exclusive.")],
    group_by: Annotated[
        list[TaskGroupBy],
        strawberry.argument(description="May be empty: one group of everything."),
    ],
    min_count: Annotated[
        int,
        strawberry.argument(
            description=f"Groups of fewer tasks are left out; at least {MIN_COUNT_FLOOR}."
        ),
    ] = DEFAULT_MIN_COUNT,
) -> list[TaskStatsRow] | None:
    check_min_count(min_count)
    context = info.context
    groups = await task_stats(
        await context.connection(),
        context.plan,
        area_code,
        from_,
        to,
        list(group_by),
        min_count=min_count,
        now=context.now,
    )
    return [_row(group) for group in groups]
