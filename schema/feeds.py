"""``feedRuns`` and ``feedRun``: what each run of a department's feed did.

Read by the data officers of the department that owns the feed and by the chief data officer:
duties, not field rules (a run's report is about the department's own export, not shared
rows). Rejects are shown by line, field, code and reason; the rejected row's key (an ID number,
say) is not: the department has it in its own export.
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import strawberry
from sqlalchemy import RowMapping

from catalog import feed_store
from feeds.runs import count_runs, get_run, page_of_runs
from schema.base import Info
from schema.duties import CHIEF_DATA_OFFICER, DATA_OFFICER, has_duty
from schema.relay import PageInfo
from store.errors import BadUserInput, Forbidden
from store.models.base import MAX_KEY

_CURSOR = "feedrun:"


@strawberry.type(description="What a run counted.")
class FeedRunCounts:
    read: int
    inserted: int
    updated: int
    unchanged: int
    removed: int
    rejected: int
    unmatched: int = strawberry.field(
        description="Rows whose address the matcher did not place (kept as candidates; new "
        "ones are not inserted until placed)."
    )
    conflicts: int = strawberry.field(
        description="Values that disagree with the authoritative department's (kept as "
        "observations, not written)."
    )


@strawberry.type(description="A row a run did not take, and why.")
class FeedReject:
    line: int
    field: str | None
    code: str = strawberry.field(
        description="missing_key, duplicate_key, invalid_id_number, invalid_credit_code, "
        "bad_date, unknown_value, missing_value, bad_phone, too_long, undecodable, bad_line, "
        "bad_operation, bad_number, out_of_range."
    )
    reason: str


@strawberry.type(description="One run of a department feed.")
class FeedRun:
    id: int
    feed: str
    department: str
    status: str = strawberry.field(description="running, succeeded or failed.")
    started_by: str
    started_at: datetime
    finished_at: datetime | None
    file_name: str | None
    sha256: str = strawberry.field(description="The SHA-256 of the file the run read.")
    counts: FeedRunCounts
    rejects: list[FeedReject] = strawberry.field(
        description="The first 1,000 rejects, by line (`counts.rejected` says how many)."
    )
    error: str | None = strawberry.field(description="Why a failed run wrote nothing.")

    @classmethod
    def of(cls, row: RowMapping) -> FeedRun:
        counts = {name: int(row["counts"].get(name, 0)) for name in _COUNT_NAMES}
        return cls(
            id=row["id"],
            feed=row["feed"],
            department=row["department_code"],
            status=row["status"],
            started_by=row["started_by"],
            started_at=row["started_at"],
            finished_at=row["finished_at"],
            file_name=row["file_name"],
            sha256=row["file_sha256"],
            counts=FeedRunCounts(**counts),
            rejects=[
                FeedReject(
                    line=int(item["line"]),
                    field=item.get("field"),
                    code=str(item["code"]),
                    reason=str(item["reason"]),
                )
                for item in row["rejects"]
            ],
            error=row["error"],
        )


_COUNT_NAMES = (
    "read",
    "inserted",
    "updated",
    "unchanged",
    "removed",
    "rejected",
    "unmatched",
    "conflicts",
)


@strawberry.type
class FeedRunEdge:
    cursor: str
    node: FeedRun


@strawberry.type(description="A page of a feed's runs, newest first.")
class FeedRunConnection:
    edges: list[FeedRunEdge]
    page_info: PageInfo
    _count: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field(description="How many runs the feed has had in all.")
    async def total_count(self) -> int:
        return await self._count()


def _check_reader(info: Info, department: str) -> None:
    """The owning department's data officers and the chief data officer read a feed's runs."""
    plan: Any = info.context.plan
    if has_duty(plan, CHIEF_DATA_OFFICER):
        return
    principal = getattr(plan, "principal", None)
    if (
        principal is not None
        and has_duty(plan, DATA_OFFICER)
        and principal.department == department
    ):
        return
    raise Forbidden(
        "Feed runs are read by the data officers of the feed's department and the chief data "
        "officer"
    )


def _encode(run_id: int) -> str:
    return base64.b64encode(f"{_CURSOR}{run_id}".encode()).decode()


def _decode(cursor: str) -> int:
    try:
        text = base64.b64decode(cursor.encode(), validate=True).decode()
    except ValueError:
        text = ""
    value = text.removeprefix(_CURSOR)
    if not text.startswith(_CURSOR) or not value.isdigit() or int(value) > MAX_KEY:
        raise BadUserInput("`after` is not a cursor of this list", argument="after")
    return int(value)


async def resolve_feed_runs(
    info: Info, feed: str, first: int | None = None, after: str | None = None
) -> FeedRunConnection:
    settings = info.context.settings
    size = settings.default_page_size if first is None else first
    if not 1 <= size <= settings.max_page_size:
        raise BadUserInput(
            f"`first` must be between 1 and {settings.max_page_size}", argument="first"
        )
    before = None if after is None else _decode(after)
    connection = await info.context.connection()
    declared = await feed_store.get(connection, feed)
    if declared is None:
        raise BadUserInput(f"There is no feed {feed}", argument="feed")
    _check_reader(info, declared.department)
    rows, more = await page_of_runs(connection, feed, size, before)
    edges = [FeedRunEdge(cursor=_encode(row["id"]), node=FeedRun.of(row)) for row in rows]

    async def total() -> int:
        return await count_runs(await info.context.connection(), feed)

    return FeedRunConnection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=more,
            has_previous_page=before is not None,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
        _count=total,
    )


async def resolve_feed_run(info: Info, id: int) -> FeedRun | None:
    if not 1 <= id <= MAX_KEY:
        return None
    row = await get_run(await info.context.connection(), id)
    if row is None:
        return None
    _check_reader(info, row["department_code"])
    return FeedRun.of(row)


#: The types that report on feed runs: not shared data (no field of them is catalogued).
FEED_TYPES = frozenset(
    {"FeedRun", "FeedRunCounts", "FeedReject", "FeedRunEdge", "FeedRunConnection"}
)
