"""Subscription fan-out latency: from an event's commit to its arrival on every open stream.

Starts ``gridhub serve`` on the benchmark database (its own by default, ``gridhub_bench_events``:
the script migrates it to this branch's head and writes events into it), opens ``--subscribers``
streams (``eventsInMyGrid`` as the worker of one grid, each on its own connection), and then,
``--rounds`` times, commits one new event in that grid and times, for every stream, the moment
the ``next`` message naming it has been read. A latency is that moment less the moment the
writing transaction's COMMIT returned; the report gives the percentiles over every (stream,
round) pair and over each round's slowest stream (the fan-out done). Between rounds the script
waits ``--interval`` seconds, so each round is one change heard on its own.

Every delivery is what a client gets in production: the change heard (PostgreSQL NOTIFY; on
SQLite, a poll), the token checked, the plan compiled afresh, the event read under it, the
selection executed, the audit entry committed, the message written.

    python benchmarks/event_stream.py --subscribers 50 --rounds 40
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import httpx
import orjson
import typer
from grid_worker_setup import (
    RESULTS_DIR,
    ServerEnvOption,
    bench_settings,
    console,
    create_database_if_missing,
    free_port,
    gridhub_command,
    safe_url,
    seed_if_empty,
)
from grid_worker_setup import server_env as parse_server_env
from rich.table import Table
from sqlalchemy import delete, insert, select

from auth.keys import HubKeys
from auth.tokens import issue_token
from resolvers.ids import to_global_id
from store.engine import create_engine, upgrade
from store.models import Event

DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/gridhub_bench_events"
QUERY = "subscription Bench { eventsInMyGrid { id status category { code } deadline } }"
#: Ids of the events the benchmark writes (removed at the end).
FIRST_ID = 950_000_000
#: Seconds the server may take to start.
START_WITHIN = 300


@contextmanager
def serving(
    database_url: str, key_dir: Path, subject: str, extra_env: dict[str, str]
) -> Iterator[str]:
    """``gridhub serve`` (one worker) on a free port, its default settings but for the key
    folder, a rate-limit budget for ``subject`` that opening every stream at once can not
    spend (as ``grid_worker_setup.running_server`` gives), and ``extra_env``; yields its
    GraphQL URL. Waits up to :data:`START_WITHIN` seconds
    for it: on a loaded machine a first start (compiling the modules) can take minutes."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDHUB_")}
    unlimited = {subject: {"rate": 1e9, "burst": 1_000_000_000}}
    env |= {"GRIDHUB_KEY_DIR": str(key_dir), "GRIDHUB_RATE_LIMIT_PRINCIPALS": json.dumps(unlimited)}
    env |= extra_env
    command = [*gridhub_command(), "serve", "--database-url", database_url, "--port", str(port)]
    with tempfile.TemporaryDirectory(prefix="gridhub-bench-") as workdir:
        log = open(Path(workdir) / "server.log", "w+b")  # noqa: SIM115 - closed below
        process = subprocess.Popen(command, cwd=workdir, env=env, stdout=log, stderr=log)
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + START_WITHIN
            while True:
                if process.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    raise RuntimeError(f"gridhub serve did not start:\n{log.read().decode()}")
                try:
                    if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.2)
            yield f"{base}/graphql"
        finally:
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
            log.close()


@dataclass
class Subscriber:
    """One stream: when each event id arrived on it (perf_counter seconds)."""

    arrived: dict[str, float] = field(default_factory=dict)
    opened: asyncio.Event = field(default_factory=asyncio.Event)
    #: Set on every arrival (the arrival's time is taken as its line is read, not here).
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def wait_for(self, key: str) -> None:
        while key not in self.arrived:
            await self.changed.wait()
            self.changed.clear()


async def listen(client: httpx.AsyncClient, url: str, token: str, into: Subscriber) -> None:
    headers = {"authorization": f"Bearer {token}", "accept": "text/event-stream"}
    async with client.stream("POST", url, json={"query": QUERY}, headers=headers) as response:
        if response.status_code != 200:
            raise RuntimeError(f"the stream was refused: {(await response.aread()).decode()}")
        kind = None
        async for line in response.aiter_lines():
            now = time.perf_counter()
            into.opened.set()
            if line.startswith("event:"):
                kind = line[6:].strip()
            elif line.startswith("data:") and kind == "next":
                body = orjson.loads(line[5:])
                for event in (body.get("data") or {}).get("eventsInMyGrid") or []:
                    into.arrived.setdefault(event["id"], now)
                into.changed.set()


async def run(
    url: str,
    database_url: str,
    token: str,
    grid: str,
    subscribers: int,
    rounds: int,
    interval: float,
) -> tuple[list[float], list[float]]:
    """Per (stream, round) latencies and per round the slowest stream's, in milliseconds."""
    engine = create_engine(bench_settings(database_url))
    streams = [Subscriber() for _ in range(subscribers)]
    limits = httpx.Limits(max_connections=subscribers + 4, max_keepalive_connections=0)
    timeout = httpx.Timeout(30, read=None)
    async with httpx.AsyncClient(limits=limits, timeout=timeout) as client:
        tasks = [asyncio.create_task(listen(client, url, token, s)) for s in streams]
        try:
            async with asyncio.timeout(60):
                await asyncio.gather(*(s.opened.wait() for s in streams))
            async with engine.connect() as connection:
                lon, lat = (
                    await connection.execute(
                        select(Event.lon, Event.lat).where(Event.grid_code == grid).limit(1)
                    )
                ).one()
            all_latencies: list[float] = []
            slowest: list[float] = []
            for number in range(rounds):
                key = FIRST_ID + number
                now = datetime.now(UTC)
                async with engine.begin() as connection:
                    await connection.execute(
                        insert(Event).values(
                            id=key,
                            source="grid_patrol",
                            category_code="fire_lane_blocked",
                            description="基准测试事件",
                            status="reported",
                            reporter="bench",
                            lon=lon,
                            lat=lat,
                            grid_code=grid,
                            handling_department_code="fire",
                            reported_at=now,
                            deadline=now + timedelta(hours=24),
                            updated_at=now,
                        )
                    )
                committed = time.perf_counter()
                wanted = to_global_id("Event", key)
                async with asyncio.timeout(30):
                    await asyncio.gather(*(s.wait_for(wanted) for s in streams))
                latencies = [(s.arrived[wanted] - committed) * 1000 for s in streams]
                all_latencies.extend(latencies)
                slowest.append(max(latencies))
                await asyncio.sleep(interval)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            async with engine.begin() as connection:
                await connection.execute(delete(Event).where(Event.id >= FIRST_ID))
            await engine.dispose()
    return all_latencies, slowest


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def main(
    database_url: Annotated[
        str, typer.Option(help="PostgreSQL URL; created, migrated and seeded when missing.")
    ] = DEFAULT_DATABASE_URL,
    subscribers: Annotated[int, typer.Option(min=1, help="Open streams.")] = 50,
    rounds: Annotated[int, typer.Option(min=2, help="Events committed, one at a time.")] = 40,
    interval: Annotated[float, typer.Option(min=0, help="Seconds between rounds.")] = 0.3,
    server_env: ServerEnvOption = None,
) -> None:
    """Milliseconds from an event's commit to its arrival on every open stream."""
    settings = bench_settings(database_url)
    database_url = settings.database_url
    asyncio.run(create_database_if_missing(database_url))
    upgrade(database_url)
    asyncio.run(seed_if_empty(settings))
    grid = "440306001001001"
    subject = f"worker-{grid}"
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="gridhub-bench-keys-") as key_dir:
        keys = HubKeys.load_or_create(Path(key_dir))
        token = issue_token(keys, settings, subject, "person")
        extra_env = parse_server_env(server_env or [])
        with serving(database_url, Path(key_dir), subject, extra_env) as url:
            console.print(f"{subscribers} streams, {rounds} events …")
            latencies, slowest = asyncio.run(
                run(url, database_url, token, grid, subscribers, rounds, interval)
            )
    load_average = {"before": load_before, "after": os.getloadavg()[0]}
    table = Table(title=f"Fan-out latency, commit → message read ({subscribers} streams)")
    for column in ("", "p50 ms", "p95 ms", "max ms"):
        table.add_column(column)
    for name, values in (("every stream", latencies), ("slowest stream per event", slowest)):
        table.add_row(
            name,
            f"{percentile(values, 50):.1f}",
            f"{percentile(values, 95):.1f}",
            f"{max(values):.1f}",
        )
    console.print(table)
    console.print(
        f"load average (1 min) before {load_before:.2f}, after {load_average['after']:.2f}"
    )
    stamp = datetime.now().astimezone()
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"event_stream-{stamp:%Y%m%dT%H%M%S}.json"
    document: dict[str, Any] = {
        "benchmark": "event_stream",
        "timestamp": stamp.isoformat(timespec="seconds"),
        "database_url": safe_url(database_url),
        "subscribers": subscribers,
        "rounds": rounds,
        "interval": interval,
        "load_average_1min": load_average,
        "every_stream_ms": {
            "p50": percentile(latencies, 50),
            "p95": percentile(latencies, 95),
            "max": max(latencies),
        },
        "slowest_stream_ms": {
            "p50": percentile(slowest, 50),
            "p95": percentile(slowest, 95),
            "max": max(slowest),
        },
    }
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    console.print(f"Figures written to {os.path.relpath(path)}")


if __name__ == "__main__":
    typer.run(main)
