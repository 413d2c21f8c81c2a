"""Making the audit log's monthly partitions ahead of time (PostgreSQL; nothing on SQLite).

Decided: partitions are made ahead, not on write. Every hub process makes the current month's
and the next three months' partitions when it starts and then once a day
(:class:`PartitionKeeper`), and ``gridhub audit partitions`` does the same from cron or by hand.
An entry's write never waits for DDL: making a partition takes a lock on the whole table, which
would stall every request behind it. If every process was down for three months and an entry
still finds no partition, it lands in the table's default partition and is moved into its month's
partition when that is made (:func:`store.audit_partitions.ensure_months`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from store.audit_partitions import (
    MONTHS_AHEAD,
    Month,
    ensure_months,
    is_partitioned,
    months_ahead,
)

log = logging.getLogger(__name__)

#: Seconds between two looks at the partitions ahead.
EVERY_SECONDS = 24 * 3600.0
#: Seconds before a look that failed (a lock not had in time) is tried again.
RETRY_SECONDS = 300.0


async def ensure_partitions(
    engine: AsyncEngine, now: datetime | None = None, ahead: int = MONTHS_AHEAD
) -> list[Month]:
    """Make the partitions of the current month and the ``ahead`` after it that are missing;
    return the months made (none on SQLite or an unpartitioned log)."""
    if engine.dialect.name != "postgresql":
        return []
    async with engine.begin() as connection:
        if not await is_partitioned(connection):
            return []
        return await ensure_months(connection, months_ahead(now or datetime.now(UTC), ahead))


class PartitionKeeper:
    """A hub process's task that keeps the partitions ahead made, daily."""

    def __init__(self, engine: AsyncEngine, clock: Callable[[], datetime] | None = None) -> None:
        self._engine = engine
        self._clock = clock or (lambda: datetime.now(UTC))
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Make what is missing now (a failure is logged, not raised: the default partitions
        take the entries meanwhile), then keep looking daily."""
        if self._engine.dialect.name != "postgresql":
            return
        delay = EVERY_SECONDS if await self._once() else RETRY_SECONDS
        self._task = asyncio.create_task(self._run(delay), name="audit-partitions")

    async def _once(self) -> bool:
        try:
            made = await ensure_partitions(self._engine, self._clock())
        except (DBAPIError, OSError) as error:
            log.warning("Audit partitions ahead not made (tried again later): %s", error)
            return False
        if made:
            log.info("Audit partitions made for %s", ", ".join(str(month) for month in made))
        return True

    async def _run(self, delay: float) -> None:
        while True:
            await asyncio.sleep(delay)
            delay = EVERY_SECONDS if await self._once() else RETRY_SECONDS

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
