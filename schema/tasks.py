"""Verification tasks and corrections in GraphQL: the worker's side and the department's.

- ``tasks(filter, first, after)``: the tasks about records the caller's plan shows, for the
  people who work grids (grid workers, community and street staff: the ``grid_worker`` role);
- ``resolveTask(id, outcome, changes, note)``: what was found on site; changes only to fields
  the plan lets the caller write (:mod:`tasks.resolve`);
- ``corrections(filter, first, after)`` and ``decideCorrection(id, accept, reason)``: the
  corrections routed to the caller's department, for its data officers and apps.

Values of corrections are the department's own data: they are shown to the department that
decides them, never to anyone else, and never written to the audit log (the variables carrying
them are redacted there; the entry names the task or correction and the fields).
"""

from __future__ import annotations

from datetime import datetime

import strawberry
from sqlalchemy import RowMapping, select

from policies.areas import check_area_code
from policies.decision import Decision
from policies.plan import AccessPlan
from resolvers.ids import from_global_id, to_global_id
from schema.base import Info
from schema.duties import DATA_OFFICER, has_duty
from schema.relay import PageInfo
from store.errors import BadUserInput, Forbidden
from store.models import OPEN_STATUSES, CorrectionKind, CorrectionStatus, TaskKind, TaskStatus
from store.models import Correction as CorrectionRow
from store.models import Task as TaskRow
from store.models import TaskStep as TaskStepRow
from tasks.decide import decide_correction
from tasks.generate import request_verification
from tasks.lifecycle import Canceller, cancel_task, escalate_task
from tasks.listing import (
    CorrectionListing,
    TaskListing,
    count_corrections,
    count_tasks,
    encode_correction_cursor,
    encode_task_cursor,
    list_corrections,
    list_tasks,
)
from tasks.records import RECORDS
from tasks.resolve import Change, Outcome, resolve_task

TASKS = TaskRow.__table__
STEPS = TaskStepRow.__table__
CORRECTIONS = CorrectionRow.__table__

#: Who works tasks: the role grid workers hold, and community and street staff inherit.
GRID_WORKER = "grid_worker"

strawberry.enum(
    TaskKind,
    description="CONFLICT: two departments disagree on a field; "
    "UNPLACED_ADDRESS: an address the matcher could not place; RECHECK: not "
    "verified for longer than its resource's recheck period; REQUEST: a "
    "department asked.",
)
strawberry.enum(
    TaskStatus,
    description="OPEN (or ESCALATED) until DONE or CANCELLED; a "
    "rejected correction sends a DONE task back to OPEN.",
)
strawberry.enum(
    CorrectionKind,
    description="FIELD: one field found otherwise (accepted, the record takes the value); "
    "FINDING: a fact about the whole record — NOT_FOUND, MOVED_OUT, DECEASED, VACANT — for the "
    "department to take into its own system (accepted, the record is left to its feed).",
)
strawberry.enum(
    CorrectionStatus,
    description="PENDING until the department ACCEPTED it (the "
    "record changed) or REJECTED it (the task went back, with the reason).",
)
TaskOutcome = strawberry.enum(
    Outcome,
    name="TaskOutcome",
    description="What the worker found on site. CORRECTED takes the fields found otherwise.",
)

#: The workflow's types: records of work, not shared data (no field declarations).
TASK_TYPES = frozenset(
    {
        "Task",
        "TaskStep",
        "TaskEdge",
        "TaskConnection",
        "Correction",
        "CorrectionEdge",
        "CorrectionConnection",
        "TaskStatsRow",
    }
)

#: The GraphQL type of each record kind, for the record's global id.
_TYPE_OF_TARGET = {record.target: record.graphql_type for record in RECORDS.values()}


def task_key(task_id: int) -> str:
    return f"task:{task_id}"


def correction_key(correction_id: int) -> str:
    return f"correction:{correction_id}"


def _parse_key(value: str, prefix: str, what: str) -> int:
    number = value.removeprefix(f"{prefix}:")
    if not number.isascii() or not number.isdigit() or len(number) > 9 or int(number) < 1:
        raise BadUserInput(f"{value!r} is not the id of a {what}", field="id")
    return int(number)


@strawberry.type(description="One step of a task: raised, resolved, returned.")
class TaskStep:
    at: datetime
    by: str
    action: str
    status: TaskStatus
    note: str | None


@strawberry.type(
    description="A field of a record found otherwise on site, for the "
    "authoritative department to accept or reject."
)
class Correction:
    id: strawberry.ID = strawberry.field(description="`correction:5`.")
    task_id: strawberry.ID
    record_type: str
    record_id: strawberry.ID = strawberry.field(description="The record's global id.")
    grid_code: str
    kind: CorrectionKind
    field: str | None = strawberry.field(description="The record's GraphQL field (a FIELD).")
    finding: Outcome | None = strawberry.field(
        description="What was found of the whole record (a FINDING): NOT_FOUND, MOVED_OUT, "
        "DECEASED or VACANT."
    )
    old_value: str | None = strawberry.field(description="Its value when the worker found it.")
    new_value: str | None = strawberry.field(description="The value found on site.")
    department: str = strawberry.field(description="The authoritative department.")
    resource_code: str | None
    proposed_by: str
    proposed_at: datetime
    status: CorrectionStatus
    decided_by: str | None
    decided_at: datetime | None
    reason: str | None

    @classmethod
    def of(cls, row: RowMapping, shown: bool) -> Correction:
        """``shown``: whether the caller sees the values (the deciding department, or a
        worker who reads the field in full there)."""
        type_name = _TYPE_OF_TARGET[str(row["target"])]
        finding = row["kind"] == CorrectionKind.FINDING.value
        return cls(
            id=strawberry.ID(correction_key(int(row["id"]))),
            task_id=strawberry.ID(task_key(int(row["task_id"]))),
            record_type=type_name,
            record_id=strawberry.ID(to_global_id(type_name, str(row["row_key"]))),
            grid_code=str(row["grid_code"]),
            kind=CorrectionKind(row["kind"]),
            field=None if finding else str(row["field"]),
            finding=Outcome(row["new_value"]) if finding else None,
            old_value=row["old_value"] if shown and not finding else None,
            new_value=row["new_value"] if shown and not finding else None,
            department=str(row["department"]),
            resource_code=row["resource_code"],
            proposed_by=str(row["proposed_by"]),
            proposed_at=row["proposed_at"],
            status=CorrectionStatus(row["status"]),
            decided_by=row["decided_by"],
            decided_at=row["decided_at"],
            reason=row["reason"],
        )


@strawberry.type(description="A check for the worker of one grid: one record, one reason.")
class Task:
    id: strawberry.ID = strawberry.field(description="`task:12`.")
    kind: TaskKind
    status: TaskStatus
    record_type: str = strawberry.field(description="Person, House, Room or Entity.")
    record_id: strawberry.ID = strawberry.field(
        description="The record's global id (`node(id:)` reads it, cut by your plan)."
    )
    grid_code: str
    reason: str = strawberry.field(
        description="What is checked: `conflict:phone`, `unplaced_address`, `recheck`, "
        "`request:housing`. One open task per record and reason."
    )
    raised_by: str = strawberry.field(
        description="`feed:<code>`, `hub` (a recheck), or the requesting principal."
    )
    why: str
    department: str | None = strawberry.field(
        description="The requesting department, or the authoritative one of a conflict."
    )
    created_at: datetime
    due_at: datetime
    overdue: bool = strawberry.field(description="Still open after its due time.")
    outcome: Outcome | None
    note: str | None
    resolved_by: str | None
    resolved_at: datetime | None
    history: list[TaskStep] = strawberry.field(description="Every step, oldest first.")
    corrections: list[Correction] = strawberry.field(
        description="The fields found otherwise, with their departments' decisions."
    )


@strawberry.type
class TaskEdge:
    node: Task
    cursor: str


@strawberry.type
class TaskConnection:
    edges: list[TaskEdge]
    page_info: PageInfo
    total_count: int


@strawberry.type
class CorrectionEdge:
    node: Correction
    cursor: str


@strawberry.type
class CorrectionConnection:
    edges: list[CorrectionEdge]
    page_info: PageInfo
    total_count: int


@strawberry.input(description="Which tasks to list; every filter given must hold.")
class TaskFilter:
    status: TaskStatus | None = None
    kind: TaskKind | None = None
    due_before: datetime | None = strawberry.field(
        default=None, description="Only tasks due before this time."
    )
    overdue: bool | None = strawberry.field(
        default=None, description="true: only tasks due before now."
    )
    area_code: str | None = strawberry.field(
        default=None, description="Only tasks under this area code."
    )


@strawberry.input(description="Which corrections to list; every filter given must hold.")
class CorrectionFilter:
    status: CorrectionStatus | None = None
    resource: str | None = strawberry.field(default=None, description="A catalogue code.")


@strawberry.input(description="A field of the record as found on site.")
class FieldChangeInput:
    field: str = strawberry.field(description="The record's GraphQL field (`residenceKind`).")
    value: str = strawberry.field(
        description="The value as found, as text: enum names as the API spells them "
        "(`RENTER`), numbers as digits."
    )


# -- who may ----------------------------------------------------------------------------------


def _worker_plan(info: Info, what: str) -> AccessPlan:
    """The plan of a person who works grids; FORBIDDEN for anyone else."""
    plan = info.context.plan
    identity = info.context.identity
    # Without an identity the caller is in-process (a test, a script): its plan decides.
    if (
        not isinstance(plan, AccessPlan)
        or not has_duty(plan, GRID_WORKER)
        or (identity is not None and identity.kind != "person")
    ):
        raise Forbidden(f"{what} is for people who work grids (the {GRID_WORKER} role)")
    return plan


def deciding_department(info: Info, what: str) -> str:
    """The department whose corrections the caller decides: a data officer's, or an app's."""
    plan = info.context.plan
    principal = getattr(plan, "principal", None)
    department = getattr(principal, "department", None)
    if department and (has_duty(plan, DATA_OFFICER) or getattr(principal, "kind", "") == "client"):
        return str(department)
    raise Forbidden(f"{what} is for a department's {DATA_OFFICER}s and apps")


# -- building ---------------------------------------------------------------------------------


async def _tasks_of(info: Info, plan: AccessPlan, rows: list[RowMapping]) -> list[Task]:
    """The tasks of ``rows``, with their steps and corrections: two statements for the page."""
    ids = [int(row["id"]) for row in rows]
    connection = await info.context.connection()
    steps: dict[int, list[TaskStep]] = {i: [] for i in ids}
    corrections: dict[int, list[Correction]] = {i: [] for i in ids}
    if ids:
        for step in await connection.execute(
            select(STEPS).where(STEPS.c.task_id.in_(ids)).order_by(STEPS.c.id)
        ):
            steps[step.task_id].append(
                TaskStep(
                    at=step.at,
                    by=step.by,
                    action=step.action,
                    status=TaskStatus(step.status),
                    note=step.note,
                )
            )
        found = await connection.execute(
            select(CORRECTIONS).where(CORRECTIONS.c.task_id.in_(ids)).order_by(CORRECTIONS.c.id)
        )
        for row in found.mappings():
            type_name = _TYPE_OF_TARGET[str(row["target"])]
            shown = row["field"] is not None and (
                plan.decisions(type_name, str(row["grid_code"])).get(str(row["field"]))
                is Decision.ALLOW
            )
            corrections[int(row["task_id"])].append(Correction.of(row, shown))
    now = info.context.now
    return [
        Task(
            id=strawberry.ID(task_key(int(row["id"]))),
            kind=TaskKind(row["kind"]),
            status=TaskStatus(row["status"]),
            record_type=_TYPE_OF_TARGET[str(row["target"])],
            record_id=strawberry.ID(
                to_global_id(_TYPE_OF_TARGET[str(row["target"])], str(row["row_key"]))
            ),
            grid_code=str(row["grid_code"]),
            reason=str(row["reason"]),
            raised_by=str(row["raised_by"]),
            why=str(row["why"]),
            department=row["department"],
            created_at=row["created_at"],
            due_at=row["due_at"],
            overdue=row["status"] in OPEN_STATUSES and row["due_at"] < now,
            outcome=None if row["outcome"] is None else Outcome(row["outcome"]),
            note=row["note"],
            resolved_by=row["resolved_by"],
            resolved_at=row["resolved_at"],
            history=steps[int(row["id"])],
            corrections=corrections[int(row["id"])],
        )
        for row in rows
    ]


def _page_size(info: Info, first: int | None) -> int:
    settings = info.context.settings
    size = settings.default_page_size if first is None else first
    if size < 0:
        raise BadUserInput("`first` must not be negative", field="first")
    if size > settings.max_page_size:
        raise BadUserInput(
            f"`first` may be at most {settings.max_page_size}", maximum=settings.max_page_size
        )
    return size


# -- resolvers --------------------------------------------------------------------------------


async def resolve_tasks(
    info: Info,
    filter: TaskFilter | None = None,
    first: int | None = None,
    after: str | None = None,
) -> TaskConnection:
    """The tasks about records the caller's plan shows, earliest due first."""
    plan = _worker_plan(info, "Listing tasks")
    size = _page_size(info, first)
    given = filter or TaskFilter()
    due_before = given.due_before
    if given.overdue:
        now = info.context.now
        due_before = now if due_before is None else min(due_before, now)
    if due_before is not None and due_before.tzinfo is None:
        raise BadUserInput("`dueBefore` needs a time zone", field="dueBefore")
    listing = TaskListing(
        status=None if given.status is None else given.status.value,
        kind=None if given.kind is None else given.kind.value,
        due_before=due_before,
        area=None if given.area_code is None else check_area_code(given.area_code),
    )
    connection = await info.context.connection()
    page = await list_tasks(connection, plan, listing, size, after)
    nodes = await _tasks_of(info, plan, page.rows)
    edges = [
        TaskEdge(node=node, cursor=encode_task_cursor(row))
        for node, row in zip(nodes, page.rows, strict=True)
    ]
    return TaskConnection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=page.has_next,
            has_previous_page=page.has_previous,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
        total_count=await count_tasks(connection, plan, listing),
    )


async def resolve_resolve_task(
    info: Info,
    id: strawberry.ID,
    outcome: Outcome,
    changes: list[FieldChangeInput] | None = None,
    note: str | None = None,
) -> Task:
    """Resolve a task with what was found on site."""
    plan = _worker_plan(info, "Resolving tasks")
    task_id = _parse_key(str(id), "task", "task")
    async with info.context.engine.begin() as connection:
        await resolve_task(
            connection,
            plan,
            subject=plan.principal.subject,
            task_id=task_id,
            outcome=outcome,
            changes=[Change(c.field, c.value) for c in changes or ()],
            note=note,
            now=info.context.now,
        )
    connection = await info.context.connection()
    row = (await connection.execute(select(TASKS).where(TASKS.c.id == task_id))).mappings().one()
    return (await _tasks_of(info, plan, [row]))[0]


async def resolve_escalate_task(info: Info, id: strawberry.ID, note: str) -> Task:
    """Hand an OPEN task of your grids on to community staff, saying why."""
    plan = _worker_plan(info, "Escalating tasks")
    task_id = _parse_key(str(id), "task", "task")
    async with info.context.engine.begin() as connection:
        await escalate_task(
            connection,
            plan,
            subject=plan.principal.subject,
            task_id=task_id,
            note=note,
            now=info.context.now,
        )
    return await _one_task(info, plan, task_id)


async def resolve_cancel_task(info: Info, id: strawberry.ID, reason: str) -> Task:
    """Withdraw a waiting task: who raised it, or a data officer of its department."""
    plan = info.context.plan
    principal = getattr(plan, "principal", None)
    if (
        not isinstance(plan, AccessPlan)
        or principal is None
        or not (principal.kind == "client" or has_duty(plan, DATA_OFFICER))
    ):
        # Tasks are raised by departments' apps and officers: nobody else cancels them.
        raise Forbidden("Cancelling a task is for who raised it and its department's officers")
    task_id = _parse_key(str(id), "task", "task")
    who = Canceller(
        subject=principal.subject,
        department=principal.department,
        data_officer=has_duty(plan, DATA_OFFICER),
    )
    async with info.context.engine.begin() as connection:
        await cancel_task(connection, who, task_id=task_id, reason=reason, now=info.context.now)
    return await _one_task(info, plan, task_id)


async def _one_task(info: Info, plan: AccessPlan, task_id: int) -> Task:
    connection = await info.context.connection()
    row = (await connection.execute(select(TASKS).where(TASKS.c.id == task_id))).mappings().one()
    return (await _tasks_of(info, plan, [row]))[0]


async def resolve_corrections(
    info: Info,
    filter: CorrectionFilter | None = None,
    first: int | None = None,
    after: str | None = None,
) -> CorrectionConnection:
    """The corrections routed to the caller's department, newest first."""
    department = deciding_department(info, "Listing corrections")
    size = _page_size(info, first)
    given = filter or CorrectionFilter()
    listing = CorrectionListing(
        department=department,
        status=None if given.status is None else given.status.value,
        resource=given.resource,
    )
    connection = await info.context.connection()
    page = await list_corrections(connection, listing, size, after)
    edges = [
        CorrectionEdge(node=Correction.of(row, True), cursor=encode_correction_cursor(row))
        for row in page.rows
    ]
    return CorrectionConnection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=page.has_next,
            has_previous_page=page.has_previous,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
        total_count=await count_corrections(connection, listing),
    )


#: The node types a department may ask to have verified, and their loaders.
_REQUESTABLE = {"Person": "person", "House": "house", "Entity": "entity"}
_TARGET_OF_TYPE = {record.graphql_type: record for record in RECORDS.values()}


async def resolve_request_verification(
    info: Info, record_id: strawberry.ID, why: str, due_at: datetime | None = None
) -> Task:
    """Ask the worker of the record's grid to verify it (a department's app or data officer,
    for a record its plan shows): its open request if one is waiting, else a new task."""
    plan = info.context.plan
    principal = getattr(plan, "principal", None)
    department = getattr(principal, "department", None)
    if not isinstance(plan, AccessPlan) or principal is None or not department:
        raise Forbidden("Requests for verification come from a department's apps and officers")
    type_name, key = from_global_id(str(record_id))
    if type_name not in _REQUESTABLE:
        raise BadUserInput(f"{type_name} records are not verified by tasks", field="recordId")
    why = why.strip()
    if not why or len(why) > 500 or "\x00" in why:
        raise BadUserInput("`why` is 1 to 500 characters", field="why")
    now = info.context.now
    if due_at is not None and (due_at.tzinfo is None or due_at <= now):
        raise BadUserInput("`dueAt` is a time to come, with its zone", field="dueAt")
    row = await getattr(info.context.loaders, _REQUESTABLE[type_name]).load(key)
    if row is None:  # not there, or the plan hides it: the same refusal
        raise Forbidden(f"No record {record_id} that you may ask about")
    async with info.context.engine.begin() as connection:
        made = await request_verification(
            connection,
            record=_TARGET_OF_TYPE[type_name],
            row_key=str(key),
            grid_code=str(row._mapping["grid_code"]),
            department=str(department),
            raised_by=principal.subject,
            why=why,
            now=now,
            due_at=due_at,
        )
    connection = await info.context.connection()
    found = (
        (await connection.execute(select(TASKS).where(TASKS.c.id == made.task_id))).mappings().one()
    )
    return (await _tasks_of(info, plan, [found]))[0]


async def resolve_decide_correction(
    info: Info, id: strawberry.ID, accept: bool, reason: str | None = None
) -> Correction:
    """Accept (the record changes) or reject (the task goes back) a correction."""
    department = deciding_department(info, "Deciding corrections")
    correction_id = _parse_key(str(id), "correction", "correction")
    principal = getattr(info.context.plan, "principal", None)
    subject = str(getattr(principal, "subject", ""))
    async with info.context.engine.begin() as connection:
        decided = await decide_correction(
            connection,
            correction_id=correction_id,
            department=department,
            subject=subject,
            accept=accept,
            reason=reason,
            now=info.context.now,
        )
    return Correction.of(decided, True)
