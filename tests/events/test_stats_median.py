"""eventStats's median handling time is worked out in SQL (PostgreSQL: ``percentile_cont``;
SQLite: the middle rows by a window function); for any set of handling times — odd and even
counts, ties, open events among the closed, a group of one — it is the Python median, on both
back ends, per group."""

from __future__ import annotations

import random
import statistics
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, insert
from sqlalchemy.ext.asyncio import AsyncEngine

from events import stats
from policies.field_rules import OpenPlan
from store.models import Event

GRIDS = ("440306001001001", "440306001001002")
#: A range no other test counts in: the cases' events are reported here and removed after.
START = datetime(2031, 3, 1, tzinfo=UTC)
FIRST_ID = 970_000_000


@pytest.fixture
async def cleaned(engine: AsyncEngine) -> AsyncIterator[None]:
    yield
    async with engine.begin() as connection:
        await connection.execute(delete(Event).where(Event.id >= FIRST_ID))


def _case(rng: random.Random) -> list[tuple[str, float | None]]:
    """(grid, handling hours or None for an open event) of one case."""
    hours = [rng.choice([0.5, 1.0, 2.25, 24.0]) for _ in range(3)]  # ties
    rows = []
    for grid in GRIDS:
        for _ in range(rng.randint(1, 9)):
            closed = rng.random() < 0.8
            value = rng.choice(hours) if rng.random() < 0.3 else round(rng.uniform(0, 200), 4)
            rows.append((grid, value if closed else None))
    return rows


@pytest.mark.usefixtures("cleaned")
async def test_the_median_is_the_python_median_for_any_times(engine: AsyncEngine) -> None:
    rng = random.Random(19)
    for number in range(40):
        rows = _case(rng)
        async with engine.begin() as connection:
            await connection.execute(delete(Event).where(Event.id >= FIRST_ID))
            await connection.execute(
                insert(Event),
                [
                    {
                        "id": FIRST_ID + i,
                        "source": "grid_patrol",
                        "category_code": "gas_leak",
                        "description": "测试",
                        "status": "closed" if hours is not None else "handling",
                        "reporter": "test",
                        "lon": 113.88,
                        "lat": 22.56,
                        "grid_code": grid,
                        "handling_department_code": "emergency",
                        "reported_at": START + timedelta(minutes=i),
                        "closed_at": None
                        if hours is None
                        else START + timedelta(minutes=i, hours=hours),
                        "deadline": START + timedelta(minutes=i, hours=100),
                        "updated_at": START,
                    }
                    for i, (grid, hours) in enumerate(rows)
                ],
            )
            groups = await stats.event_stats(
                connection,
                OpenPlan(),  # type: ignore[arg-type]
                "440306001001",
                START,
                START + timedelta(days=2),
                [stats.GroupBy.GRID],
                min_count=1,
                timezone="Asia/Shanghai",
            )
        found = {g.key[stats.GroupBy.GRID]: g for g in groups}
        for grid in GRIDS:
            closed = [h for g, h in rows if g == grid and h is not None]
            group = found[grid]
            assert group.count == sum(1 for g, _ in rows if g == grid), number
            assert group.closed == len(closed), number
            if closed:
                assert group.median_handling_hours == pytest.approx(
                    statistics.median(closed), abs=1e-6
                ), (number, closed)
                assert group.closed_on_time == sum(1 for h in closed if h <= 100)
            else:
                assert group.median_handling_hours is None
