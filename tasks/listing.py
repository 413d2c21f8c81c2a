"""The tasks and corrections a caller lists: cut by its plan, paged by keyset.

A worker's tasks are those about records its plan shows: for each kind of record, the plan's
row predicate on the task's grid (``row_scope`` site ``tasks.list``), so a grid worker lists
their grids' tasks, community staff their community's, street staff their street's, and a
task of a record outside the plan does not exist for them. Tasks come earliest due first;
the cursor carries the due time and id of the last task seen.

A department's corrections are those routed to it, newest first.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime

import orjson
from sqlalchemy import ColumnElement, RowMapping, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from policies import row_scope as scoping
from policies.areas import under_area
from policies.field_rules import Plan
from store.errors import BadUserInput
from store.models import Correction, Task
from store.models.base import MAX_KEY
from tasks.records import RECORDS

TASKS = Task.__table__
CORRECTIONS = Correction.__table__


@dataclass(frozen=True, slots=True)
class TaskListing:
    status: str | None = None
    kind: str | None = None
    #: Only tasks due before this instant (``overdue``: before now).
    due_before: datetime | None = None
    area: str | None = None


@dataclass(frozen=True, slots=True)
class Page:
    rows: list[RowMapping]
    has_next: bool
    has_previous: bool


def task_scope(plan: Plan) -> ColumnElement[bool]:
    """Tasks about records the plan shows: per kind of record, its rows' predicate."""
    return or_(
        *(
            and_(
                TASKS.c.target == record.target,
                *scoping.row_scope(plan, "tasks.list", record.resource, TASKS.c.grid_code),
            )
            for record in RECORDS.values()
        )
    )


def _where(plan: Plan, listing: TaskListing) -> list[ColumnElement[bool]]:
    where = [task_scope(plan)]
    if listing.status is not None:
        where.append(TASKS.c.status == listing.status)
    if listing.kind is not None:
        where.append(TASKS.c.kind == listing.kind)
    if listing.due_before is not None:
        where.append(TASKS.c.due_at < listing.due_before)
    if listing.area is not None:
        where.append(under_area(TASKS.c.grid_code, listing.area))
    return where


def encode_task_cursor(row: RowMapping) -> str:
    due: datetime = row["due_at"]
    raw = orjson.dumps(["t1", due.isoformat(), int(row["id"])])
    return base64.urlsafe_b64encode(raw).decode("ascii")


def decode_task_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        decoded = orjson.loads(base64.urlsafe_b64decode(cursor.encode("ascii")))
        tag, due, key = decoded
        at = datetime.fromisoformat(due)
    except (binascii.Error, UnicodeError, ValueError, TypeError):
        raise BadUserInput(f"{cursor!r} is not a valid cursor for this list") from None
    if tag != "t1" or type(key) is not int or not 0 < key <= MAX_KEY or at.tzinfo is None:
        raise BadUserInput(f"{cursor!r} is not a valid cursor for this list")
    return at, key


async def list_tasks(
    connection: AsyncConnection, plan: Plan, listing: TaskListing, first: int, after: str | None
) -> Page:
    where = _where(plan, listing)
    if after is not None:
        due, key = decode_task_cursor(after)
        where.append(or_(TASKS.c.due_at > due, and_(TASKS.c.due_at == due, TASKS.c.id > key)))
    rows = list(
        (
            await connection.execute(
                select(TASKS).where(*where).order_by(TASKS.c.due_at, TASKS.c.id).limit(first + 1)
            )
        )
        .mappings()
        .all()
    )
    return Page(rows[:first], len(rows) > first, after is not None)


async def count_tasks(connection: AsyncConnection, plan: Plan, listing: TaskListing) -> int:
    found = await connection.scalar(
        select(func.count()).select_from(TASKS).where(*_where(plan, listing))
    )
    return int(found or 0)


@dataclass(frozen=True, slots=True)
class CorrectionListing:
    department: str
    status: str | None = None
    resource: str | None = None


def _correction_where(listing: CorrectionListing) -> list[ColumnElement[bool]]:
    where = [CORRECTIONS.c.department == listing.department]
    if listing.status is not None:
        where.append(CORRECTIONS.c.status == listing.status)
    if listing.resource is not None:
        where.append(CORRECTIONS.c.resource_code == listing.resource)
    return where


def _correction_key(cursor: str) -> int:
    try:
        tag, key = orjson.loads(base64.urlsafe_b64decode(cursor.encode("ascii")))
    except (binascii.Error, UnicodeError, ValueError, TypeError):
        raise BadUserInput(f"{cursor!r} is not a valid cursor for this list") from None
    if tag != "c1" or type(key) is not int or not 0 < key <= MAX_KEY:
        raise BadUserInput(f"{cursor!r} is not a valid cursor for this list")
    return int(key)


def encode_correction_cursor(row: RowMapping) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(["c1", int(row["id"])])).decode("ascii")


async def list_corrections(
    connection: AsyncConnection, listing: CorrectionListing, first: int, after: str | None
) -> Page:
    where = _correction_where(listing)
    if after is not None:
        where.append(CORRECTIONS.c.id < _correction_key(after))
    rows = list(
        (
            await connection.execute(
                select(CORRECTIONS).where(*where).order_by(CORRECTIONS.c.id.desc()).limit(first + 1)
            )
        )
        .mappings()
        .all()
    )
    return Page(rows[:first], len(rows) > first, after is not None)


async def count_corrections(connection: AsyncConnection, listing: CorrectionListing) -> int:
    found = await connection.scalar(
        select(func.count()).select_from(CORRECTIONS).where(*_correction_where(listing))
    )
    return int(found or 0)
