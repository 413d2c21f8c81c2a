"""Raising verification tasks for a whole district after a feed run, and a worker's task list.

Seeds (once) a PostgreSQL database with a district of ``--people`` residents (the demo's
generator, ``Profile.for_people``), the demo's principals and rules and the shipped catalogue;
then, as a feed run of a department would, records conflicts on ``--conflict-share`` of the
people (one field each, in their grid) and unplaced addresses on ``--unplaced-share``, and gives
the people's resource a recheck period that a share of them (``--stale-share``, never verified)
has outrun. It times:

- ``generate``: one ``tasks.generate.generate_tasks`` run over the whole district (one
  transaction, one statement per source), and a second run, which must add nothing;
- ``list``: a grid worker's first page of open tasks (``tasks(filter: {status: OPEN},
  first: 20)`` with its ``totalCount``), through the hub's executor in process with the
  worker's compiled plan (no HTTP), ``--rounds`` times; p50 and p95.

Figures depend on the machine and on what else runs on it: say so next to them.

    python benchmarks/task_generation.py --people 1000000
    python benchmarks/task_generation.py --people 20000 --pad-to 1000000   (quicker to seed)
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, insert, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from catalog.sync import sync_packaged
from demo import Profile, generate, load
from demo.principals import demo_principals, seed_principals
from hub.execution import Executor
from hub.settings import Settings
from policies.access import Access
from policies.principal import load_principal
from resolvers.context import RequestContext
from schema import build_schema
from store.engine import create_engine, upgrade
from store.models import AddressCandidate, CatalogResource, FeedConflict, Grid, Person, Task
from tasks.generate import generate_tasks

QUERY = """{ tasks(filter: {status: OPEN}, first: 20) { totalCount
  edges { node { id kind recordId reason why dueAt history { action } } } } }"""
FIELDS = ("name", "residenceKind", "registration", "gender")


async def _database(url: str) -> None:
    parsed = make_url(url)
    admin = create_async_engine(
        parsed.set(database="postgres").render_as_string(hide_password=False),
        isolation_level="AUTOCOMMIT",
    )
    async with admin.connect() as connection:
        exists = await connection.scalar(
            text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": parsed.database}
        )
        if not exists:
            await connection.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    await admin.dispose()


async def _pad(engine: AsyncEngine, target: int) -> None:
    """Add synthetic residents (one SQL statement, spread over the existing grids round-robin)
    until the district holds ``target`` people: the demo's generator takes hours for a
    million on a busy machine, and raising tasks costs by rows, not by how real they look."""
    async with engine.begin() as connection:
        have = int(await connection.scalar(text("SELECT count(*) FROM people")) or 0)
        if have >= target:
            return
        await connection.execute(
            text(
                """
                WITH g AS (SELECT code, row_number() OVER (ORDER BY code) - 1 AS n,
                                  count(*) OVER () AS total
                           FROM grids WHERE level = 'grid')
                INSERT INTO people (id, name, id_number, gender, birth_date, registration,
                                    residence_kind, care_tags, grid_code)
                SELECT 10000000 + i, '张某', 'P' || lpad(i::text, 17, '0'), 'male',
                       DATE '1980-01-01' + (i % 20000), 'floating', 'renter', '', g.code
                FROM generate_series(1, :extra) AS i
                JOIN g ON g.n = i % g.total
                """
            ),
            {"extra": target - have},
        )
        await connection.execute(text("ANALYZE people"))
    print(f"padded the district from {have:,} to {target:,} people")


async def main(args: argparse.Namespace) -> None:
    await _database(args.database_url)
    await asyncio.to_thread(upgrade, args.database_url)
    # Seeding, padding and raising tasks for a whole district run long statements: the
    # hub's per-statement limit (30 s) is lifted for this script.
    settings = Settings(database_url=args.database_url)
    engine = create_engine(settings.model_copy(update={"database_statement_timeout": 3600.0}))
    async with engine.connect() as connection:
        seeded = await connection.scalar(select(Grid.code).limit(1)) is not None
    if not seeded:
        started = time.perf_counter()
        district = generate(20260101, Profile.for_people(args.people), date(2026, 1, 1))
        await load(engine, district)
        await seed_principals(engine, demo_principals(district.grids, 20260101))
        await sync_packaged(engine, by="benchmark")
        async with engine.connect() as connection:
            await connection.execute(text("COMMIT"))
            await connection.execute(text("VACUUM ANALYZE"))
        print(f"seeded {args.people:,} people in {time.perf_counter() - started:.0f} s")
    if args.pad_to:
        await _pad(engine, args.pad_to)
    now = datetime.now(UTC)
    people = Person.__table__
    async with engine.begin() as connection:
        await connection.execute(Task.__table__.delete())
        await connection.execute(FeedConflict.__table__.delete())
        await connection.execute(AddressCandidate.__table__.delete())
        count = int(await connection.scalar(select(func.count()).select_from(people)) or 0)
        every = max(1, round(1 / args.conflict_share))
        conflicts = select(
            text("'people'"),
            func.cast(people.c.id, FeedConflict.__table__.c.row_key.type),
            text(f"(ARRAY{list(FIELDS)!r})[1 + people.id % {len(FIELDS)}]"),
            people.c.grid_code,
            text("'public_security'"),
            text("NULL"),
            text("'housing'"),
            text("NULL"),
            text("'housing-rentals'"),
            text("1"),
            text(":now").bindparams(now=now),
            text("'open'"),
        ).where(people.c.id % every == 0)
        columns = [
            "target",
            "row_key",
            "field",
            "grid_code",
            "authoritative_department",
            "authoritative_value",
            "observed_department",
            "observed_value",
            "feed",
            "run_id",
            "observed_at",
            "status",
        ]
        await connection.execute(insert(FeedConflict.__table__).from_select(columns, conflicts))
        every = max(1, round(1 / args.unplaced_share))
        unplaced = select(
            text("'people'"),
            func.cast(people.c.id, AddressCandidate.__table__.c.row_key.type),
            text("'housing-rentals'"),
            text("1"),
            text("'某路1号'"),
            text("'[]'"),
            people.c.grid_code,
            text(":now").bindparams(now=now),
            text("'open'"),
        ).where(people.c.id % every == 1)
        await connection.execute(
            insert(AddressCandidate.__table__).from_select(
                [
                    "target",
                    "row_key",
                    "feed",
                    "run_id",
                    "raw_address",
                    "candidates",
                    "grid_code",
                    "created_at",
                    "status",
                ],
                unplaced,
            )
        )
        # Everyone verified yesterday, except a share that was never verified since the load.
        every = max(1, round(1 / args.stale_share))
        await connection.execute(update(people).values(verified_at=now - timedelta(days=1)))
        await connection.execute(
            update(people)
            .where(people.c.id % every == 2)
            .values(verified_at=None, updated_at=now - timedelta(days=400), source_at=None)
        )
        await connection.execute(
            update(CatalogResource.__table__)
            .where(CatalogResource.__table__.c.code == "RK-JC-001")
            .values(recheck_days=365)
        )
    started = time.perf_counter()
    report = await generate_tasks(engine, now)
    first = time.perf_counter() - started
    started = time.perf_counter()
    again = await generate_tasks(engine, now)
    second = time.perf_counter() - started
    assert again.total == 0, again
    print(f"district: {count:,} people")
    print(f"generate: {report.total:,} tasks ({dict(report.raised)}) in {first:.2f} s")
    print(f"generate again: {again.total} tasks in {second:.2f} s")

    # A worker's first page of open tasks, in process, with the worker's plan.
    async with engine.connect() as connection:
        grid = await connection.scalar(
            select(Task.__table__.c.grid_code)
            .group_by(Task.__table__.c.grid_code)
            .order_by(func.count().desc())
            .limit(1)
        )
        principal = await load_principal(connection, f"worker-{grid}")
    assert principal is not None
    access = Access.create(engine)
    executor = Executor(build_schema(), settings.document_cache_size, compiled=True)
    prepared = executor.prepare(QUERY)
    times = []
    for _ in range(args.rounds):
        started = time.perf_counter()
        plan = await access.plans.plan_for(principal, None)
        context = RequestContext.build(settings, engine, plan)
        try:
            body = await executor.run(prepared, None, None, context)
        finally:
            await context.close()
        times.append(time.perf_counter() - started)
    assert not body.get("errors"), body
    tasks = body["data"]["tasks"]
    p50 = statistics.median(times) * 1000
    p95 = statistics.quantiles(times, n=20)[-1] * 1000
    print(
        f"worker-{grid}: {tasks['totalCount']} open tasks; first page of "
        f"{len(tasks['edges'])}: p50 {p50:.1f} ms, p95 {p95:.1f} ms over {args.rounds} rounds"
    )
    await engine.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url",
        default="postgresql+asyncpg://postgres@127.0.0.1:5432/gridhub_bench_tasks",
    )
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--conflict-share", type=float, default=0.02)
    parser.add_argument("--unplaced-share", type=float, default=0.01)
    parser.add_argument("--stale-share", type=float, default=0.05)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument(
        "--pad-to",
        type=int,
        default=0,
        help="Pad the seeded district with synthetic residents to this many people.",
    )
    asyncio.run(main(parser.parse_args()))
