"""The process's matcher cache across event loops: a command run with ``asyncio.run`` after
another, or a test after a test, each get their own loop."""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import create_async_engine

from addresses.base import MatcherCache
from store.models import Base


def test_a_loop_that_ended_while_building_leaves_the_next_loop_a_lock_it_can_take(
    tmp_path,
) -> None:
    cache = MatcherCache()

    async def hold_the_lock_and_end() -> None:
        # The loop ends (asyncio.run returns) while this task still holds the lock, as when
        # a command is stopped in the middle of building the index.
        await cache._lock().acquire()

    asyncio.run(hold_the_lock_and_end())

    async def build() -> int:
        engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")
        try:
            async with engine.begin() as connection:
                await connection.run_sync(Base.metadata.create_all)
            matcher = await asyncio.wait_for(cache.get(engine, 0.9), timeout=10)
            return len(matcher.aliases)
        finally:
            await engine.dispose()

    assert asyncio.run(build()) == 0
