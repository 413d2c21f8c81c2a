"""A task's life besides resolving it: escalated to the community, cancelled, and the hub's own
sweeps that do both.

Who may move a task, and from which status:

- to ``ESCALATED`` from ``OPEN``: the grid's worker (they can not settle it alone); the hub,
  once the task is overdue (:func:`escalate_overdue`);
- to ``CANCELLED`` from ``OPEN`` or ``ESCALATED``: who raised it (a department's request), a
  data officer of the task's department; the hub, once a feed removed the record
  (:func:`cancel_removed`);
- to ``DONE`` from ``OPEN`` or ``ESCALATED``: a worker, community or street staff who work the
  grid (:mod:`tasks.resolve`);
- back to ``OPEN`` from ``DONE``: the department rejecting its correction (:mod:`tasks.decide`).

An escalated task stays in the grid's list (community and street staff see it there with their
plans; ``tasks(filter: {status: ESCALATED})``) and is still resolved the ordinary way; it still
counts as open, so no second task is raised for the same record and reason. Every move is a
step in the task's history.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, RowMapping, exists, insert, literal, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from policies.areas import under_area
from store.errors import BadUserInput
from store.models import (
    OPEN_STATUSES,
    AddressCandidate,
    FeedConflict,
    RemovedRow,
    Task,
    TaskStatus,
    TaskStep,
)
from tasks.errors import TaskClosed, TaskNotFound
from tasks.kinds import HUB
from tasks.records import RECORDS
from tasks.resolve import WritePlan, check_note, load_task

TASKS = Task.__table__
HISTORY = TaskStep.__table__
REMOVED = RemovedRow.__table__
CONFLICTS = FeedConflict.__table__
CANDIDATES = AddressCandidate.__table__
ESCALATED = TaskStatus.ESCALATED.value
CANCELLED = TaskStatus.CANCELLED.value


@dataclass(frozen=True, slots=True)
class Canceller:
    """Who asks to cancel: their subject, their department, and whether they are its data
    officer."""

    subject: str
    department: str | None
    data_officer: bool


async def _move(
    connection: AsyncConnection,
    task_id: int,
    *,
    by: str,
    action: str,
    status: str,
    note: str | None,
    now: datetime,
) -> None:
    await connection.execute(
        update(TASKS).where(TASKS.c.id == task_id).values(status=status, updated_at=now)
    )
    await connection.execute(
        insert(HISTORY).values(
            task_id=task_id, at=now, by=by, action=action, status=status, note=note
        )
    )


async def escalate_task(
    connection: AsyncConnection,
    plan: WritePlan,
    *,
    subject: str,
    task_id: int,
    note: str | None,
    now: datetime,
) -> None:
    """The grid's worker hands an OPEN task on to community staff, saying why."""
    note = check_note(note)
    if note is None:
        raise BadUserInput("say why the task needs community staff", field="note")
    task = await load_task(connection, plan, task_id)
    if task["status"] == ESCALATED:
        raise BadUserInput(f"Task {task_id} is escalated already", field="id")
    if task["status"] != TaskStatus.OPEN.value:
        raise TaskClosed(f"Task {task_id} is {str(task['status']).upper()}: only OPEN escalates")
    await _move(
        connection, task_id, by=subject, action="escalated", status=ESCALATED, note=note, now=now
    )


async def cancel_task(
    connection: AsyncConnection, who: Canceller, *, task_id: int, reason: str | None, now: datetime
) -> RowMapping:
    """Who raised the task, or its department's data officer, withdraws it, saying why. A task
    the caller may not cancel reads as one that does not exist."""
    reason = check_note(reason)
    if reason is None:
        raise BadUserInput("say why the task is withdrawn, for the worker", field="reason")
    task = (
        (await connection.execute(select(TASKS).where(TASKS.c.id == task_id).with_for_update()))
        .mappings()
        .first()
    )
    allowed = task is not None and (
        task["raised_by"] == who.subject
        or (
            who.data_officer and who.department is not None and task["department"] == who.department
        )
    )
    if task is None or not allowed:
        raise TaskNotFound(f"No task {task_id} that you raised or your department owns")
    if task["status"] not in OPEN_STATUSES:
        raise TaskClosed(f"Task {task_id} is {str(task['status']).upper()}: it is not cancelled")
    await _move(
        connection,
        task_id,
        by=who.subject,
        action="cancelled",
        status=CANCELLED,
        note=reason,
        now=now,
    )
    return task


def _under(area: str | None) -> tuple[ColumnElement[bool], ...]:
    return () if area is None else (under_area(TASKS.c.grid_code, area),)


async def escalate_overdue(
    connection: AsyncConnection, now: datetime, area: str | None = None
) -> int:
    """Every OPEN task past its due time (under ``area`` if given) goes to community staff
    (two statements); how many."""
    overdue = (TASKS.c.status == TaskStatus.OPEN.value, TASKS.c.due_at < now, *_under(area))
    await connection.execute(
        insert(HISTORY).from_select(
            ["task_id", "at", "by", "action", "status", "note"],
            select(
                TASKS.c.id,
                literal(now, HISTORY.c.at.type),
                literal(HUB),
                literal("escalated"),
                literal(ESCALATED),
                literal("Overdue: handed to community staff"),
            ).where(*overdue),
        )
    )
    result = await connection.execute(
        update(TASKS).where(*overdue).values(status=ESCALATED, updated_at=now)
    )
    return int(result.rowcount or 0)


async def cancel_removed(
    connection: AsyncConnection, now: datetime, area: str | None = None
) -> int:
    """Every waiting task (under ``area`` if given) whose record a feed removed is cancelled
    (per kind of record, two statements); how many."""
    cancelled = 0
    for record in RECORDS.values():
        table = record.model.__table__
        gone = (
            TASKS.c.status.in_(OPEN_STATUSES),
            TASKS.c.target == record.target,
            exists().where(
                REMOVED.c.target == record.target,
                REMOVED.c.row_key == TASKS.c.row_key,
                REMOVED.c.removed_at >= TASKS.c.created_at,
            ),
            ~exists().where(record.key == TASKS.c.row_key).select_from(table),
            *_under(area),
        )
        await connection.execute(
            insert(HISTORY).from_select(
                ["task_id", "at", "by", "action", "status", "note"],
                select(
                    TASKS.c.id,
                    literal(now, HISTORY.c.at.type),
                    literal(HUB),
                    literal("cancelled"),
                    literal(CANCELLED),
                    literal("The record was removed by its department's feed"),
                ).where(*gone),
            )
        )
        result = await connection.execute(
            update(TASKS).where(*gone).values(status=CANCELLED, updated_at=now)
        )
        cancelled += int(result.rowcount or 0)
        # The feeds' findings about the removed record are settled too: the generator raises
        # no new task for a record that is gone.
        for findings in (CONFLICTS, CANDIDATES):
            await connection.execute(
                update(findings)
                .where(
                    findings.c.status == "open",
                    findings.c.target == record.target,
                    exists().where(
                        REMOVED.c.target == record.target,
                        REMOVED.c.row_key == findings.c.row_key,
                    ),
                    ~exists().where(record.key == findings.c.row_key).select_from(table),
                    *(() if area is None else (under_area(findings.c.grid_code, area),)),
                )
                .values(status="resolved")
            )
    return cancelled
