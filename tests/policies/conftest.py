"""A policy store on the session's seeded database, emptied for each test and put back after.

The rules live in the shared database (the row-predicate tests need its people), so each test
starts from no rules and the rules found before it are restored afterwards (with a version
bump, so nothing keeps a plan of the test's rules).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from policies.store import PolicyStore
from store.models import CasbinRule, PolicyVersion

RULES = CasbinRule.__table__
COLUMNS = ("ptype", "v0", "v1", "v2", "v3", "v4", "v5")


async def _replace_rules(engine: AsyncEngine, rows: list[dict[str, str | None]]) -> None:
    async with engine.begin() as connection:
        await connection.execute(delete(RULES))
        if rows:
            await connection.execute(insert(RULES), rows)
        await connection.execute(
            update(PolicyVersion)
            .where(PolicyVersion.id == 1)
            .values(version=PolicyVersion.version + 1)
        )


@pytest.fixture
async def store(engine: AsyncEngine) -> AsyncIterator[PolicyStore]:
    async with engine.connect() as connection:
        saved = [
            dict(row._mapping)
            for row in await connection.execute(
                select(*(RULES.c[name] for name in COLUMNS)).order_by(RULES.c.id)
            )
        ]
    await _replace_rules(engine, [])
    try:
        yield PolicyStore(engine)
    finally:
        await _replace_rules(engine, saved)
