"""Benchmark: throughput of the grid worker's ~50-row page under concurrent clients — gridhub
(``serve --workers 2``, permissions and audit on) against PostGraphile 4 (one node process).

``--clients`` (default 16) asyncio tasks in this process, each with its own kept-alive HTTP
connection, send the query back to back for ``--seconds`` (default 30) after ``--warmup``
seconds untimed, first against gridhub, then against PostGraphile. Reported per server:
requests/s, p50 and p99 latency, failures (a status other than 200, or an ``errors`` member),
and the CPU this client used, since it shares the machine's cores with the servers and
PostgreSQL.

Why a Python asyncio/httpx client rather than wrk: it needs nothing outside the project's
declared dependencies, signs the grid worker's token and checks the answers itself; its cost
(reported as "client CPU") is paid equally per request on both sides.

Run: ``.venv/bin/python benchmarks/throughput.py`` (see ``benchmarks/README.md``).
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import statistics
import tempfile
import time
from contextlib import ExitStack
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
    DEFAULT_DATABASE_URL,
    QUERY,
    RESULTS_DIR,
    ServerEnvOption,
    asyncpg_dsn,
    bench_settings,
    console,
    create_database_if_missing,
    grid_workers,
    plan_workloads,
    running_server,
    safe_url,
    seed_if_empty,
)
from grid_worker_setup import (
    server_env as parse_server_env,
)
from peer_postgraphile import QUERY as PEER_QUERY
from peer_postgraphile import missing_reason, running_postgraphile
from rich.table import Table

from auth.keys import HubKeys
from auth.tokens import issue_token
from store.engine import upgrade


@dataclass
class Load:
    """One server's run: latencies of the requests that finished within the timed window."""

    name: str
    seconds: float
    latencies_ms: list[float] = field(default_factory=list)
    failures: int = 0
    client_cpu_s: float = 0.0

    @property
    def per_second(self) -> float:
        return len(self.latencies_ms) / self.seconds

    def percentile(self, q: int) -> float:
        if len(self.latencies_ms) < 2:
            return float("nan")
        return statistics.quantiles(self.latencies_ms, n=100, method="inclusive")[q - 1]

    def summary(self) -> dict[str, Any]:
        return {
            "requests": len(self.latencies_ms),
            "requests_per_second": self.per_second,
            "p50_ms": self.percentile(50),
            "p99_ms": self.percentile(99),
            "failures": self.failures,
            "client_cpu_seconds": self.client_cpu_s,
        }


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def hammer(
    name: str,
    url: str,
    body: bytes,
    headers: dict[str, str],
    clients: int,
    seconds: float,
    warmup: float,
) -> Load:
    """``clients`` closed loops for ``warmup`` + ``seconds``; only the timed window counts."""
    load = Load(name, seconds)
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    started = time.perf_counter()
    window = (started + warmup, started + warmup + seconds)

    async def client() -> None:
        async with httpx.AsyncClient(limits=limits, timeout=60) as http:
            while (sent := time.perf_counter()) < window[1]:
                answer = await http.post(url, content=body, headers=headers)
                done = time.perf_counter()
                if done > window[1] or sent < window[0]:
                    continue
                if answer.status_code != 200 or b'"errors"' in answer.content:
                    load.failures += 1
                else:
                    load.latencies_ms.append((done - sent) * 1000)

    await asyncio.sleep(0)
    cpu_at = cpu_seconds()
    await asyncio.gather(*(client() for _ in range(clients)))
    load.client_cpu_s = cpu_seconds() - cpu_at
    return load


async def first_answer(url: str, body: bytes, headers: dict[str, str]) -> None:
    """One request before the load: a server that refuses the query stops the script."""
    async with httpx.AsyncClient(timeout=60) as http:
        answer = await http.post(url, content=body, headers=headers)
    if answer.status_code != 200 or b'"errors"' in answer.content:
        raise RuntimeError(f"{url} answered {answer.status_code}: {answer.text[:500]}")


async def small_variables(database_url: str, max_page_size: int) -> dict[str, Any]:
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        workloads = await plan_workloads(connection, max_page_size)
    finally:
        await connection.close()
    return next(w for w in workloads if w.size == "small").variables


def report(loads: list[Load], clients: int, workers: int, load_average: dict[str, float]) -> None:
    table = Table(title=f"throughput: {clients} clients, ~50-row grid worker query")
    table.add_column("server")
    for column in ("requests/s", "p50 ms", "p99 ms", "failures", "client CPU"):
        table.add_column(column, justify="right")
    for load in loads:
        table.add_row(
            load.name,
            f"{load.per_second:.1f}",
            f"{load.percentile(50):.2f}",
            f"{load.percentile(99):.2f}",
            str(load.failures),
            f"{100 * load.client_cpu_s / load.seconds:.0f} %",
        )
    console.print(table)
    if len(loads) == 2:
        hub, peer = loads
        console.print(
            f"gridhub ÷ PostGraphile: requests/s {hub.per_second / peer.per_second:.2f}×,"
            f" p99 {hub.percentile(99) / peer.percentile(99):.2f}×"
        )
    console.print(
        f"gridhub ran `serve --workers {workers}`; PostGraphile one node process. Load average"
        f" (1 min) before {load_average['before']:.2f}, after {load_average['after']:.2f} on"
        f" {os.cpu_count()} CPUs. 'client CPU' is this script's share of one core."
    )


def main(
    database_url: Annotated[
        str, typer.Option(help="PostgreSQL URL; created, migrated and seeded when missing.")
    ] = DEFAULT_DATABASE_URL,
    seconds: Annotated[float, typer.Option(min=0.5, help="Timed seconds per server.")] = 30,
    warmup: Annotated[float, typer.Option(min=0, help="Untimed seconds first.")] = 3,
    clients: Annotated[int, typer.Option(min=1, help="Concurrent clients.")] = 16,
    workers: Annotated[int, typer.Option(min=1, help="gridhub serve --workers.")] = 2,
    server_env: ServerEnvOption = None,
    postgraphile: Annotated[
        bool, typer.Option(help="Also load PostGraphile 4 (skipped when node is missing).")
    ] = True,
) -> None:
    """Requests/s and p99 of gridhub and PostGraphile 4 under concurrent clients."""
    settings = bench_settings(database_url)
    database_url = settings.database_url
    asyncio.run(create_database_if_missing(database_url))
    upgrade(database_url)
    asyncio.run(seed_if_empty(settings))
    skipped = missing_reason() if postgraphile else "--no-postgraphile"
    if skipped:
        console.print(f"[yellow]PostGraphile: {skipped}.[/yellow]")
    variables = asyncio.run(small_variables(database_url, settings.max_page_size))
    load_before = os.getloadavg()[0]
    loads: list[Load] = []
    with tempfile.TemporaryDirectory(prefix="gridhub-bench-keys-") as key_dir, ExitStack() as stack:
        keys = HubKeys.load_or_create(Path(key_dir))
        subjects = asyncio.run(grid_workers(database_url))
        hub_url = stack.enter_context(
            running_server(
                database_url,
                Path(key_dir),
                subjects,
                workers=workers,
                extra_env=parse_server_env(server_env or []),
            )
        )
        token = issue_token(keys, settings, f"worker-{variables['grid']}", "person")
        targets = [
            (
                f"gridhub ({workers} workers)",
                hub_url,
                orjson.dumps({"query": QUERY, "variables": variables}),
                {"content-type": "application/json", "authorization": f"Bearer {token}"},
            )
        ]
        if not skipped:
            peer_url = stack.enter_context(running_postgraphile(database_url))
            targets.append(
                (
                    "PostGraphile 4",
                    peer_url,
                    orjson.dumps({"query": PEER_QUERY, "variables": variables}),
                    {"content-type": "application/json"},
                )
            )
        for name, url, body, headers in targets:
            console.print(f"Loading {name}: {clients} clients, {warmup} s + {seconds} s …")
            run_async(first_answer(url, body, headers))
            loads.append(run_async(hammer(name, url, body, headers, clients, seconds, warmup)))
    load_average = {"before": load_before, "after": os.getloadavg()[0]}
    report(loads, clients, workers, load_average)
    stamp = datetime.now().astimezone()
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"throughput-{stamp:%Y%m%dT%H%M%S}.json"
    document = {
        "benchmark": "throughput",
        "timestamp": stamp.isoformat(timespec="seconds"),
        "database_url": safe_url(database_url),
        "clients": clients,
        "seconds": seconds,
        "warmup": warmup,
        "workers": workers,
        "variables": variables,
        "postgraphile_skipped": skipped,
        "load_average_1min": load_average,
        "servers": {load.name: load.summary() for load in loads},
    }
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    console.print(f"Figures written to {os.path.relpath(path)}")


if __name__ == "__main__":
    typer.run(main)
