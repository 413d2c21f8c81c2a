"""Catalogue live statistics at a district's size: exact counts against the estimate.

    python benchmarks/catalog_statistics.py [--database-url URL] [--people 4920000]
        [--events 5000000] [--repeat 5]

Builds (or reuses) a PostgreSQL database of its own (default ``gridhub_bench_stats``): migrated,
seeded with the demo district (seed 20260101), then its people and events copied over and over
with new ids (``INSERT … SELECT`` with ``generate_series``; new ID numbers, the rest of each row
as it was, so the shares of values stay the demo's) up to ``--people`` and ``--events`` rows,
then ``VACUUM ANALYZE``. It then times :func:`catalog.statistics.measure` — what a resource's
``statistics`` field runs — for ``Person`` and ``Event``, exact (``exact_up_to`` above the table)
and as the hub serves it by default (estimated past 200,000 rows), ``--repeat`` times each,
round-robin, and prints the median time and how far each estimate is from the exact count.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import text  # noqa: E402

from catalog.statistics import EXACT_UP_TO, TypeStatistics, measure  # noqa: E402
from demo import Profile, is_empty, seed  # noqa: E402
from store.engine import create_engine, upgrade  # noqa: E402

DEFAULT_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/gridhub_bench_stats"
SEED = 20260101
AS_OF = date(2026, 1, 1)
TIMEZONE = "Asia/Shanghai"

PEOPLE_COLUMNS = (
    "name, phone, gender, birth_date, registration, residence_kind, house_code, room_code,"
    " employer_code, care_tags, grid_code"
)


class _Settings:
    def __init__(self, url: str) -> None:
        self.database_url = url
        self.database_connect_timeout = 10.0
        self.database_statement_timeout = 3600.0


async def _create_database(url: str) -> None:
    import asyncpg

    name = url.rsplit("/", 1)[1]
    admin = url.rsplit("/", 1)[0].replace("postgresql+asyncpg", "postgresql") + "/postgres"
    connection = await asyncpg.connect(admin)
    try:
        if not await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()


async def _grow(url: str, people: int, events: int) -> None:
    engine = create_engine(_Settings(url))
    try:
        if await is_empty(engine):
            print("seeding the demo district", flush=True)
            await seed(engine, SEED, Profile.demo(), AS_OF)
        started = time.perf_counter()
        async with engine.begin() as connection:
            have = (await connection.execute(text("SELECT count(*) FROM people"))).scalar_one()
            base = (await connection.execute(text("SELECT max(id) FROM people"))).scalar_one()
            if have < people:
                print(f"copying people up to {people:,}", flush=True)
                await connection.execute(
                    text(
                        f"INSERT INTO people (id, id_number, {PEOPLE_COLUMNS})"
                        f" SELECT :base + row_number() OVER (),"
                        f" lpad((:base + row_number() OVER ())::text, 18, 'X'), {PEOPLE_COLUMNS}"
                        " FROM (SELECT * FROM people ORDER BY id LIMIT 8000) AS p,"
                        " generate_series(1, CAST(:copies AS int)) AS k LIMIT :wanted"
                    ),
                    {
                        "base": base,
                        "copies": people // 8000 + 1,
                        "wanted": people - have,
                    },
                )
            columns = [
                row[0]
                for row in await connection.execute(
                    text(
                        "SELECT column_name FROM information_schema.columns"
                        " WHERE table_name = 'events' AND column_name <> 'id'"
                        " ORDER BY ordinal_position"
                    )
                )
            ]
            names = ", ".join(columns)
            have = (await connection.execute(text("SELECT count(*) FROM events"))).scalar_one()
            base = (await connection.execute(text("SELECT max(id) FROM events"))).scalar_one()
            if have < events:
                print(f"copying events up to {events:,}", flush=True)
                await connection.execute(
                    text(
                        f"INSERT INTO events (id, {names})"
                        f" SELECT :base + row_number() OVER (), {names}"
                        " FROM (SELECT * FROM events ORDER BY id LIMIT 4000) AS e,"
                        " generate_series(1, CAST(:copies AS int)) AS k LIMIT :wanted"
                    ),
                    {"base": base, "copies": events // 4000 + 1, "wanted": events - have},
                )
        print(f"grown in {time.perf_counter() - started:.0f} s", flush=True)
        async with engine.connect() as connection:
            connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.execute(text("VACUUM ANALYZE people"))
            await connection.execute(text("VACUUM ANALYZE events"))
    finally:
        await engine.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--people", type=int, default=4_920_000)
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    await _create_database(args.database_url)
    await asyncio.to_thread(upgrade, args.database_url)
    await _grow(args.database_url, args.people, args.events)
    engine = create_engine(_Settings(args.database_url))
    try:
        async with engine.connect() as connection:
            for type_name, table in (("Person", "people"), ("Event", "events")):
                rows = (await connection.execute(text(f"SELECT count(*) FROM {table}"))).scalar()
                times: dict[str, list[float]] = {"exact": [], "estimated": []}
                found: dict[str, TypeStatistics] = {}
                for _ in range(args.repeat):
                    for side, limit in (("exact", 10**12), ("estimated", EXACT_UP_TO)):
                        started = time.perf_counter()
                        found[side] = await measure(connection, type_name, TIMEZONE, limit)
                        times[side].append((time.perf_counter() - started) * 1000)
                print(f"{type_name} ({table}, {rows:,} rows):")
                for side, measured in times.items():
                    print(
                        f"  {side:>9} ({found[side].method}): median "
                        f"{statistics.median(measured):8.1f} ms, max {max(measured):8.1f} ms"
                    )
                exact, estimated = found["exact"], found["estimated"]
                worst = max(
                    abs(estimated.filled[f] - exact.filled[f]) / max(1, exact.rows)
                    for f in exact.filled
                )
                print(
                    f"  rows estimated {estimated.rows:,} vs {exact.rows:,} "
                    f"({(estimated.rows - exact.rows) / exact.rows:+.2%}); completeness off by "
                    f"at most {worst:.2%} of the rows; lastUpdated equal: "
                    f"{estimated.last_changed == exact.last_changed}"
                )
    finally:
        await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
