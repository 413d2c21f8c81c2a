"""Reports per second: concurrent clients call ``reportEvent`` (placement and routing) against
``gridhub serve --workers 2`` on PostgreSQL.

``--clients`` asyncio tasks in this process, each with its own kept-alive connection and the
token of one grid's worker (the clients are spread over the district's grids), report events
back to back for ``--seconds`` after ``--warmup`` untimed seconds: a point beside one of the
grid's houses (so the hub places it in the grid and finds the nearest house), a matter drawn
from those the matter list routes, a description. Each answer is checked: placed in the
client's grid, dispatched to the matter's department, two history steps. Reported: reports/s,
p50 and p99 latency, failures (a status other than 200, an ``errors`` member or a wrong
answer), and — because the machine is shared and rates move with its load — the CPU seconds
per report of the hub's processes (the ``serve`` process and its workers, read from
``/proc``) and of the PostgreSQL backends serving the benchmark's database, beside the load
average. Whether PostGIS placed the points is said too.

Every request is what a worker's app sends in production: token checked, rate limit taken
(each worker's budget lifted, as in ``throughput.py``), plan compiled or cached, the report
placed, routed, stored with its history, the answer read under the plan, the audit entry
committed before the answer leaves. The events written are removed at the end (their audit
entries stay: the log is append-only).

    python benchmarks/event_reports.py --clients 32 --seconds 30
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import asyncpg
import httpx
import orjson
import typer
from grid_worker import run_async
from grid_worker_setup import (
    RESULTS_DIR,
    ServerEnvOption,
    asyncpg_dsn,
    bench_settings,
    console,
    create_database_if_missing,
    grid_workers,
    running_server,
    safe_url,
    seed_if_empty,
)
from grid_worker_setup import server_env as parse_server_env
from rich.table import Table

from auth.keys import HubKeys
from auth.tokens import issue_token
from store.engine import upgrade

DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/gridhub_bench_reports"
REPORT = """mutation Report($input: ReportEventInput!) {
  reportEvent(input: $input) { id status gridCode handlingDepartmentCode house { code }
    history { action } } }"""
#: Metres (about) a reported point lies from its house: within the nearest-house radius.
JITTER_DEGREES = 0.00005
TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class Place:
    grid: str
    points: tuple[tuple[float, float], ...]


@dataclass
class Run:
    seconds: float
    latencies_ms: list[float] = field(default_factory=list)
    failures: int = 0
    failed: list[str] = field(default_factory=list)

    @property
    def per_second(self) -> float:
        return len(self.latencies_ms) / self.seconds

    def percentile(self, q: int) -> float:
        if len(self.latencies_ms) < 2:
            return float("nan")
        return statistics.quantiles(self.latencies_ms, n=100, method="inclusive")[q - 1]


def process_cpu(pids: list[int]) -> float:
    """User + system CPU seconds of the processes (those gone are left out)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (after pid, comm)
    return total / TICKS


def server_pids(port: int) -> list[int]:
    """The ``gridhub serve`` process listening on ``port`` and its worker processes."""
    parents: dict[int, int] = {}
    master = None
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry.name)] = int(stat[1])
        if b"serve" in command and str(port).encode() in command:
            master = int(entry.name)
    if master is None:
        raise RuntimeError(f"no gridhub serve process on port {port}")
    found = [master]
    for _ in range(3):  # workers, and anything they start
        found += [pid for pid, parent in parents.items() if parent in found and pid not in found]
    return found


async def backend_pids(database_url: str) -> list[int]:
    """The PostgreSQL backends connected to the benchmark's database (the hub's pools)."""
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        rows = await connection.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid()"
        )
    finally:
        await connection.close()
    return [row["pid"] for row in rows]


async def places_and_matters(
    database_url: str, grids: int
) -> tuple[list[Place], dict[str, str], int, bool]:
    """Grids with houses (``grids`` of them, spread over the district), the routed matters and
    their departments, the largest event id now, and whether PostGIS is installed."""
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        rows = await connection.fetch(
            "SELECT grid_code, array_agg(ARRAY[lon, lat] ORDER BY code) AS points"
            " FROM houses GROUP BY grid_code ORDER BY grid_code"
        )
        matters = await connection.fetch(
            "SELECT code, department_code FROM matters WHERE department_code IS NOT NULL"
        )
        last = await connection.fetchval("SELECT COALESCE(MAX(id), 0) FROM events")
        postgis = await connection.fetchval(
            "SELECT EXISTS (SELECT 1 FROM information_schema.columns"
            " WHERE table_name = 'grids' AND column_name = 'geom')"
        )
    finally:
        await connection.close()
    step = max(1, len(rows) // grids)
    chosen = rows[::step][:grids]
    places = [Place(r["grid_code"], tuple((p[0], p[1]) for p in r["points"])) for r in chosen]
    return places, {m["code"]: m["department_code"] for m in matters}, int(last), bool(postgis)


async def remove_reports(database_url: str, after: int) -> int:
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        async with connection.transaction():
            ids = [
                r["id"]
                for r in await connection.fetch("SELECT id FROM events WHERE id > $1", after)
            ]
            await connection.execute("DELETE FROM event_actions WHERE event_id > $1", after)
            await connection.execute(
                "DELETE FROM row_history WHERE target = 'events' AND row_key = ANY($1::text[])",
                [str(i) for i in ids],
            )
            await connection.execute("DELETE FROM events WHERE id > $1", after)
    finally:
        await connection.close()
    return len(ids)


async def hammer(
    url: str,
    clients: list[tuple[Place, str]],
    matters: dict[str, str],
    seconds: float,
    warmup: float,
    on_start: Any,
) -> Run:
    """Each client reports back to back for ``warmup`` + ``seconds``; the timed window counts."""
    run = Run(seconds)
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    started = time.perf_counter()
    window = (started + warmup, started + warmup + seconds)
    codes = sorted(matters)

    async def client(number: int, place: Place, token: str) -> None:
        rng = random.Random(number)
        headers = {"content-type": "application/json", "authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(limits=limits, timeout=60) as http:
            while (sent := time.perf_counter()) < window[1]:
                lon, lat = rng.choice(place.points)
                matter = rng.choice(codes)
                report = {
                    "category": matter,
                    "location": {
                        "lon": lon + rng.uniform(-JITTER_DEGREES, JITTER_DEGREES),
                        "lat": lat + rng.uniform(-JITTER_DEGREES, JITTER_DEGREES),
                    },
                    "description": "基准测试：巡查发现的问题",
                    "source": "GRID_PATROL",
                }
                body = orjson.dumps({"query": REPORT, "variables": {"input": report}})
                answer = await http.post(url, content=body, headers=headers)
                done = time.perf_counter()
                if done > window[1] or sent < window[0]:
                    continue
                problem = _problem(answer, place.grid, matters[matter])
                if problem is None:
                    run.latencies_ms.append((done - sent) * 1000)
                else:
                    run.failures += 1
                    if len(run.failed) < 5:
                        run.failed.append(problem)

    async def timer() -> None:  # the CPU counters are read when the window opens
        await asyncio.sleep(max(0.0, window[0] - time.perf_counter()))
        on_start()

    await asyncio.gather(
        timer(), *(client(n, place, token) for n, (place, token) in enumerate(clients))
    )
    return run


def _problem(answer: httpx.Response, grid: str, department: str) -> str | None:
    if answer.status_code != 200:
        return f"HTTP {answer.status_code}: {answer.text[:200]}"
    body = orjson.loads(answer.content)
    if body.get("errors"):
        return orjson.dumps(body["errors"]).decode()[:300]
    event = (body.get("data") or {}).get("reportEvent") or {}
    shown = (event.get("gridCode"), event.get("handlingDepartmentCode"), event.get("status"))
    if shown != (grid, department, "DISPATCHED") or len(event.get("history") or []) != 2:
        return f"wrong answer: {event}"
    return None


def main(
    database_url: Annotated[
        str, typer.Option(help="PostgreSQL URL; created, migrated and seeded when missing.")
    ] = DEFAULT_DATABASE_URL,
    seconds: Annotated[float, typer.Option(min=0.5, help="Timed seconds.")] = 30,
    warmup: Annotated[float, typer.Option(min=0, help="Untimed seconds first.")] = 3,
    clients: Annotated[int, typer.Option(min=1, help="Concurrent clients.")] = 32,
    workers: Annotated[int, typer.Option(min=1, help="gridhub serve --workers.")] = 2,
    server_env: ServerEnvOption = None,
) -> None:
    """Reports per second with placement and routing, and the CPU each report costs."""
    settings = bench_settings(database_url)
    database_url = settings.database_url
    asyncio.run(create_database_if_missing(database_url))
    upgrade(database_url)
    asyncio.run(seed_if_empty(settings))
    places, matters, last_id, postgis = asyncio.run(places_and_matters(database_url, clients))
    load_before = os.getloadavg()[0]
    cpu: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="gridhub-bench-keys-") as key_dir:
        keys = HubKeys.load_or_create(Path(key_dir))
        subjects = asyncio.run(grid_workers(database_url))
        with running_server(
            database_url,
            Path(key_dir),
            subjects,
            workers=workers,
            extra_env=parse_server_env(server_env or []),
            startup_seconds=300,
        ) as url:
            port = int(url.split(":")[2].split("/")[0])
            hub = server_pids(port)
            assigned = [
                (place, issue_token(keys, settings, f"worker-{place.grid}", "person"))
                for place in (places[i % len(places)] for i in range(clients))
            ]
            postgres: list[int] = []

            def start() -> None:  # the timed window opens: take the CPU counters
                cpu["hub"] = -process_cpu(hub)
                cpu["client"] = -_own_cpu()

            console.print(
                f"{clients} clients report for {warmup} s + {seconds} s"
                f" ({'PostGIS' if postgis else 'shapely'} placement) …"
            )

            async def measured() -> Run:
                postgres.extend(await backend_pids(database_url))
                cpu["postgres"] = -process_cpu(postgres)
                run = await hammer(url, assigned, matters, seconds, warmup, start)
                postgres_now = await backend_pids(database_url)
                cpu["postgres"] += process_cpu(postgres_now)
                cpu["hub"] += process_cpu(hub)
                cpu["client"] += _own_cpu()
                if set(postgres_now) != set(postgres):
                    console.print(
                        "[yellow]The hub opened connections during the run: the"
                        " PostgreSQL CPU counts only those open at both ends.[/yellow]"
                    )
                return run

            run = run_async(measured())
    load_after = os.getloadavg()[0]
    removed = asyncio.run(remove_reports(database_url, last_id))
    reports = len(run.latencies_ms) or 1
    table = Table(title=f"reportEvent, {clients} clients, serve --workers {workers}")
    for column in (
        "reports/s",
        "p50 ms",
        "p99 ms",
        "failures",
        "hub CPU ms/report",
        "PostgreSQL CPU ms/report",
        "client CPU ms/report",
    ):
        table.add_column(column)
    table.add_row(
        f"{run.per_second:.0f}",
        f"{run.percentile(50):.1f}",
        f"{run.percentile(99):.1f}",
        str(run.failures),
        f"{cpu['hub'] / reports * 1000:.2f}",
        f"{cpu['postgres'] / reports * 1000:.2f}",
        f"{cpu['client'] / reports * 1000:.2f}",
    )
    console.print(table)
    for problem in run.failed:
        console.print(f"[red]{problem}[/red]")
    console.print(
        f"placement: {'PostGIS' if postgis else 'shapely'}; load average (1 min) before"
        f" {load_before:.2f}, after {load_after:.2f}; {removed} events removed"
    )
    stamp = datetime.now().astimezone()
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"event_reports-{stamp:%Y%m%dT%H%M%S}.json"
    document: dict[str, Any] = {
        "benchmark": "event_reports",
        "timestamp": stamp.isoformat(timespec="seconds"),
        "database_url": safe_url(database_url),
        "clients": clients,
        "seconds": seconds,
        "warmup": warmup,
        "workers": workers,
        "placement": "postgis" if postgis else "shapely",
        "reports": len(run.latencies_ms),
        "reports_per_second": run.per_second,
        "p50_ms": run.percentile(50),
        "p99_ms": run.percentile(99),
        "failures": run.failures,
        "cpu_seconds": cpu,
        "cpu_ms_per_report": {k: v / reports * 1000 for k, v in cpu.items()},
        "load_average_1min": {"before": load_before, "after": load_after},
    }
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    console.print(f"Figures written to {os.path.relpath(path)}")


def _own_cpu() -> float:
    times = os.times()
    return times.user + times.system


if __name__ == "__main__":
    typer.run(main)
