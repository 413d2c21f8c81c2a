"""A grid worker resolves a task: the outcome found on site, and for CORRECTED the fields.

Every change is checked against the caller's plan before anything is stored: the record must
be one the plan shows, each field one it may write there (``AccessPlan.writable``: a write rule
covers it and the caller reads it in full — nobody writes what they can not read), and each
value a value of its field (:mod:`tasks.correctable`). A refusal stores nothing.

A CORRECTED outcome makes one correction per field, routed to the field's authoritative
department (``catalog.authority``), whose decision changes the shared row or sends the task
back (:mod:`tasks.decide`). CONFIRMED records the on-site verification on the row at once
(``verified_at``): confirming changes no value, so no department need accept it. The other
outcomes (NOT_FOUND, MOVED_OUT, DECEASED, VACANT) are facts about the whole record: each makes
one *finding* (a correction of kind ``finding``, no field, the outcome as its value) for every
department that owns a catalogue resource of the record's type, so they reach the departments'
``corrections`` and their feeds out like a changed field; the shared row is left as it is
(the department's own feed removes or changes it once it has taken the fact in). Each finding
fits its kind of record: DECEASED a person, VACANT a house or room, MOVED_OUT a person or an
entity, NOT_FOUND any.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import RowMapping, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from catalog.authority import NoAuthority, authoritative_department
from store.errors import BadUserInput
from store.models import (
    OPEN_STATUSES,
    AddressCandidate,
    CatalogField,
    CatalogResource,
    Correction,
    CorrectionKind,
    FeedConflict,
    Task,
    TaskStep,
)
from tasks.correctable import checked_value
from tasks.errors import TaskClosed, TaskNotFound, WriteForbidden
from tasks.records import RECORDS, Record

TASKS = Task.__table__
HISTORY = TaskStep.__table__
CORRECTIONS = Correction.__table__
#: The longest note a worker may leave.
NOTE_LENGTH = 2000
#: The most fields one resolution may change.
MAX_CHANGES = 20


class Outcome(enum.StrEnum):
    CONFIRMED = "confirmed"
    CORRECTED = "corrected"
    NOT_FOUND = "not_found"
    MOVED_OUT = "moved_out"
    DECEASED = "deceased"
    VACANT = "vacant"


#: The records each finding can be about.
FINDING_TARGETS = {
    Outcome.NOT_FOUND: frozenset({"people", "houses", "rooms", "entities"}),
    Outcome.MOVED_OUT: frozenset({"people", "entities"}),
    Outcome.DECEASED: frozenset({"people"}),
    Outcome.VACANT: frozenset({"houses", "rooms"}),
}


class SeesRows(Protocol):
    def visible(self, grid_code: str | None) -> bool: ...


class WritePlan(Protocol):
    """What resolving needs of the caller's plan (``policies.plan.AccessPlan`` has it)."""

    def resource(self, name: str) -> SeesRows: ...

    def writable(self, type_name: str, grid_code: str | None) -> frozenset[str]: ...


@dataclass(frozen=True, slots=True)
class Change:
    field: str
    value: str | None


@dataclass(frozen=True, slots=True)
class Resolution:
    task_id: int
    correction_ids: tuple[int, ...]


def check_note(note: str | None) -> str | None:
    if note is None:
        return None
    if len(note) > NOTE_LENGTH or "\x00" in note:
        raise BadUserInput(f"a note is at most {NOTE_LENGTH} characters", field="note")
    return note.strip() or None


async def load_task(
    connection: AsyncConnection, plan: WritePlan, task_id: int, *, for_update: bool = True
) -> RowMapping:
    """The task, if its record lies where the caller's plan shows rows of its kind."""
    statement = select(TASKS).where(TASKS.c.id == task_id)
    if for_update:
        statement = statement.with_for_update()
    row = (await connection.execute(statement)).mappings().first()
    record = RECORDS.get(str(row["target"])) if row is not None else None
    if (
        row is None
        or record is None
        or not plan.resource(record.resource).visible(str(row["grid_code"]))
    ):
        raise TaskNotFound(f"No task {task_id} among the tasks you work")
    return row


async def _current(connection: AsyncConnection, record: Record, row_key: str) -> RowMapping | None:
    table = record.model.__table__
    return (
        (
            await connection.execute(
                select(table).where(table.c[record.key_name] == record.key_value(row_key))
            )
        )
        .mappings()
        .first()
    )


async def _resource_of(
    connection: AsyncConnection, record: Record, field: str, department: str
) -> str | None:
    resources = CatalogResource.__table__
    fields = CatalogField.__table__
    found = await connection.scalar(
        select(resources.c.code)
        .join(fields, fields.c.resource_code == resources.c.code)
        .where(
            resources.c.graphql_type == record.graphql_type,
            resources.c.department_code == department,
            fields.c.name == field,
        )
        .order_by(resources.c.code)
        .limit(1)
    )
    return None if found is None else str(found)


async def resolve_task(
    connection: AsyncConnection,
    plan: WritePlan,
    *,
    subject: str,
    task_id: int,
    outcome: Outcome,
    changes: Sequence[Change] = (),
    note: str | None = None,
    now: datetime,
) -> Resolution:
    """Resolve task ``task_id`` as ``subject`` under ``plan``, in the caller's transaction."""
    note = check_note(note)
    task = await load_task(connection, plan, task_id)
    if task["status"] not in OPEN_STATUSES:
        raise TaskClosed(f"Task {task_id} is {str(task['status']).upper()}: it takes no outcome")
    record = RECORDS[str(task["target"])]
    row_key = str(task["row_key"])
    if outcome is Outcome.CORRECTED and not changes:
        raise BadUserInput("CORRECTED needs the fields found otherwise", field="changes")
    if outcome is not Outcome.CORRECTED and changes:
        raise BadUserInput("only a CORRECTED outcome takes changes", field="changes")
    if len(changes) > MAX_CHANGES:
        raise BadUserInput(f"at most {MAX_CHANGES} changes at once", field="changes")
    if len({change.field for change in changes}) != len(changes):
        raise BadUserInput("a field is changed at most once per resolution", field="changes")
    allowed = FINDING_TARGETS.get(outcome)
    if allowed is not None and record.target not in allowed:
        raise BadUserInput(
            f"{outcome.name} is not a finding about a {record.graphql_type}", field="outcome"
        )
    current = await _current(connection, record, row_key)
    if current is None and outcome in (Outcome.CORRECTED, Outcome.CONFIRMED):
        raise BadUserInput(
            f"the record of task {task_id} is gone: resolve it NOT_FOUND", field="outcome"
        )
    correction_ids: list[int] = []
    if outcome is Outcome.CORRECTED and current is not None:
        grid = str(current["grid_code"])
        writable = plan.writable(record.graphql_type, grid)
        checked = []
        for change in changes:
            # The plan first: a field the caller may not write is refused whatever its value,
            # so a refusal tells nothing about what values the field takes.
            if change.field not in writable:
                raise WriteForbidden(
                    f"You may not write `{change.field}` of this record", field=change.field
                )
            spec, value = checked_value(record.target, change.field, change.value)
            old = current[spec.column]
            if old == value:
                raise BadUserInput(f"`{change.field}` already holds that value", field=change.field)
            try:
                department = await authoritative_department(connection, record.target, change.field)
            except NoAuthority:
                raise WriteForbidden(
                    f"No department accepts changes to `{change.field}`", field=change.field
                ) from None
            checked.append((change.field, spec, value, old, department))
        for field, spec, value, old, department in checked:
            correction_id = await connection.scalar(
                insert(CORRECTIONS)
                .values(
                    task_id=task_id,
                    target=record.target,
                    row_key=row_key,
                    grid_code=grid,
                    field=field,
                    old_value=None if old is None else spec.show(old),
                    new_value=spec.show(value),
                    department=department,
                    resource_code=await _resource_of(connection, record, field, department),
                    proposed_by=subject,
                    proposed_at=now,
                    status="pending",
                )
                .returning(CORRECTIONS.c.id)
            )
            correction_ids.append(int(correction_id or 0))
    if allowed is not None:
        correction_ids.extend(
            await _findings(connection, task, record, outcome, subject=subject, now=now)
        )
    if outcome is Outcome.CONFIRMED:
        table = record.model.__table__
        await connection.execute(
            update(table)
            .where(table.c[record.key_name] == record.key_value(row_key))
            .values(verified_at=now)
        )
    await connection.execute(
        update(TASKS)
        .where(TASKS.c.id == task_id)
        .values(
            status="done",
            outcome=outcome.value,
            note=note,
            resolved_by=subject,
            resolved_at=now,
            updated_at=now,
        )
    )
    await _settle_findings(connection, task)
    await connection.execute(
        insert(HISTORY).values(
            task_id=task_id,
            at=now,
            by=subject,
            action="resolved",
            status="done",
            note=f"{outcome.name}" + (f": {note}" if note else ""),
        )
    )
    return Resolution(task_id, tuple(correction_ids))


async def _findings(
    connection: AsyncConnection,
    task: RowMapping,
    record: Record,
    outcome: Outcome,
    *,
    subject: str,
    now: datetime,
) -> list[int]:
    """One finding per department owning a resource of the record's type (its first such
    resource in code order names it)."""
    resources = CatalogResource.__table__
    owners = await connection.execute(
        select(resources.c.department_code, func.min(resources.c.code))
        .where(resources.c.graphql_type == record.graphql_type)
        .group_by(resources.c.department_code)
        .order_by(resources.c.department_code)
    )
    made = []
    for department, resource_code in owners.all():
        made.append(
            int(
                await connection.scalar(
                    insert(CORRECTIONS)
                    .values(
                        task_id=task["id"],
                        kind=CorrectionKind.FINDING.value,
                        target=record.target,
                        row_key=task["row_key"],
                        grid_code=task["grid_code"],
                        field=None,
                        old_value=None,
                        new_value=outcome.value,
                        department=department,
                        resource_code=resource_code,
                        proposed_by=subject,
                        proposed_at=now,
                        status="pending",
                    )
                    .returning(CORRECTIONS.c.id)
                )
                or 0
            )
        )
    return made


async def _settle_findings(connection: AsyncConnection, task: RowMapping) -> None:
    """The findings a resolved task answered are resolved with it: the generator raises no
    second task for them."""
    reason = str(task["reason"])
    if reason.startswith("conflict:"):
        table = FeedConflict.__table__
        await connection.execute(
            update(table)
            .where(
                table.c.target == task["target"],
                table.c.row_key == task["row_key"],
                table.c.field == reason.removeprefix("conflict:"),
                table.c.status == "open",
            )
            .values(status="resolved")
        )
    elif reason == "unplaced_address":
        table = AddressCandidate.__table__
        await connection.execute(
            update(table)
            .where(
                table.c.target == task["target"],
                table.c.row_key == task["row_key"],
                table.c.status == "open",
            )
            .values(status="resolved")
        )
