"""Raising verification tasks, idempotently: one open task per record and reason.

Each source of tasks is one ``INSERT … SELECT`` over its findings, in the database, that skips
every record which already has an open task for the same reason (``NOT EXISTS``) — so a
district of a million people is one statement per source, not a million round trips, and a
second run adds nothing. The partial unique index on open tasks holds the same rule against two
generators running at once: the later one fails and its transaction adds nothing.

- feed conflicts (``feed_conflicts``, status ``open``): one CONFLICT task per record and field,
  for the authoritative department's value to be checked on site;
- unplaced addresses (``address_candidates``, status ``open``): one UNPLACED_ADDRESS task per
  record, in the grid of its best candidate;
- stale records: a RECHECK task for every record not verified on site, nor set by a feed, for
  longer than the recheck period of its catalogue resource (:mod:`tasks.recheck`);
- requests: a department asks for one record to be verified (:func:`request_verification`).

Findings without a grid (an address with no candidate at all) raise no task: there is no
worker to give it to; the report counts them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import (
    ColumnElement,
    Table,
    and_,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql import Select
from sqlalchemy.sql.expression import Exists

from policies.areas import under_area
from store.models import OPEN_STATUSES, AddressCandidate, FeedConflict, Task, TaskKind, TaskStep
from tasks.kinds import (
    DUE_AFTER,
    HUB,
    RECHECK_REASON,
    UNPLACED_REASON,
    conflict_reason,
    request_reason,
)
from tasks.lifecycle import cancel_removed, escalate_overdue
from tasks.recheck import recheck_periods
from tasks.records import Record

TASKS = Task.__table__
HISTORY = TaskStep.__table__
CONFLICTS = FeedConflict.__table__
CANDIDATES = AddressCandidate.__table__

#: The columns every generating statement fills, in this order.
_COLUMNS = (
    "kind",
    "target",
    "row_key",
    "reason",
    "grid_code",
    "raised_by",
    "why",
    "department",
    "source_ref",
    "created_at",
    "due_at",
    "status",
    "updated_at",
)


@dataclass
class GenerationReport:
    """What one run raised, per kind, and the findings it could give to no grid."""

    raised: dict[str, int] = field(default_factory=dict)
    without_grid: int = 0
    #: Waiting tasks whose record a feed removed (cancelled), and open ones past their due
    #: time (escalated to community staff).
    cancelled: int = 0
    escalated: int = 0

    @property
    def total(self) -> int:
        return sum(self.raised.values())


def _open_task(
    target: ColumnElement[str], row_key: ColumnElement[str], reason: ColumnElement[str]
) -> Exists:
    """``EXISTS`` an open task for the record and reason."""
    return exists().where(
        TASKS.c.target == target,
        TASKS.c.row_key == row_key,
        TASKS.c.reason == reason,
        TASKS.c.status.in_(OPEN_STATUSES),
    )


def _conflicts(now: datetime, area: str | None) -> Select[tuple[object, ...]]:
    c = CONFLICTS.alias("c")
    earlier = CONFLICTS.alias("earlier")
    reason = literal("conflict:") + c.c.field
    # One task per record and field: the earliest open conflict stands for the others.
    first = ~exists().where(
        earlier.c.target == c.c.target,
        earlier.c.row_key == c.c.row_key,
        earlier.c.field == c.c.field,
        earlier.c.status == "open",
        earlier.c.id < c.c.id,
    )
    why = (
        literal("")
        + c.c.observed_department
        + literal(" reports another ")
        + c.c.field
        + literal(" than ")
        + c.c.authoritative_department
        + literal(" (the authoritative department): check it on site")
    )
    where = [c.c.status == "open", c.c.grid_code.is_not(None), first]
    if area is not None:
        where.append(under_area(c.c.grid_code, area))
    return select(
        literal(TaskKind.CONFLICT.value),
        c.c.target,
        c.c.row_key,
        reason,
        c.c.grid_code,
        literal("feed:") + c.c.feed,
        why,
        c.c.authoritative_department,
        literal("feed_conflicts:") + func.cast(c.c.id, TASKS.c.source_ref.type),
        literal(now, TASKS.c.created_at.type),
        literal(now + DUE_AFTER[TaskKind.CONFLICT], TASKS.c.due_at.type),
        literal("open"),
        literal(now, TASKS.c.updated_at.type),
    ).where(*where, ~_open_task(c.c.target, c.c.row_key, reason))


def _unplaced(now: datetime, area: str | None) -> Select[tuple[object, ...]]:
    a = CANDIDATES.alias("a")
    earlier = CANDIDATES.alias("earlier")
    first = ~exists().where(
        earlier.c.target == a.c.target,
        earlier.c.row_key == a.c.row_key,
        earlier.c.status == "open",
        earlier.c.id < a.c.id,
    )
    why = (
        literal("The address ")
        + a.c.feed
        + literal(" gives could not be placed with confidence: choose the building (and room)")
    )
    where = [a.c.status == "open", a.c.grid_code.is_not(None), first]
    if area is not None:
        where.append(under_area(a.c.grid_code, area))
    return select(
        literal(TaskKind.UNPLACED_ADDRESS.value),
        a.c.target,
        a.c.row_key,
        literal(UNPLACED_REASON),
        a.c.grid_code,
        literal("feed:") + a.c.feed,
        why,
        literal(None, TASKS.c.department.type),
        literal("address_candidates:") + func.cast(a.c.id, TASKS.c.source_ref.type),
        literal(now, TASKS.c.created_at.type),
        literal(now + DUE_AFTER[TaskKind.UNPLACED_ADDRESS], TASKS.c.due_at.type),
        literal("open"),
        literal(now, TASKS.c.updated_at.type),
    ).where(*where, ~_open_task(a.c.target, a.c.row_key, literal(UNPLACED_REASON)))


def _stale(
    record: Record, days: int, now: datetime, area: str | None
) -> Select[tuple[object, ...]]:
    table = record.model.__table__
    cutoff = literal(now - timedelta(days=days), table.c.updated_at.type)
    # ``coalesce(verified_at, source_at, updated_at) < cutoff``, asked as the three ranges the
    # ``ix_<table>_last_verified`` index serves (verified_at, source_at, updated_at).
    verified, sourced = table.c.verified_at, table.c.source_at
    where = [
        or_(
            verified < cutoff,
            and_(verified.is_(None), sourced < cutoff),
            and_(verified.is_(None), sourced.is_(None), table.c.updated_at < cutoff),
        )
    ]
    if area is not None:
        where.append(under_area(record.grid_code, area))
    return select(
        literal(TaskKind.RECHECK.value),
        literal(record.target),
        record.key,
        literal(RECHECK_REASON),
        record.grid_code,
        literal(HUB),
        literal(f"Not verified on site for more than {days} days: confirm or correct it"),
        literal(None, TASKS.c.department.type),
        literal(None, TASKS.c.source_ref.type),
        literal(now, TASKS.c.created_at.type),
        literal(now + DUE_AFTER[TaskKind.RECHECK], TASKS.c.due_at.type),
        literal("open"),
        literal(now, TASKS.c.updated_at.type),
    ).where(*where, ~_open_task(literal(record.target), record.key, literal(RECHECK_REASON)))


async def _insert(connection: AsyncConnection, source: Select[tuple[object, ...]]) -> int:
    result = await connection.execute(
        insert(TASKS).from_select([TASKS.c[name] for name in _COLUMNS], source)
    )
    return int(result.rowcount or 0)


async def _record_raised(connection: AsyncConnection, after_id: int) -> None:
    """One ``raised`` step for every task made since ``after_id`` (one statement)."""
    await connection.execute(
        insert(HISTORY).from_select(
            ["task_id", "at", "by", "action", "status", "note"],
            select(
                TASKS.c.id,
                TASKS.c.created_at,
                TASKS.c.raised_by,
                literal("raised"),
                TASKS.c.status,
                TASKS.c.why,
            ).where(TASKS.c.id > after_id),
        )
    )


async def generate(
    connection: AsyncConnection,
    now: datetime,
    *,
    area: str | None = None,
    kinds: frozenset[TaskKind] | None = None,
) -> GenerationReport:
    """Raise every task the findings and the recheck periods call for (under ``area`` if
    given), in the caller's transaction. Idempotent: run it again and nothing is added.

    First the tasks whose record a feed removed are cancelled; last the open tasks past their
    due time are escalated to community staff (:mod:`tasks.lifecycle`)."""
    wanted = kinds or frozenset(TaskKind)
    report = GenerationReport()
    report.cancelled = await cancel_removed(connection, now, area)
    before = int(await connection.scalar(select(func.coalesce(func.max(TASKS.c.id), 0))) or 0)
    if TaskKind.CONFLICT in wanted:
        report.raised[TaskKind.CONFLICT] = await _insert(connection, _conflicts(now, area))
        report.without_grid += await _count_without_grid(connection, CONFLICTS, area)
    if TaskKind.UNPLACED_ADDRESS in wanted:
        report.raised[TaskKind.UNPLACED_ADDRESS] = await _insert(connection, _unplaced(now, area))
        report.without_grid += await _count_without_grid(connection, CANDIDATES, area)
    if TaskKind.RECHECK in wanted:
        raised = 0
        for record, days in (await recheck_periods(connection)).items():
            raised += await _insert(connection, _stale(record, days, now, area))
        report.raised[TaskKind.RECHECK] = raised
    await _record_raised(connection, before)
    report.escalated = await escalate_overdue(connection, now, area)
    return report


async def _count_without_grid(connection: AsyncConnection, table: Table, area: str | None) -> int:
    if area is not None:
        return 0  # findings of no place lie under no area
    return int(
        await connection.scalar(
            select(func.count()).where(
                table.c.status == "open",
                table.c.grid_code.is_(None),
            )
        )
        or 0
    )


async def generate_tasks(
    engine: AsyncEngine,
    now: datetime,
    *,
    area: str | None = None,
    kinds: frozenset[TaskKind] | None = None,
) -> GenerationReport:
    """:func:`generate` in a transaction of its own."""
    async with engine.begin() as connection:
        return await generate(connection, now, area=area, kinds=kinds)


@dataclass(frozen=True, slots=True)
class Requested:
    """A request's task, and whether this call raised it (False: it was open already)."""

    task_id: int
    raised: bool


async def request_verification(
    connection: AsyncConnection,
    *,
    record: Record,
    row_key: str,
    grid_code: str,
    department: str,
    raised_by: str,
    why: str,
    now: datetime,
    due_at: datetime | None = None,
) -> Requested:
    """A department's request to verify one record (the caller has checked it may read the
    record, and found its grid): its open request if there is one, else a new task."""
    reason = request_reason(department)
    found = await connection.scalar(
        select(TASKS.c.id).where(
            TASKS.c.target == record.target,
            TASKS.c.row_key == row_key,
            TASKS.c.reason == reason,
            TASKS.c.status.in_(OPEN_STATUSES),
        )
    )
    if found is not None:
        return Requested(int(found), False)
    task_id = await connection.scalar(
        insert(TASKS)
        .values(
            kind=TaskKind.REQUEST.value,
            target=record.target,
            row_key=row_key,
            reason=reason,
            grid_code=grid_code,
            raised_by=raised_by,
            why=why,
            department=department,
            created_at=now,
            due_at=due_at or now + DUE_AFTER[TaskKind.REQUEST],
            status="open",
            updated_at=now,
        )
        .returning(TASKS.c.id)
    )
    await connection.execute(
        insert(HISTORY).values(
            task_id=task_id, at=now, by=raised_by, action="raised", status="open", note=why
        )
    )
    return Requested(int(task_id or 0), True)


#: Kept for readers of the reason keys (tests, docs).
REASONS: Mapping[str, object] = {"conflict": conflict_reason, "request": request_reason}
