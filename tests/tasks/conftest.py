"""Fixtures of the task tests: findings written straight into the tables a feed run fills, and
a clean slate afterwards (the session's database is shared: every task, finding and recheck
period a test made is taken back)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from sqlalchemy import delete, insert, update
from sqlalchemy.ext.asyncio import AsyncEngine

from store.models import (
    AddressCandidate,
    CatalogResource,
    Correction,
    FeedConflict,
    Task,
    TaskStep,
)

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


@dataclass
class Findings:
    """Writes the rows a feed run would leave: conflicts and unplaced addresses."""

    engine: AsyncEngine

    async def conflict(
        self,
        target: str,
        row_key: str,
        field: str,
        grid_code: str | None,
        *,
        observed: str = "public_security",
        authoritative: str = "civil_affairs",
        observed_value: str | None = "13800000000",
        authoritative_value: str | None = "13900000000",
        run_id: int = 1,
    ) -> int:
        async with self.engine.begin() as connection:
            result = await connection.execute(
                insert(FeedConflict.__table__)
                .values(
                    target=target,
                    row_key=row_key,
                    field=field,
                    grid_code=grid_code,
                    authoritative_department=authoritative,
                    authoritative_value=authoritative_value,
                    observed_department=observed,
                    observed_value=observed_value,
                    feed=f"{observed}-feed",
                    run_id=run_id,
                    observed_at=NOW,
                    status="open",
                )
                .returning(FeedConflict.__table__.c.id)
            )
            return int(result.scalar_one())

    async def unplaced(self, target: str, row_key: str, grid_code: str | None) -> int:
        async with self.engine.begin() as connection:
            result = await connection.execute(
                insert(AddressCandidate.__table__)
                .values(
                    feed="housing-feed",
                    run_id=1,
                    target=target,
                    row_key=row_key,
                    raw_address="新安街道某某路12号",
                    candidates="[]",
                    grid_code=grid_code,
                    created_at=NOW,
                    status="open",
                )
                .returning(AddressCandidate.__table__.c.id)
            )
            return int(result.scalar_one())


async def clean(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(delete(Correction.__table__))
        await connection.execute(delete(TaskStep.__table__))
        await connection.execute(delete(Task.__table__))
        await connection.execute(delete(FeedConflict.__table__))
        await connection.execute(delete(AddressCandidate.__table__))
        await connection.execute(update(CatalogResource.__table__).values(recheck_days=None))


@pytest.fixture
async def findings(engine: AsyncEngine) -> AsyncIterator[Findings]:
    await clean(engine)
    yield Findings(engine)
    await clean(engine)
