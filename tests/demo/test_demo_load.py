"""Loading the demo district into a freshly migrated SQLite database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from demo import District, DistrictNotEmptyError, Profile, is_empty, load, seed
from demo.loader import TABLES
from hub.settings import Settings
from store.engine import create_engine, upgrade
from store.models import Base, Event, Person


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    url = f"sqlite+aiosqlite:///{tmp_path}/demo.db"
    await asyncio.to_thread(upgrade, url)  # Alembic runs its own event loop
    engine = create_engine(Settings(database_url=url))
    yield engine
    await engine.dispose()


async def count(engine: AsyncEngine, model: type[Base]) -> int:
    async with engine.connect() as connection:
        return await connection.scalar(select(func.count()).select_from(model))


async def test_load_writes_every_row(engine: AsyncEngine, small: District) -> None:
    calls: list[tuple[str, int, int]] = []
    assert await is_empty(engine)
    await load(engine, small, lambda table, done, total: calls.append((table, done, total)))
    assert not await is_empty(engine)
    for name, model in TABLES:
        assert await count(engine, model) == len(getattr(small, name)), name
    assert [call[0] for call in calls if call[1] == call[2]] == [name for name, _ in TABLES]
    async with engine.connect() as connection:
        first = (await connection.execute(select(Event).order_by(Event.id).limit(1))).one()
        person = (await connection.execute(select(Person).where(Person.id == 1))).one()
    assert first.reported_at == small.events[0]["reported_at"]
    assert person.id_number == small.people[0]["id_number"]
    assert person.birth_date == small.people[0]["birth_date"]


async def test_seed_refuses_a_database_that_has_a_district(
    engine: AsyncEngine, as_of: date
) -> None:
    district = await seed(engine, 3, Profile.small(), as_of)
    assert await count(engine, Person) == len(district.people)
    with pytest.raises(DistrictNotEmptyError):
        await seed(engine, 4, Profile.small(), as_of)
    with pytest.raises(DistrictNotEmptyError):
        await load(engine, district)
    assert await count(engine, Person) == len(district.people)
