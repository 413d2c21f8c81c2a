"""Tasks counted for leaders: per group, how many were raised, done, done on time, still open.

``taskStats(areaCode, from, to, groupBy)`` counts the tasks raised in ``[from, to)`` under an
area, grouped by any of grid, kind and outcome, with for each group the tasks done, the share of
those done by their due time (the on-time rate), and those still waiting (open or escalated),
overdue, escalated and cancelled. One ``GROUP BY`` statement, in the database.

What is counted is cut by the caller's plan like ``tasks`` is: a task about a record the plan
does not show does not count (the row predicate of each kind of record on the task's grid,
site ``stats.tasks``). The groupings read the task's own grid, kind and outcome, not a shared
record's fields, so none is refused by a field decision. A group of fewer than ``min_count``
tasks is left out, as ``eventStats`` and views leave small counts out.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from policies import row_scope as scoping
from policies.areas import check_area_code, under_area
from policies.field_rules import Plan
from store.errors import BadUserInput
from store.models import OPEN_STATUSES, Task, TaskStatus
from tasks.records import RECORDS

TASKS = Task.__table__
#: The longest range one answer counts over.
MOST_DAYS = 366


class TaskGroupBy(enum.StrEnum):
    GRID = "GRID"
    KIND = "KIND"
    OUTCOME = "OUTCOME"


COLUMN = {
    TaskGroupBy.GRID: TASKS.c.grid_code,
    TaskGroupBy.KIND: TASKS.c.kind,
    TaskGroupBy.OUTCOME: TASKS.c.outcome,
}


@dataclass(frozen=True, slots=True)
class TaskGroup:
    key: dict[TaskGroupBy, Any]
    count: int
    done: int
    done_on_time: int
    #: Of the tasks done, the share done by their due time (None: none done).
    on_time_rate: float | None
    waiting: int
    overdue: int
    escalated: int
    cancelled: int


def check(area_code: str, start: datetime, end: datetime, group_by: Sequence[TaskGroupBy]) -> None:
    """Refuse before any SQL runs: an area code that is none, a range empty, open or too long,
    a grouping named twice (BAD_USER_INPUT)."""
    check_area_code(area_code)
    if start.tzinfo is None or end.tzinfo is None:
        raise BadUserInput("`from` and `to` are times with a zone (2026-11-01T00:00:00+08:00)")
    if not start < end:
        raise BadUserInput("`from` must be before `to`")
    if end - start > timedelta(days=MOST_DAYS):
        raise BadUserInput(f"Count at most {MOST_DAYS} days at a time")
    if len(set(group_by)) != len(group_by):
        raise BadUserInput("Name each grouping once in `groupBy`")


def _scope(plan: Plan) -> ColumnElement[bool]:
    return or_(
        *(
            and_(
                TASKS.c.target == record.target,
                *scoping.row_scope(plan, "stats.tasks", record.resource, TASKS.c.grid_code),
            )
            for record in RECORDS.values()
        )
    )


def _sum(condition: ColumnElement[bool]) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


async def task_stats(
    connection: AsyncConnection,
    plan: Plan,
    area_code: str,
    start: datetime,
    end: datetime,
    group_by: Sequence[TaskGroupBy],
    *,
    min_count: int,
    now: datetime,
) -> list[TaskGroup]:
    """The groups of at least ``min_count`` tasks, largest first (ties by key)."""
    check(area_code, start, end, group_by)
    columns = [COLUMN[g] for g in group_by]
    done = TASKS.c.status == TaskStatus.DONE.value
    waiting = TASKS.c.status.in_(OPEN_STATUSES)
    count = func.count()
    statement = (
        select(
            *columns,
            count,
            _sum(done),
            _sum(and_(done, TASKS.c.resolved_at <= TASKS.c.due_at)),
            _sum(waiting),
            _sum(and_(waiting, TASKS.c.due_at < now)),
            _sum(TASKS.c.status == TaskStatus.ESCALATED.value),
            _sum(TASKS.c.status == TaskStatus.CANCELLED.value),
        )
        .where(
            TASKS.c.created_at >= start,
            TASKS.c.created_at < end,
            under_area(TASKS.c.grid_code, area_code),
            _scope(plan),
        )
        .having(count >= min_count)
    )
    if columns:
        statement = statement.group_by(*columns)
    groups = []
    for row in (await connection.execute(statement)).all():
        key = dict(zip(group_by, row[: len(columns)], strict=True))
        total, finished, on_time, still, late, escalated, cancelled = (
            int(value) for value in row[len(columns) :]
        )
        groups.append(
            TaskGroup(
                key=key,
                count=total,
                done=finished,
                done_on_time=on_time,
                on_time_rate=on_time / finished if finished else None,
                waiting=still,
                overdue=late,
                escalated=escalated,
                cancelled=cancelled,
            )
        )
    groups.sort(key=lambda g: (-g.count, [str(v) for v in g.key.values()]))
    return groups
