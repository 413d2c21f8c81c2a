"""Reading feed runs back (``feedRuns`` / ``feedRun``): newest first, a page at a time."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import RowMapping, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from store.models import FeedRun

RUNS = FeedRun.__table__


async def page_of_runs(
    connection: AsyncConnection, feed: str, first: int, before: int | None
) -> tuple[Sequence[RowMapping], bool]:
    """Up to ``first`` runs of ``feed`` older than run ``before`` (None: the newest), and
    whether more follow."""
    where = [RUNS.c.feed == feed]
    if before is not None:
        where.append(RUNS.c.id < before)
    rows = (
        (
            await connection.execute(
                select(RUNS).where(*where).order_by(RUNS.c.id.desc()).limit(first + 1)
            )
        )
        .mappings()
        .all()
    )
    return rows[:first], len(rows) > first


async def count_runs(connection: AsyncConnection, feed: str) -> int:
    return int(
        await connection.scalar(select(func.count()).select_from(RUNS).where(RUNS.c.feed == feed))
        or 0
    )


async def get_run(connection: AsyncConnection, run_id: int) -> RowMapping | None:
    return (await connection.execute(select(RUNS).where(RUNS.c.id == run_id))).mappings().first()
