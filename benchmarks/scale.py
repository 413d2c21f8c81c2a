"""The read goals at the demo's size and at a large size, side by side.

For each database (``--small-url``, default the demo district; ``--large-url``, a district
seeded with ``gridhub seed --people N`` or ``--profile baoan``) a real ``gridhub serve`` is
started and asked, over HTTP with kept-alive connections:

- **grid worker's screen** — the houses of the busiest grid with their residents (the load
  test's ``GridHouses``), as that grid's worker;
- **department app's page** — the emergency app's open events of that grid's community, and
  the housing app's houses of the community (``AreaEvents``, ``AreaHouses``);
- **street-wide filtered count** — ``people(filter: {areaCode: <street>, minAge: 80})
  { totalCount }`` as the street's staff (purpose ``elderly_care``), against the hand-written
  ``count(*)`` of the same rows through asyncpg; the goal is within 2x;
- **GeoJSON streaming** — the patrol view's ``houses`` layer at ``/views/{code}.geojson`` for the
  whole street, as the street's staff, in features per second (goal ≥ 20,000).

Medians of ``--runs`` timed requests after ``--warmup`` untimed ones. Databases that are missing
or empty are created and seeded (``gridhub seed``; ``--large-people``, default 500,000).
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import typer
from grid_worker_setup import (
    RESULTS_DIR,
    asyncpg_dsn,
    bench_settings,
    console,
    create_database_if_missing,
    gridhub_command,
    running_server,
    safe_url,
)
from rich.table import Table

from auth.keys import HubKeys
from auth.tokens import issue_token
from hub.settings import Settings

GRID_HOUSES = """query GridHouses($grid: String!) { grid(code: $grid) {
  houses(first: 20) { totalCount edges { node { code address use floors
    residents(first: 10) { totalCount edges { node { name gender age phone } } } } } } } }"""
AREA_EVENTS = """query AreaEvents($area: String!) {
  events(filter: {areaCode: $area, open: true}, first: 50) { totalCount
    edges { node { category { name } reportedAt deadline status } } } }"""
AREA_HOUSES = """query AreaHouses($area: String!) {
  houses(filter: {areaCode: $area}, first: 100) { totalCount
    edges { node { code address use floors } } } }"""
STREET_COUNT = """query StreetElderly($area: String!) {
  people(filter: {areaCode: $area, minAge: 80}) { totalCount } }"""
COUNT_SQL = """SELECT count(*) FROM people
WHERE grid_code >= $1 AND grid_code < $2 AND birth_date <= $3"""
VIEW = "grid-office-patrol"
SEED = 20260101
AS_OF = "2026-01-01"


@dataclass
class Size:
    name: str
    url: str
    figures: dict[str, float] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)


async def _ensure_seeded(url: str, args: list[str]) -> None:
    created = await create_database_if_missing(url)
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        migrated = await connection.fetchval("SELECT to_regclass('grids') IS NOT NULL")
        seeded = migrated and await connection.fetchval("SELECT EXISTS (SELECT 1 FROM grids)")
    finally:
        await connection.close()
    if created or not seeded:
        console.print(f"Seeding {safe_url(url)} ({' '.join(args) or 'demo'}) …")
        base = [*gridhub_command()]
        for step in (["db", "upgrade"], ["seed", "--as-of", AS_OF, "--seed", str(SEED), *args]):
            command = [*base, *step, "--database-url", url]
            await asyncio.to_thread(subprocess.run, command, check=True)


def _median(samples: list[float]) -> float:
    return statistics.median(samples)


async def _timed(
    client: httpx.AsyncClient, request: Any, runs: int, warmup: int
) -> tuple[float, Any]:
    """The median seconds of ``request()`` and its last answer."""
    samples = []
    answer = None
    for number in range(warmup + runs):
        started = time.perf_counter()
        answer = await request()
        if number >= warmup:
            samples.append(time.perf_counter() - started)
    return _median(samples), answer


async def _measure(size: Size, runs: int, warmup: int) -> None:
    settings = bench_settings(size.url)
    database = await asyncpg.connect(asyncpg_dsn(size.url))
    try:
        grid = await database.fetchval(
            "SELECT grid_code FROM houses GROUP BY grid_code ORDER BY count(*) DESC, grid_code"
            " LIMIT 1"
        )
        clients = {
            row["subject"]: row["client_id"]
            for row in await database.fetch("SELECT subject, client_id FROM oauth_clients")
        }
        size.notes["people"] = await database.fetchval("SELECT count(*) FROM people")
        size.notes["events"] = await database.fetchval("SELECT count(*) FROM events")
        size.notes["grid"] = grid
    finally:
        await database.close()
    street, community = grid[:9], grid[:12]
    today = datetime.now(ZoneInfo(settings.timezone)).date()  # the hub's minAge counts from it
    eighty = today.replace(year=today.year - 80, day=28 if today.day == 29 else today.day)
    with tempfile.TemporaryDirectory(prefix="gridhub-scale-") as keys_dir:
        keys = HubKeys.load_or_create(Path(keys_dir))
        token_settings = Settings(database_url=size.url, key_dir=Path(keys_dir), _env_file=None)

        def token(subject: str) -> str:
            if subject in clients:
                return issue_token(
                    keys, token_settings, subject, "client", client_id=clients[subject]
                )
            return issue_token(keys, token_settings, subject, "person")

        worker, staff = f"worker-{grid}", f"street-{street}"
        with running_server(
            settings.database_url, Path(keys_dir), [worker, staff], startup_seconds=600
        ) as url:
            base = url.rsplit("/graphql", 1)[0]
            async with httpx.AsyncClient(timeout=600) as client:

                def ask(query: str, variables: dict[str, Any], subject: str, **headers: str):
                    auth = {"Authorization": f"Bearer {token(subject)}", **headers}

                    async def send() -> Any:
                        response = await client.post(
                            url, json={"query": query, "variables": variables}, headers=auth
                        )
                        body = response.json()
                        if response.status_code != 200 or body.get("errors"):
                            raise RuntimeError(f"{subject}: {response.status_code} {body}")
                        return body["data"]

                    return send

                size.figures["screen_ms"] = (
                    await _timed(client, ask(GRID_HOUSES, {"grid": grid}, worker), runs, warmup)
                )[0] * 1000
                size.figures["app_events_ms"] = (
                    await _timed(
                        client,
                        ask(AREA_EVENTS, {"area": community}, "emergency-app"),
                        runs,
                        warmup,
                    )
                )[0] * 1000
                size.figures["app_houses_ms"] = (
                    await _timed(
                        client, ask(AREA_HOUSES, {"area": community}, "housing-app"), runs, warmup
                    )
                )[0] * 1000
                seconds, data = await _timed(
                    client,
                    ask(
                        STREET_COUNT,
                        {"area": street},
                        staff,
                        **{"X-Access-Purpose": "elderly_care"},
                    ),
                    runs,
                    warmup,
                )
                size.figures["street_count_ms"] = seconds * 1000
                hub_count = data["people"]["totalCount"]
                database = await asyncpg.connect(asyncpg_dsn(size.url))
                try:
                    upper = street[:-1] + chr(ord(street[-1]) + 1)

                    async def by_hand() -> int:
                        return int(await database.fetchval(COUNT_SQL, street, upper, eighty))

                    sql_seconds, sql_count = await _timed(client, by_hand, runs, warmup)
                finally:
                    await database.close()
                size.figures["street_count_sql_ms"] = sql_seconds * 1000
                size.figures["street_count_ratio"] = seconds / sql_seconds
                size.notes["street_count"] = {"hub": hub_count, "sql": sql_count}
                geo_headers = {"Authorization": f"Bearer {token(staff)}"}
                geo_url = f"{base}/views/{VIEW}.geojson"
                params = {"layer": "houses", "areaCode": street}

                async def geojson() -> int:
                    response = await client.get(geo_url, params=params, headers=geo_headers)
                    response.raise_for_status()
                    return len(json.loads(response.content)["features"])

                geo_seconds, features = await _timed(client, geojson, max(3, runs // 10), 1)
                size.figures["geojson_features"] = features
                size.figures["geojson_features_per_s"] = features / geo_seconds


def _report(sizes: list[Size]) -> None:
    table = Table(title="Read goals by district size (medians)")
    table.add_column("figure")
    for size in sizes:
        table.add_column(f"{size.name} ({size.notes.get('people', 0):,} people)", justify="right")
    rows = [
        ("grid worker's screen, ms", "screen_ms", "{:.1f}"),
        ("emergency app: community's open events, ms", "app_events_ms", "{:.1f}"),
        ("housing app: community's houses, ms", "app_houses_ms", "{:.1f}"),
        ("street-wide count (80+), hub ms", "street_count_ms", "{:.1f}"),
        ("street-wide count, hand-written SQL ms", "street_count_sql_ms", "{:.1f}"),
        ("street-wide count, hub ÷ SQL (goal ≤ 2)", "street_count_ratio", "{:.2f}"),
        ("GeoJSON: street's houses, features", "geojson_features", "{:,.0f}"),
        ("GeoJSON: features/s (goal ≥ 20,000)", "geojson_features_per_s", "{:,.0f}"),
    ]
    for label, key, fmt in rows:
        table.add_row(label, *(fmt.format(size.figures.get(key, float("nan"))) for size in sizes))
    console.print(table)


def main(
    small_url: Annotated[
        str, typer.Option(help="The demo-size database.")
    ] = "postgresql+asyncpg://postgres@127.0.0.1:5432/gridhub_scale_demo",
    large_url: Annotated[
        str, typer.Option(help="The large database.")
    ] = "postgresql+asyncpg://postgres@127.0.0.1:5432/gridhub_scale_large",
    large_people: Annotated[
        int, typer.Option(help="People to seed into a missing large database.")
    ] = 500_000,
    runs: Annotated[int, typer.Option(help="Timed requests per figure.")] = 50,
    warmup: Annotated[int, typer.Option(help="Untimed requests first.")] = 5,
) -> None:
    """Time the read goals at the demo's size and at a large size."""
    sizes = [Size("demo", small_url), Size("large", large_url)]

    async def run() -> None:
        await _ensure_seeded(small_url, [])
        await _ensure_seeded(large_url, ["--people", str(large_people)])
        for size in sizes:
            await _measure(size, runs, warmup)

    load_before = Path("/proc/loadavg").read_text().split()[:3]
    asyncio.run(run())
    load_after = Path("/proc/loadavg").read_text().split()[:3]
    _report(sizes)
    console.print(f"load average before {' '.join(load_before)}, after {' '.join(load_after)}")
    RESULTS_DIR.mkdir(exist_ok=True)
    out = RESULTS_DIR / f"scale-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(
        json.dumps(
            {
                "sizes": [
                    {"name": s.name, "url": safe_url(s.url), "figures": s.figures, **s.notes}
                    for s in sizes
                ],
                "load_before": load_before,
                "load_after": load_after,
            },
            indent=2,
            default=str,
        )
    )
    console.print(f"Figures written to {out}")


if __name__ == "__main__":
    typer.run(main)
