"""Benchmark: the hub against its peers — one hand-written SQL query and PostGraphile 4 — on the
grid worker's page (one grid's houses and their residents), at about 50 and 1,000 rows, asked
by the grid's own worker and by the staff of its street.

Three sides, timed round-robin (one of each per round, so a slow moment hits all of them):

- **hub**: a real ``gridhub serve`` process (one uvicorn worker, default settings, permissions
  checked and an audit entry written per request) on a loopback port, one kept-alive ``httpx``
  connection, from sending the POST to having the whole body;
- **SQL**: the same rows and columns, hand-written, through asyncpg on one open connection;
- **PostGraphile**: PostGraphile 4 (one node process) on the same database's tables, the same
  nesting and columns, one kept-alive connection, timed as the hub is. No permissions, no
  masks, no audit.

Before timing, each answer is checked value for value: the hub's against the SQL rows with the
grid worker's masks (street staff get the same masks), PostGraphile's against the raw SQL rows.

Run: ``.venv/bin/python benchmarks/peers.py`` (see ``benchmarks/README.md``).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import orjson
import typer
from grid_worker import run_async
from grid_worker_setup import (
    DEFAULT_DATABASE_URL,
    NEWEST_ENTRY_INDEXED,
    QUERY,
    SQL,
    ServerEnvOption,
    Settle,
    Workload,
    asyncpg_dsn,
    bench_settings,
    canonical_from_hub,
    canonical_from_sql,
    console,
    count_rows,
    create_database_if_missing,
    grid_workers,
    plan_workloads,
    running_server,
    seed_if_empty,
)
from grid_worker_setup import (
    server_env as parse_server_env,
)
from grid_worker_stats import Stats, round_robin
from peer_postgraphile import QUERY as PEER_QUERY
from peer_postgraphile import (
    canonical_from_postgraphile,
    canonical_raw_from_sql,
    missing_reason,
    running_postgraphile,
)
from peers_report import Variant, report, write_json
from sqlalchemy.engine import make_url

from auth.keys import HubKeys
from auth.tokens import issue_token
from hub.settings import Settings
from store.models import CODE_LENGTH, AreaLevel

#: Who asks: the grid's own worker, and the staff of the street the grid lies in (whose plan
#: scopes every statement to the street's code range instead of the grid's code).
ASKERS = {
    "grid worker": lambda grid: f"worker-{grid}",
    "street staff": lambda grid: f"street-{grid[: CODE_LENGTH[AreaLevel.STREET]]}",
}


@dataclass
class Peers:
    """What every variant's sides share: the clients, the SQL connection, the signing keys."""

    settings: Settings
    keys: HubKeys
    connection: asyncpg.Connection
    hub: httpx.AsyncClient
    hub_url: str
    peer: httpx.AsyncClient | None
    peer_url: str | None


#: Sends one request and returns the answer (raising on a status other than 200).
Send = Callable[[], Awaitable[httpx.Response]]


def post(client: httpx.AsyncClient, url: str, payload: bytes, headers: dict[str, str]) -> Send:
    async def send() -> httpx.Response:
        answer = await client.post(url, content=payload, headers=headers)
        if answer.status_code != 200:
            raise RuntimeError(f"{url} answered {answer.status_code}: {answer.text[:500]}")
        return answer

    return send


async def check(peers: Peers, workload: Workload, subject: str) -> tuple[Send, Send | None, int]:
    """Every side's rows, value for value, before any timing; returns the sides' senders."""
    connection = peers.connection
    token = issue_token(peers.keys, peers.settings, subject, "person")
    headers = {"content-type": "application/json", "authorization": f"Bearer {token}"}
    hub_send = post(
        peers.hub,
        peers.hub_url,
        orjson.dumps({"query": QUERY, "variables": workload.variables}),
        headers,
    )
    records = await connection.fetch(SQL, workload.grid, workload.houses)
    today = datetime.now(ZoneInfo(peers.settings.timezone)).date()
    hub = canonical_from_hub(orjson.loads((await hub_send()).content))
    if hub != canonical_from_sql(records, today):
        raise AssertionError(f"the hub's rows differ from the SQL's for {subject}, {workload}")
    rows = count_rows(hub)
    assert rows == workload.rows, (rows, workload.rows)
    peer_send = None
    if peers.peer is not None and peers.peer_url is not None:
        peer_send = post(
            peers.peer,
            peers.peer_url,
            orjson.dumps({"query": PEER_QUERY, "variables": workload.variables}),
            {"content-type": "application/json"},
        )
        peer = canonical_from_postgraphile(orjson.loads((await peer_send()).content))
        if peer != canonical_raw_from_sql(records):
            raise AssertionError(f"PostGraphile's rows differ from the SQL's for {workload}")
    return hub_send, peer_send, rows


async def measure(peers: Peers, workload: Workload, asker: str, runs: int, warmup: int) -> Variant:
    subject = ASKERS[asker](workload.grid)
    hub_send, peer_send, rows = await check(peers, workload, subject)
    connection = peers.connection

    async def server_indexed() -> None:
        """Until the server has indexed its newest entry (this request's), off the clock."""
        deadline = time.monotonic() + 10
        while not await connection.fetchval(NEWEST_ENTRY_INDEXED):
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not write its audit search index in 10 s")
            await asyncio.sleep(0.0005)

    async def hub() -> Settle:
        await hub_send()
        return server_indexed

    async def sql() -> None:
        await connection.fetch(SQL, workload.grid, workload.houses)

    sides: dict[str, Callable[[], Awaitable[Settle | None]]] = {"hub": hub, "sql": sql}
    if peer_send is not None:

        async def postgraphile() -> None:
            await peer_send()

        sides["postgraphile"] = postgraphile
    stats: dict[str, Stats] = await round_robin(sides, warmup, runs)
    return Variant(workload, asker, subject, rows, stats)


async def run_benchmark(
    settings: Settings,
    keys: HubKeys,
    hub_url: str,
    peer_url: str | None,
    askers: list[str],
    runs: dict[str, int],
    warmup: int,
) -> list[Variant]:
    connection = await asyncpg.connect(asyncpg_dsn(settings.database_url))
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    try:
        workloads = await plan_workloads(connection, settings.max_page_size)
        async with (
            httpx.AsyncClient(limits=limits, timeout=60) as hub,
            httpx.AsyncClient(limits=limits, timeout=60) as peer,
        ):
            peers = Peers(
                settings, keys, connection, hub, hub_url, peer if peer_url else None, peer_url
            )
            variants = []
            for workload in workloads:
                for asker in askers:
                    console.print(
                        f"Timing {workload.size} as {asker}: grid {workload.grid},"
                        f" {workload.rows} rows, {warmup} warm-up + {runs[workload.size]} runs …"
                    )
                    variants.append(
                        await measure(peers, workload, asker, runs[workload.size], warmup)
                    )
            return variants
    finally:
        await connection.close()


def main(
    database_url: Annotated[
        str,
        typer.Option(help="PostgreSQL URL; created, migrated and seeded when missing or empty."),
    ] = DEFAULT_DATABASE_URL,
    runs: Annotated[
        int | None,
        typer.Option(min=2, help="Timed runs per side and variant (default 300 small, 100 large)."),
    ] = None,
    warmup: Annotated[
        int, typer.Option(min=0, help="Untimed rounds first, per variant (>5: plans settle).")
    ] = 30,
    street_staff: Annotated[
        bool, typer.Option(help="Also time the street staff variant of each size.")
    ] = True,
    server_env: ServerEnvOption = None,
    postgraphile: Annotated[
        bool, typer.Option(help="Time PostGraphile 4 (skipped anyway when node is missing).")
    ] = True,
) -> None:
    """Time the grid worker's query through the hub, one SQL query and PostGraphile 4."""
    settings = bench_settings(database_url)
    database_url = settings.database_url
    if asyncio.run(create_database_if_missing(database_url)):
        console.print(f"Created database {make_url(database_url).database}.")
    from store.engine import upgrade

    upgrade(database_url)
    asyncio.run(seed_if_empty(settings))
    skipped = missing_reason() if postgraphile else "--no-postgraphile"
    if skipped:
        console.print(f"[yellow]PostGraphile: {skipped}.[/yellow]")
    askers = list(ASKERS) if street_staff else ["grid worker"]
    runs_per_size = {"small": runs or 300, "large": runs or 100}
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="gridhub-bench-keys-") as key_dir:
        keys = HubKeys.load_or_create(Path(key_dir))
        workers = asyncio.run(grid_workers(database_url))
        subjects = workers + sorted({ASKERS["street staff"](w[len("worker-") :]) for w in workers})
        extra = parse_server_env(server_env or [])
        with running_server(database_url, Path(key_dir), subjects, extra_env=extra) as hub_url:
            if skipped:
                variants = run_async(
                    run_benchmark(settings, keys, hub_url, None, askers, runs_per_size, warmup)
                )
            else:
                with running_postgraphile(database_url) as peer_url:
                    variants = run_async(
                        run_benchmark(
                            settings, keys, hub_url, peer_url, askers, runs_per_size, warmup
                        )
                    )
    load = {"before": load_before[0], "after": os.getloadavg()[0]}
    report(variants, load)
    path = write_json(variants, database_url, runs_per_size, warmup, load, skipped)
    console.print(f"Figures written to {os.path.relpath(path)}")


if __name__ == "__main__":
    typer.run(main)
