"""A district of any size, generated streamed in worker processes and loaded in bulk.

The in-memory generator (:func:`demo.generate`) holds every row of a district at once: fine for
the demo, gigabytes at Bao'an's size. Here the district is planned up front (areas, houses per
grid, people and entities per community, events per slice of days: :mod:`demo.bulk.plan`), then
made by tasks that each draw from a random stream of their own — a street at a time
(:mod:`demo.bulk.streets`), then ten days of events at a time (:mod:`demo.bulk.events`) — in
worker processes that hand their rows to this process as ``COPY`` text, which it passes on to
PostgreSQL (or inserts into SQLite) in one transaction (:mod:`demo.bulk.sinks`). The same seed,
profile and date give the same rows, however many workers make them.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from demo.bulk.events import EventContext
from demo.bulk.plan import EventSlice, Plan, StreetTask, make_plan
from demo.bulk.sinks import PostgresSink, Progress, Sink, SQLiteSink, open_postgres
from demo.bulk.streets import StreetSummary
from demo.bulk.workers import Done, Failed, GenerationFailed, Piece, Runner
from demo.generator import Profile, Row
from demo.reference import DEPARTMENTS, MATTERS

__all__ = ["GenerationFailed", "Plan", "default_workers", "make_plan", "seed_streamed"]


def default_workers() -> int:
    """One worker per core: the database and this process share the cores with them, but
    generation is the slowest part, and PostgreSQL waits on it more than it competes."""
    return os.cpu_count() or 1


async def seed_streamed(
    engine: AsyncEngine,
    seed: int,
    profile: Profile,
    as_of: date,
    workers: int | None = None,
    progress: Progress | None = None,
) -> list[Row]:
    """Generate and load a district into an empty database; return its area rows.

    Refuses (:class:`demo.DistrictNotEmptyError`) a database that already holds a district.
    """
    plan = make_plan(seed, profile, as_of)
    count = default_workers() if workers is None else workers
    if engine.dialect.name == "postgresql":
        connection = await open_postgres(engine)
        try:
            async with connection.transaction():
                sink = PostgresSink(connection)
                await sink.prepare()
                await _load(sink, plan, profile, count, progress)
        finally:
            await connection.close()
    else:
        async with engine.begin() as sa_connection:
            sqlite = SQLiteSink(sa_connection)
            await sqlite.prepare()
            await _load(sqlite, plan, profile, count, progress)
    return plan.grids


async def _load(
    sink: Sink, plan: Plan, profile: Profile, workers: int, progress: Progress | None
) -> None:
    await sink.reference(
        [ref._asdict() for ref in DEPARTMENTS], [ref._asdict() for ref in MATTERS], plan.grids
    )
    totals: dict[str, int | None] = {
        "houses": profile.houses,
        "rooms": None,
        "addresses": None,
        "people": profile.people,
        "entities": profile.entities,
        "events": profile.events,
    }
    done: dict[str, int] = dict.fromkeys(totals, 0)

    async def written(piece: Piece) -> None:
        await sink.write(piece)
        done[piece.table] += piece.rows
        if progress is not None:
            progress(piece.table, done[piece.table], totals[piece.table])

    summaries = await _run(plan.streets, workers, sink, written)
    context = EventContext.of(plan.places, [s for s in summaries if isinstance(s, StreetSummary)])
    await _run(plan.event_slices, workers, sink, written, context)
    await sink.finish(progress)


async def _run(
    tasks: Sequence[StreetTask] | Sequence[EventSlice],
    workers: int,
    sink: Sink,
    written: Any,
    context: EventContext | None = None,
) -> list[Any]:
    """Run ``tasks`` and write their pieces as they come; the tasks' results, in task order."""
    results: dict[int, Any] = {}
    if not tasks:
        return []
    runner = Runner(tasks, workers, sink.format, context)
    ok = False
    try:
        while len(results) < len(tasks):
            message = await asyncio.to_thread(runner.next)
            if isinstance(message, Piece):
                await written(message)
            elif isinstance(message, Done):
                results[message.task] = message.result
            elif isinstance(message, Failed):
                raise GenerationFailed(message.error)
        ok = True
    finally:
        runner.close(abort=not ok)
    return [results[i] for i in range(len(tasks))]
