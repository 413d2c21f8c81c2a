"""Scenario and benchmark: a PostgreSQL primary and a streaming replica on this machine, two hub
processes, and what read replicas do under load.

It builds two clusters of their own (never touching the server on port 5432, which others use):
a primary (``pg_createcluster``, trust authentication on loopback, ``wal_level=replica`` as
PostgreSQL 15 has by default), seeded with the benchmarks' district (``grid_worker_setup``:
24,000 people), and a replica made from it with ``pg_basebackup -R`` and started as a hot
standby. Then, with two ``gridhub serve`` processes sharing Redis (for rate limits and write
marks):

1. **Throughput**: the grid worker's ~50-row page under ``--clients`` concurrent clients, spread
   over the two hubs, first with every request on the primary (no replica configured), then
   with ``GRIDHUB_READ_REPLICA_URLS`` naming the replica.
2. **Reads on the replica**: the hubs' ``gridhub_reads_total`` by database, and the replica's
   own count of transactions (``pg_stat_database``), during run 1's second half.
3. **Read-your-writes**: replay is paused on the replica (``pg_wal_replay_pause()``); a grid
   worker teaches an address alias through hub A and at once matches the text through hub B:
   it finds its alias (its read went to the primary, by its write mark in Redis), while street
   staff asking hub B the same moment read the paused replica, which has not got it. After
   ``GRIDHUB_REPLICA_MAX_LAG`` the lagging replica leaves the rotation (the staff now read the
   primary, and find it); replay resumes and the replica comes back.
4. **A replica stopped and started mid-load**: ``pg_ctlcluster stop`` (fast: in-flight queries
   are cancelled) and ``start`` while clients keep asking both hubs; every request must answer
   200 without errors, and reads go back to the replica once it has caught up.

Both clusters are dropped at the end (``pg_dropcluster --stop``), also when a step fails. The
script needs root (or the postgres user) for ``pg_createcluster`` and ``pg_basebackup``.

Run: ``.venv/bin/python benchmarks/replicas.py`` (see ``benchmarks/README.md``).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import asyncpg
import httpx
import orjson
import typer
from grid_worker import run_async
from grid_worker_setup import (
    QUERY,
    RESULTS_DIR,
    bench_settings,
    console,
    create_database_if_missing,
    grid_workers,
    running_server,
    seed_if_empty,
)
from rich.table import Table
from throughput import Load, hammer, small_variables

from auth.keys import HubKeys
from auth.tokens import issue_token
from store.engine import upgrade

VERSION = "15"
PRIMARY, REPLICA = "gridhub_bench_primary", "gridhub_bench_replica"
DATABASE = "gridhub_bench"
WORKER = "worker-440306001001001"
STAFF = "street-440306001"
MATCH = """query M($text: String!) { matchAddress(text: $text) { method accepted
  candidates { house { code } } } }"""
TEACH = """mutation T($text: String!, $code: String!) {
  teachAddressAlias(text: $text, code: $code) { normalised } }"""
A_HOUSE = (
    """{ houses(first: 1, filter: {areaCode: "440306001001001"}) { edges { node { code } } } }"""
)


# The two clusters


def sh(*command: str, user: str | None = None, check: bool = True) -> str:
    """Run a command (as ``user`` if given) and return its output; a failure stops the script
    with the command's own words."""
    if user is not None and os.geteuid() == 0:
        command = ("runuser", "-u", user, "--", *command)
    done = subprocess.run(command, capture_output=True, text=True)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def port_free(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def cluster_exists(name: str) -> bool:
    return any(
        line.split()[1:2] == [name] for line in sh("pg_lsclusters", "--no-header").splitlines()
    )


def drop(name: str) -> None:
    if cluster_exists(name):
        sh("pg_dropcluster", "--stop", VERSION, name, check=False)


@contextmanager
def clusters(primary_port: int, replica_port: int, keep: bool) -> Iterator[tuple[str, str]]:
    """A primary and its streaming replica, created now and dropped afterwards (``keep``: the
    primary is kept for the next run, which uses it as it is); yields their PostgreSQL URLs
    (of :data:`DATABASE`)."""
    reuse = cluster_exists(PRIMARY)
    if reuse and not keep:
        raise RuntimeError(f"cluster {VERSION}/{PRIMARY} exists: drop it, or pass --keep")
    if cluster_exists(REPLICA):
        raise RuntimeError(f"cluster {VERSION}/{REPLICA} exists: drop it (pg_dropcluster)")
    for port in (replica_port,) if reuse else (primary_port, replica_port):
        if not port_free(port):
            raise RuntimeError(f"port {port} is taken: choose another (--primary-port ...)")
    try:
        if reuse:
            console.print(f"Using the kept primary {VERSION}/{PRIMARY} on port {primary_port}.")
            sh("pg_ctlcluster", VERSION, PRIMARY, "start", check=False)
        else:
            console.print(f"Creating the primary {VERSION}/{PRIMARY} on port {primary_port} …")
            sh(
                "pg_createcluster",
                VERSION,
                PRIMARY,
                "-p",
                str(primary_port),
                "--start",
                "--",
                "--auth-local=trust",
                "--auth-host=trust",
            )
        primary = f"postgresql+asyncpg://postgres@127.0.0.1:{primary_port}/{DATABASE}"
        yield primary, f"postgresql+asyncpg://postgres@127.0.0.1:{replica_port}/{DATABASE}"
    finally:
        drop(REPLICA)
        if keep:
            sh("pg_ctlcluster", VERSION, PRIMARY, "stop", check=False)
            console.print(
                f"Replica dropped; primary kept (stopped): pg_dropcluster {VERSION} {PRIMARY}"
            )
        else:
            drop(PRIMARY)
            console.print("Both clusters dropped.")


def make_replica(primary_port: int, replica_port: int) -> None:
    """``pg_createcluster`` the replica, replace its data with ``pg_basebackup -R`` of the
    primary (which writes ``standby.signal`` and ``primary_conninfo``), and start it."""
    console.print(f"Creating the replica {VERSION}/{REPLICA} on port {replica_port} …")
    sh(
        "pg_createcluster",
        VERSION,
        REPLICA,
        "-p",
        str(replica_port),
        "--",
        "--auth-local=trust",
        "--auth-host=trust",
    )
    data = Path(f"/var/lib/postgresql/{VERSION}/{REPLICA}")
    for entry in data.iterdir():  # the directory stays, with its owner and mode
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    started = time.perf_counter()
    sh(
        "pg_basebackup",
        "-h",
        "127.0.0.1",
        "-p",
        str(primary_port),
        "-U",
        "postgres",
        "-D",
        str(data),
        "-R",
        "-X",
        "stream",
        "-c",
        "fast",
        user="postgres",
    )
    console.print(f"pg_basebackup took {time.perf_counter() - started:.1f} s.")
    sh("pg_ctlcluster", VERSION, REPLICA, "start")


async def one_value(url: str, sql: str) -> Any:
    from grid_worker_setup import asyncpg_dsn

    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        return await connection.fetchval(sql)
    finally:
        await connection.close()


async def wait_until_replayed(primary: str, replica: str) -> None:
    """Until the replica has replayed what the primary has written now (a minute at most)."""
    position = await one_value(primary, "SELECT pg_current_wal_lsn() - '0/0'::pg_lsn")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            done = await one_value(replica, "SELECT pg_last_wal_replay_lsn() - '0/0'::pg_lsn")
        except (OSError, asyncpg.PostgresError):
            done = None
        if done is not None and done >= position:
            return
        await asyncio.sleep(0.2)
    raise RuntimeError("the replica did not catch up within a minute")


async def transactions(primary: str, replica: str) -> dict[str, int]:
    """Per server, in the benchmark's database: the transactions it ended (committed or rolled
    back: the hub gives a reading connection back with a rollback) and the rows it read
    (``tup_returned + tup_fetched``: what the reads cost it)."""
    where = f"FROM pg_stat_database WHERE datname = '{DATABASE}'"
    xacts = f"SELECT xact_commit + xact_rollback {where}"
    rows = f"SELECT tup_returned + tup_fetched {where}"
    return {
        "primary transactions": int(await one_value(primary, xacts)),
        "replica transactions": int(await one_value(replica, xacts)),
        "primary rows read": int(await one_value(primary, rows)),
        "replica rows read": int(await one_value(replica, rows)),
    }


def delta(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {name: after[name] - before[name] for name in after}


# The hubs


@dataclass
class Hubs:
    urls: list[str]
    keys: HubKeys
    settings: Any

    def token(self, subject: str) -> str:
        return issue_token(self.keys, self.settings, subject, "person")

    def metrics(self) -> dict[str, float]:
        """``gridhub_reads_total`` by database, summed over the hubs."""
        reads: dict[str, float] = {}
        for url in self.urls:
            text = httpx.get(url.removesuffix("/graphql") + "/metrics", timeout=10).text
            for database, value in re.findall(
                r'^gridhub_reads_total\{database="([^"]+)"\} ([0-9.e+]+)$', text, re.M
            ):
                reads[database] = reads.get(database, 0.0) + float(value)
        return dict(reads)

    def in_rotation(self) -> list[float]:
        values = []
        for url in self.urls:
            text = httpx.get(url.removesuffix("/graphql") + "/metrics", timeout=10).text
            found = re.findall(r"^gridhub_read_replica_in_rotation\{[^}]*\} ([0-9.]+)$", text, re.M)
            values.append(float(found[0]) if found else float("nan"))
        return values


@contextmanager
def hubs(
    primary: str,
    key_dir: Path,
    subjects: list[str],
    settings: Any,
    env: dict[str, str],
) -> Iterator[Hubs]:
    with ExitStack() as stack:
        urls = [
            stack.enter_context(
                running_server(primary, key_dir, subjects, extra_env=env, startup_seconds=300)
            )
            for _ in range(2)
        ]
        yield Hubs(urls, HubKeys.load_or_create(key_dir), settings)


async def spread(
    name: str, urls: list[str], body: bytes, headers: dict[str, str], clients: int, seconds: float
) -> Load:
    """:func:`throughput.hammer` with the clients spread over the hubs (half on each)."""
    per = [clients // len(urls) + (1 if i < clients % len(urls) else 0) for i in range(len(urls))]
    loads = await asyncio.gather(
        *(
            hammer(name, url, body, headers, count, seconds, 2.0)
            for url, count in zip(urls, per, strict=True)
            if count
        )
    )
    total = Load(name, seconds)
    for load in loads:
        total.latencies_ms += load.latencies_ms
        total.failures += load.failures
        total.client_cpu_s += load.client_cpu_s
    return total


def post(url: str, query: str, variables: dict[str, Any], token: str) -> dict[str, Any]:
    answer = httpx.post(
        url,
        json={"query": query, "variables": variables},
        headers={"authorization": f"Bearer {token}"},
        timeout=30,
    )
    if answer.status_code != 200:
        raise RuntimeError(f"{url} answered {answer.status_code}: {answer.text[:300]}")
    return dict(answer.json())


# The scenario's steps


def read_your_writes(hubs: Hubs, primary: str, replica: str, max_lag: float) -> dict[str, Any]:
    first, second = hubs.urls
    worker, staff = hubs.token(WORKER), hubs.token(STAFF)
    text = f"复制演示门牌{uuid.uuid4().hex[:6]}"
    code = post(first, A_HOUSE, {}, worker)["data"]["houses"]["edges"][0]["node"]["code"]
    for url in hubs.urls:  # each hub builds its address index before the alias exists
        for token in (worker, staff):
            post(url, MATCH, {"text": "预热"}, token)
    run_async(one_value(replica, "SELECT pg_wal_replay_pause()"))
    try:
        taught = post(first, TEACH, {"text": text, "code": code}, worker)
        if "errors" in taught:
            raise RuntimeError(f"teachAddressAlias failed: {taught}")
        started = time.monotonic()
        # Staff first: a hub that matched the alias once keeps it in its address index.
        other = post(second, MATCH, {"text": text}, staff)["data"]["matchAddress"]["method"]
        own = post(second, MATCH, {"text": text}, worker)["data"]["matchAddress"]["method"]
        console.print(
            f"Replay paused; alias taught through hub A. Through hub B at once — street staff"
            f" (the replica): {other}; the writer (its mark: the primary): {own}."
        )
        time.sleep(max_lag + 2.0)  # the paused replica falls more than max_lag behind
        rotation = hubs.in_rotation()
        console.print(f"{time.monotonic() - started:.1f} s later: in rotation {rotation}.")
    finally:
        run_async(one_value(replica, "SELECT pg_wal_replay_resume()"))
    run_async(wait_until_replayed(primary, replica))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and hubs.in_rotation() != [1.0, 1.0]:
        time.sleep(0.2)
    back = hubs.in_rotation()
    console.print(f"Replay resumed: in rotation {back}.")
    return {
        "writer_through_other_hub": own,
        "other_principal_on_paused_replica": other,
        "in_rotation_after_max_lag": rotation,
        "in_rotation_after_resume": back,
        "holds": own == "ALIAS"
        and other != "ALIAS"
        and rotation == [0.0, 0.0]
        and back == [1.0, 1.0],
    }


async def stop_and_start_under_load(
    hubs: Hubs, body: bytes, headers: dict[str, str], clients: int, seconds: float
) -> tuple[Load, list[tuple[float, str]]]:
    """Load for ``seconds``; the replica stops at a quarter and starts at a half of it."""
    events: list[tuple[float, str]] = []
    started = time.monotonic()

    async def operator() -> None:
        await asyncio.sleep(2.0 + seconds / 4)
        await asyncio.to_thread(sh, "pg_ctlcluster", VERSION, REPLICA, "stop", "-m", "fast")
        events.append((time.monotonic() - started, "replica stopped"))
        await asyncio.sleep(seconds / 4)
        await asyncio.to_thread(sh, "pg_ctlcluster", VERSION, REPLICA, "start")
        events.append((time.monotonic() - started, "replica started"))

    load, _ = await asyncio.gather(
        spread("stop/start", hubs.urls, body, headers, clients, seconds), operator()
    )
    return load, events


def table(loads: list[Load]) -> None:
    out = Table(title="grid worker page (~50 rows), two hub processes")
    out.add_column("reads on")
    for column in ("requests/s", "p50 ms", "p99 ms", "failures"):
        out.add_column(column, justify="right")
    for load in loads:
        out.add_row(
            load.name,
            f"{load.per_second:.1f}",
            f"{load.percentile(50):.2f}",
            f"{load.percentile(99):.2f}",
            str(load.failures),
        )
    console.print(out)


def main(
    primary_port: Annotated[int, typer.Option(help="Port of the scenario's primary.")] = 5434,
    replica_port: Annotated[int, typer.Option(help="Port of the scenario's replica.")] = 5433,
    seconds: Annotated[float, typer.Option(min=1, help="Timed seconds per throughput run.")] = 20,
    clients: Annotated[int, typer.Option(min=2, help="Concurrent clients.")] = 16,
    max_lag: Annotated[float, typer.Option(help="GRIDHUB_REPLICA_MAX_LAG of the hubs.")] = 2.0,
    redis_url: Annotated[str, typer.Option(help="Redis the two hubs share.")] = (
        "redis://127.0.0.1:6379/0"
    ),
    keep: Annotated[
        bool, typer.Option(help="Keep the seeded primary for the next run (and use a kept one).")
    ] = False,
) -> None:
    """Build a primary and a replica, load two hubs, show routing, read-your-writes and a
    replica stopped and started under load; drop both clusters."""
    load_before = os.getloadavg()[0]
    results: dict[str, Any] = {"benchmark": "replicas", "clients": clients, "seconds": seconds}
    with clusters(primary_port, replica_port, keep) as (primary, replica):
        settings = bench_settings(primary)
        started = time.perf_counter()
        run_async(create_database_if_missing(primary))
        upgrade(primary)
        run_async(seed_if_empty(settings))
        console.print(f"Primary ready in {time.perf_counter() - started:.0f} s.")
        make_replica(primary_port, replica_port)
        run_async(wait_until_replayed(primary, replica))
        variables = run_async(small_variables(primary, settings.max_page_size))
        subjects = run_async(grid_workers(primary))
        body = orjson.dumps({"query": QUERY, "variables": variables})
        prefix = f"gridhub-bench-{uuid.uuid4().hex[:8]}:"
        common = {"GRIDHUB_REDIS_URL": redis_url, "GRIDHUB_REDIS_PREFIX": prefix}
        with_replica = {
            **common,
            "GRIDHUB_READ_REPLICA_URLS": replica,
            "GRIDHUB_REPLICA_MAX_LAG": str(max_lag),
            "GRIDHUB_REPLICA_CHECK_SECONDS": "0.5",
        }
        loads: list[Load] = []
        with tempfile.TemporaryDirectory(prefix="gridhub-bench-keys-") as key_dir:
            keys = Path(key_dir)
            token = issue_token(
                HubKeys.load_or_create(keys), settings, f"worker-{variables['grid']}", "person"
            )
            headers = {"content-type": "application/json", "authorization": f"Bearer {token}"}
            with hubs(primary, keys, subjects, settings, common) as only_primary:
                console.print(f"Loading the primary alone: {clients} clients, {seconds} s …")
                before = run_async(transactions(primary, replica))
                loads.append(
                    run_async(
                        spread("primary only", only_primary.urls, body, headers, clients, seconds)
                    )
                )
                results["transactions_primary_only"] = delta(
                    run_async(transactions(primary, replica)), before
                )
            with hubs(primary, keys, subjects, settings, with_replica) as both:
                before = run_async(transactions(primary, replica))
                reads_before = both.metrics()
                console.print(f"Loading primary + replica: {clients} clients, {seconds} s …")
                loads.append(
                    run_async(
                        spread("primary + replica", both.urls, body, headers, clients, seconds)
                    )
                )
                reads = {k: v - reads_before.get(k, 0.0) for k, v in both.metrics().items()}
                served = delta(run_async(transactions(primary, replica)), before)
                console.print(
                    f"Reads by database during that run: {reads}; transactions (database"
                    f" {DATABASE}) primary alone: {results['transactions_primary_only']},"
                    f" with the replica: {served}."
                )
                results["reads_by_database"] = reads
                results["transactions_with_replica"] = served
                results["read_your_writes"] = read_your_writes(both, primary, replica, max_lag)
                before = both.metrics()
                console.print(
                    f"Stopping and starting the replica under load: {clients} clients,"
                    f" {seconds * 2:.0f} s …"
                )
                outage, events = run_async(
                    stop_and_start_under_load(both, body, headers, clients, seconds * 2)
                )
                run_async(wait_until_replayed(primary, replica))
                time.sleep(2 * 0.5 + 0.5)
                after = both.metrics()
                after_reads = {k: v - before.get(k, 0.0) for k, v in after.items()}
                back = both.in_rotation()
                console.print(
                    f"Events: {events}; requests {len(outage.latencies_ms)}, failures"
                    f" {outage.failures}; reads by database {after_reads}; in rotation {back}."
                )
                results["stop_start"] = {
                    "events": events,
                    "requests": len(outage.latencies_ms),
                    "failures": outage.failures,
                    "p99_ms": outage.percentile(99),
                    "reads_by_database": after_reads,
                    "in_rotation_after": back,
                }
                loads.append(outage)
    table(loads)
    load_average = {"before": load_before, "after": os.getloadavg()[0]}
    console.print(
        f"Load average (1 min) before {load_average['before']:.2f}, after"
        f" {load_average['after']:.2f} on {os.cpu_count()} CPUs, shared with other users of"
        " this machine; the hubs, both clusters, Redis and the clients share those cores."
    )
    results["throughput"] = {load.name: load.summary() for load in loads}
    results["load_average_1min"] = load_average
    stamp = datetime.now().astimezone()
    results["timestamp"] = stamp.isoformat(timespec="seconds")
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"replicas-{stamp:%Y%m%dT%H%M%S}.json"
    path.write_text(json.dumps(results, indent=2, ensure_ascii=False, default=str) + "\n")
    console.print(f"Figures written to {os.path.relpath(path)}")
    failed = [
        what
        for what, bad in (
            ("read-your-writes", not results["read_your_writes"]["holds"]),
            ("no failed request", results["stop_start"]["failures"] != 0),
        )
        if bad
    ]
    if failed:
        console.print(f"[red]Did not hold: {', '.join(failed)}[/red]")
        raise typer.Exit(1)


if __name__ == "__main__":
    typer.run(main)
