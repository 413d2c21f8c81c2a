"""Point → grid placement of reported events on a district of 3,000 grids (``--grids``).

The district is synthetic and square: one district, 10 streets, 100 communities and, under
them, ``--grids`` grids as equal squares of about 450 m tiling the communities (no gap, no
overlap, as a real district's grids). Its areas are written to a fresh database (SQLite in a
temporary folder by default, or the PostgreSQL server of ``--database-url``, in a new database
dropped afterwards), and ``--points`` random points inside the district are placed one by one
with :func:`events.placement.place_grid` on one open connection, as a report is placed inside
its transaction. Prints p50, p90 and p99 in milliseconds, and checks every point's grid against
the arithmetic answer.

    python benchmarks/event_placement.py                          # SQLite
    python benchmarks/event_placement.py --database-url postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import insert, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from events.placement import place_grid, uses_postgis
from hub.settings import Settings, normalise_database_url
from store.engine import create_engine, upgrade
from store.models import Grid

WEST, SOUTH = 113.80, 22.50
#: One grid's side in degrees (about 450 m at this latitude).
SIDE = 0.0045


def _square(x0: float, y0: float, w: float, h: float) -> str:
    ring = [[x0, y0], [x0 + w, y0], [x0 + w, y0 + h], [x0, y0 + h], [x0, y0]]
    return orjson.dumps({"type": "Polygon", "coordinates": [ring]}).decode()


def district(grids: int) -> tuple[list[dict[str, Any]], int]:
    """Area rows, parents first, and the number of grid columns (for the check)."""
    per_community = max(1, grids // 100)
    columns = 10 * per_community  # a community is a row of per_community grids
    rows: list[dict[str, Any]] = []
    width, height = columns * SIDE, 100 * SIDE

    def area(code: str, level: str, parent: str | None, x: float, y: float, w: float, h: float):
        rows.append(
            {
                "code": code,
                "name": code,
                "level": level,
                "parent_code": parent,
                "geometry": _square(x, y, w, h),
                "min_lon": x,
                "min_lat": y,
                "max_lon": x + w,
                "max_lat": y + h,
            }
        )

    area("440306", "district", None, WEST, SOUTH, width, height)
    for s in range(10):
        street = f"440306{s + 1:03d}"
        area(street, "street", "440306", WEST, SOUTH + s * 10 * SIDE, width, 10 * SIDE)
    for c in range(100):
        street = f"440306{c // 10 + 1:03d}"
        community = f"{street}{c % 10 + 1:03d}"
        y = SOUTH + (c // 10) * 10 * SIDE + (c % 10) * SIDE
        area(community, "community", street, WEST, y, width, SIDE)
    for c in range(100):
        community = f"440306{c // 10 + 1:03d}{c % 10 + 1:03d}"
        y = SOUTH + (c // 10) * 10 * SIDE + (c % 10) * SIDE
        for g in range(columns):
            area(f"{community}{g + 1:03d}", "grid", community, WEST + g * SIDE, y, SIDE, SIDE)
    return rows, columns


def expected(lon: float, lat: float, columns: int) -> str:
    row, column = int((lat - SOUTH) / SIDE), int((lon - WEST) / SIDE)
    return f"440306{row // 10 + 1:03d}{row % 10 + 1:03d}{column + 1:03d}"


async def run(url: str, grids: int, points: int, seed: int) -> list[float]:
    rows, columns = district(grids)
    engine = create_engine(Settings(database_url=url))  # type: ignore[call-arg]
    try:
        async with engine.begin() as connection:
            for start in range(0, len(rows), 1000):
                await connection.execute(insert(Grid.__table__), rows[start : start + 1000])
        rng = random.Random(seed)
        width, height = columns * SIDE, 100 * SIDE
        spots = []
        for _ in range(points):
            lon, lat = WEST + rng.random() * width, SOUTH + rng.random() * height
            # keep off the boundaries, where two grids share the point (both answers are right)
            lon = WEST + (int((lon - WEST) / SIDE) + 0.05 + 0.9 * rng.random()) * SIDE
            lat = SOUTH + (int((lat - SOUTH) / SIDE) + 0.05 + 0.9 * rng.random()) * SIDE
            spots.append((lon, lat))
        timings = []
        async with engine.connect() as connection:
            # PostGIS where the database has it (migration 0024 enables it where offered), as
            # reportEvent decides.
            postgis = await uses_postgis(connection)
            print(f"placing with {'PostGIS' if postgis else 'shapely'}")
            for lon, lat in spots[:50]:  # warm: caches, prepared statements
                await place_grid(connection, lon, lat, postgis)
            for lon, lat in spots:
                started = time.perf_counter()
                found = await place_grid(connection, lon, lat, postgis)
                timings.append((time.perf_counter() - started) * 1000)
                assert found == expected(lon, lat, columns), (lon, lat, found)
        return timings
    finally:
        await engine.dispose()


async def _postgres(admin: str, name: str, drop: bool) -> None:
    engine = create_async_engine(admin, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            verb = "DROP DATABASE IF EXISTS" if drop else "CREATE DATABASE"
            await connection.execute(text(f'{verb} "{name}"'))
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--grids", type=int, default=3000)
    parser.add_argument("--points", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database-url", help="a PostgreSQL server (default: SQLite)")
    args = parser.parse_args()
    if args.database_url:
        admin = normalise_database_url(args.database_url)
        name = f"gridhub_bench_events_{uuid.uuid4().hex[:8]}"
        asyncio.run(_postgres(admin, name, drop=False))
        url = make_url(admin).set(database=name).render_as_string(hide_password=False)
    else:
        url = f"sqlite+aiosqlite:///{Path(tempfile.mkdtemp()) / 'events.db'}"
    try:
        upgrade(url)
        timings = asyncio.run(run(url, args.grids, args.points, args.seed))
    finally:
        if args.database_url:
            asyncio.run(_postgres(admin, name, drop=True))
    cuts = statistics.quantiles(timings, n=100)
    backend = "PostgreSQL" if args.database_url else "SQLite"
    print(
        f"{backend}, {args.grids} grids, {len(timings)} points: placement p50 "
        f"{statistics.median(timings):.3f} ms, p90 {cuts[89]:.3f} ms, p99 {cuts[98]:.3f} ms"
    )


if __name__ == "__main__":
    main()
