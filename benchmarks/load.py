"""Load test: grid workers, department apps and auditors against ``gridhub serve`` for a while.

A closed loop of ``--users`` virtual users, each one kind of user with a principal of the demo
district, each sending its kind's queries (the pages of docs/) one after another with a short
pause between them, for ``--seconds``. The hub is a real ``gridhub serve --workers N`` process
on a loopback port, on a fresh database (PostgreSQL by default) that the script creates,
migrates and seeds with the demo district, and drops at the end (``--keep`` keeps it).

It reports throughput and p50/p99 latency per kind of user, and the answers by status; then it
stops the server (SIGTERM: entries in flight commit, chains are sealed) and checks that

- no answer was a 5xx;
- every answer the clients received has exactly one entry in the audit log (its
  ``X-Request-Id``), so no entry was lost;
- ``gridhub audit verify`` passes.

It exits 1 if any check fails. Run: ``python benchmarks/load.py`` (see benchmarks/README.md).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from auth.keys import HubKeys
from auth.tokens import issue_token
from hub.settings import Settings, normalise_database_url
from store.models import AuditEntry

DEFAULT_DATABASE = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
RESULTS_DIR = Path(__file__).parent / "results"
#: The share of each kind among the virtual users.
MIX = {"grid worker": 0.6, "department app": 0.3, "auditor": 0.1}
#: Mean pause between a user's requests, seconds (exponentially distributed).
THINK = 0.05

GRID_AT_A_GLANCE = """query GridAtAGlance($grid: String!) { grid(code: $grid) { name
  parent { name parent { name } } stats { houses people entities events openEvents } } }"""
GRID_HOUSES = """query GridHouses($grid: String!) { grid(code: $grid) {
  houses(first: 20) { totalCount edges { node { code address use floors
    residents(first: 10) { totalCount edges { node { name gender age phone } } } } } } } }"""
GRID_EVENTS = """query OpenEvents($grid: String!) { grid(code: $grid) { stats { openEvents }
  events(filter: {open: true}, first: 50) { edges { node { id status category { name }
    reportedAt deadline overdue handlingDepartment { shortName } } } } } }"""
GRID_ENTITIES = """query GridEntities($grid: String!) { grid(code: $grid) {
  entities(first: 50) { totalCount edges { node { creditCode name type industry status
    house { address } } } } } }"""
AREA_HOUSES = """query AreaHouses($area: String!) {
  houses(filter: {areaCode: $area}, first: 100) { totalCount pageInfo { endCursor }
    edges { node { code address use floors } } } }"""
AREA_EVENTS = """query AreaEvents($area: String!) {
  events(filter: {areaCode: $area, open: true}, first: 50) { totalCount
    edges { node { category { name } reportedAt deadline status } } } }"""
ELDERLY = """query Elderly($area: String!) {
  people(filter: {areaCode: $area, minAge: 80}, first: 50) { totalCount
    edges { node { name age phone house { address } } } } }"""
WHO_READ = """query WhoReadIdNumbers {
  auditLog(filter: { resourceType: "Person", field: "idNumber" }, first: 20) {
    edges { node { at subject purpose personIds } } hasNextPage endCursor } }"""
STATS = """query AccessesPerDepartment($from: DateTime!, $to: DateTime!) {
  auditStats(from: $from, to: $to, groupBy: [DEPARTMENT, OUTCOME]) {
    department outcome count } }"""


@dataclass
class Sample:
    kind: str
    operation: str
    status: int
    seconds: float
    request_id: str | None
    started: float = 0.0  # seconds into the run
    error: str | None = None  # why no answer came


@dataclass
class User:
    kind: str
    subject: str
    token: str
    purpose: str | None
    requests: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _gridhub(
    arguments: list[str], home: Path, environment: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hub", *arguments],
        cwd=home,
        env={**os.environ, **environment},
        capture_output=True,
        text=True,
        check=False,
    )


async def _create_database(url: str, drop: bool = False) -> None:
    name = make_url(url).database
    admin = create_async_engine(
        make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT"
    )
    try:
        async with admin.connect() as connection:
            if drop:
                await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            else:
                await connection.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        await admin.dispose()


def _users(count: int, keys: HubKeys, settings: Settings, app_tokens: dict[str, str]) -> list[User]:
    """``count`` users in the proportions of :data:`MIX`, each with its principal and queries."""
    grids = [
        f"440306{street:03d}{community:03d}{grid:03d}"
        for street in (1, 2)
        for community in (1, 2, 3)
        for grid in (1, 2, 3, 4)
    ]
    now = datetime.now(UTC)
    month_ago = now - timedelta(days=30)
    users: list[User] = []
    auditors = max(1, round(MIX["auditor"] * count)) if count >= 3 else 0
    apps = max(1, round(MIX["department app"] * count)) if count >= 2 else 0
    kinds = ["auditor"] * auditors + ["department app"] * apps
    kinds = ["grid worker"] * (count - len(kinds)) + kinds
    for number, kind in enumerate(kinds):
        if kind == "grid worker":
            grid = grids[number % len(grids)]
            subject = f"worker-{grid}"
            token = issue_token(keys, settings, subject, "person")
            variables = {"grid": grid}
            requests = [
                ("GridAtAGlance", GRID_AT_A_GLANCE, variables),
                ("GridHouses", GRID_HOUSES, variables),
                ("OpenEvents", GRID_EVENTS, variables),
                ("GridEntities", GRID_ENTITIES, variables),
            ]
            users.append(User(kind, subject, token, None, requests))
        elif kind == "department app":
            subject, purpose = random.choice(
                [
                    ("housing-app", None),
                    ("emergency-app", None),
                    ("civil-affairs-app", "elderly_care"),
                    ("public-security-app", None),
                ]
            )
            area = {"area": random.choice(["440306001", "440306002", "440306001001"])}
            requests = [("AreaHouses", AREA_HOUSES, area), ("AreaEvents", AREA_EVENTS, area)]
            if purpose:
                requests.append(("Elderly", ELDERLY, area))
            users.append(User(kind, subject, app_tokens[subject], purpose, requests))
        else:
            token = issue_token(keys, settings, "auditor-01", "person")
            period = {"from": month_ago.isoformat(), "to": now.isoformat()}
            requests = [
                ("WhoReadIdNumbers", WHO_READ, {}),
                ("AccessesPerDepartment", STATS, period),
            ]
            users.append(User(kind, "auditor-01", token, None, requests))
    return users


async def _run_user(
    client: httpx.AsyncClient,
    base: str,
    user: User,
    until: float,
    seconds: float,
    samples: list[Sample],
) -> None:
    headers = {"authorization": f"Bearer {user.token}"}
    if user.purpose:
        headers["x-access-purpose"] = user.purpose
    while time.monotonic() < until:
        operation, query, variables = random.choice(user.requests)
        started = time.perf_counter()
        error = None
        try:
            response = await client.post(
                f"{base}/graphql",
                json={"query": query, "variables": variables, "operationName": operation},
                headers=headers,
            )
            status, request_id = response.status_code, response.headers.get("x-request-id")
        except httpx.TransportError as failure:
            status, request_id, error = 0, None, repr(failure)  # no answer
        took = time.perf_counter() - started
        offset = time.monotonic() - (until - seconds)
        samples.append(Sample(user.kind, operation, status, took, request_id, offset - took, error))
        await asyncio.sleep(random.expovariate(1 / THINK))


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def _report(samples: list[Sample], seconds: float) -> dict[str, Any]:
    kinds: dict[str, list[Sample]] = defaultdict(list)
    for sample in samples:
        kinds[sample.kind].append(sample)
    report: dict[str, Any] = {}
    for kind, group in [*sorted(kinds.items()), ("all", samples)]:
        latencies = [s.seconds * 1000 for s in group if s.status]
        report[kind] = {
            "requests": len(group),
            "per_second": round(len(group) / seconds, 1),
            "p50_ms": round(_percentile(latencies, 0.5), 1) if latencies else None,
            "p99_ms": round(_percentile(latencies, 0.99), 1) if latencies else None,
            "mean_ms": round(statistics.fmean(latencies), 1) if latencies else None,
            "statuses": dict(sorted(Counter(str(s.status) for s in group).items())),
        }
    return report


async def _entries_for(database_url: str, request_ids: list[str]) -> Counter[str]:
    engine = create_async_engine(database_url)
    found: Counter[str] = Counter()
    try:
        async with engine.connect() as connection:
            for start in range(0, len(request_ids), 1000):
                chunk = request_ids[start : start + 1000]
                rows = await connection.execute(
                    select(AuditEntry.request_id, func.count())
                    .where(AuditEntry.request_id.in_(chunk))
                    .group_by(AuditEntry.request_id)
                )
                found.update(dict(rows.all()))
    finally:
        await engine.dispose()
    return found


def main(
    seconds: Annotated[float, typer.Option(help="How long the users send requests.")] = 120,
    users: Annotated[int, typer.Option(help="Virtual users at once.")] = 20,
    workers: Annotated[int, typer.Option(help="`gridhub serve --workers`.")] = 2,
    database_url: Annotated[
        str,
        typer.Option(
            help="A server URL (PostgreSQL: a fresh database is made on it) or a SQLite file "
            "that does not exist yet."
        ),
    ] = DEFAULT_DATABASE,
    people: Annotated[
        int | None, typer.Option(help="Seed this many people (default: demo).")
    ] = None,
    keep: Annotated[bool, typer.Option(help="Keep the PostgreSQL database afterwards.")] = False,
    quiet: Annotated[bool, typer.Option(help="Print only the summary.")] = False,
) -> None:
    """Run the load test; exit 1 if a check fails."""
    random.seed(20260101)
    url = normalise_database_url(database_url)
    postgres = url.startswith("postgresql")
    if postgres:
        url = (
            make_url(url)
            .set(database=f"gridhub_load_{uuid.uuid4().hex[:8]}")
            .render_as_string(hide_password=False)
        )
        asyncio.run(_create_database(url))
    home = Path(tempfile.mkdtemp(prefix="gridhub-load-"))
    environment = {"GRIDHUB_DATABASE_URL": url, "GRIDHUB_GRAPHIQL": "false"}

    def say(message: str) -> None:
        if not quiet:
            print(message, file=sys.stderr, flush=True)

    try:
        say(f"seeding {make_url(url).render_as_string(hide_password=True)} …")
        for step in (["db", "upgrade"], ["seed", *(["--people", str(people)] if people else [])]):
            done = _gridhub(step, home, environment)
            if done.returncode != 0:
                raise SystemExit(f"gridhub {' '.join(step)} failed:\n{done.stdout}{done.stderr}")
        outcome = _load(home, environment, url, seconds, users, workers, say)
    finally:
        if postgres and not keep:
            asyncio.run(_create_database(url, drop=True))
    print(json.dumps(outcome["summary"], indent=2, ensure_ascii=False))
    RESULTS_DIR.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (RESULTS_DIR / f"load-{stamp}.json").write_text(json.dumps(outcome, indent=2))
    if outcome["failures"]:
        for failure in outcome["failures"]:
            print(f"FAILED: {failure}", file=sys.stderr)
        raise typer.Exit(1)


def _load(
    home: Path,
    environment: dict[str, str],
    url: str,
    seconds: float,
    count: int,
    workers: int,
    say: Any,
) -> dict[str, Any]:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = home / "server.log"
    # To a file, not a pipe: a pipe nobody reads fills after ~1,000 access-log lines, and then
    # every worker blocks on its next log line.
    log_file = log_path.open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "hub", "serve", "--port", str(port), "--workers", str(workers)],
        cwd=home,
        env={**os.environ, **environment},
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                raise SystemExit(f"the server did not start:\n{log_path.read_text()}")
            time.sleep(0.2)
        settings = Settings(_env_file=None)  # type: ignore[call-arg]
        keys = HubKeys.load_or_create(home / "var" / "keys")
        clients = json.loads((home / "var" / "demo-clients.json").read_text())
        app_tokens = {}
        for subject, credentials in clients.items():
            answer = httpx.post(
                f"{base}/oauth/token",
                data={"grant_type": "client_credentials"},
                auth=(credentials["client_id"], credentials["client_secret"]),
            )
            answer.raise_for_status()
            app_tokens[subject] = answer.json()["access_token"]
        users = _users(count, keys, settings, app_tokens)
        say(f"{len(users)} users for {seconds:g} s against {workers} worker(s) …")
        samples: list[Sample] = []

        async def run_all() -> float:
            limits = httpx.Limits(max_connections=count + 4, max_keepalive_connections=count + 4)
            async with httpx.AsyncClient(timeout=60, limits=limits) as client:
                started = time.monotonic()
                until = started + seconds
                await asyncio.gather(
                    *(_run_user(client, base, u, until, seconds, samples) for u in users)
                )
                return time.monotonic() - started

        elapsed = asyncio.run(run_all())
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=120)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log_file.close()
    output = log_path.read_text(errors="replace")

    failures = []
    if server.returncode != 0:
        failures.append(f"the server exited with {server.returncode}:\n{output[-2000:]}")
    server_errors = [s for s in samples if s.status >= 500 or s.status == 0]
    if server_errors:
        failures.append(f"{len(server_errors)} answers were 5xx or missing")
        for sample in server_errors[:5]:
            failures.append(
                f"  {sample.operation} at {sample.started:.1f} s, after {sample.seconds:.1f} s:"
                f" {sample.status} {sample.error or ''}"
            )
        failures.append(f"  the server's log: {log_path}")
    answered = [s.request_id for s in samples if s.status and s.request_id]
    if len(answered) != len([s for s in samples if s.status]):
        failures.append("some answers carry no X-Request-Id")
    entries = asyncio.run(_entries_for(url, answered))
    lost = [r for r in answered if entries.get(r, 0) != 1]
    if lost:
        failures.append(f"{len(lost)} answers have no (or more than one) audit entry")
    verify = _gridhub(
        ["audit", "verify", "--quiet", "--key-dir", str(home / "var" / "audit-keys")],
        home,
        environment,
    )
    if verify.returncode != 0:
        failures.append(f"gridhub audit verify failed:\n{verify.stdout}{verify.stderr}")
    summary = {
        "seconds": round(elapsed, 1),
        "users": count,
        "workers": workers,
        "backend": make_url(url).get_backend_name(),
        "by_kind": _report(samples, elapsed),
        "answers": len(answered),
        "audit_entries_matched": sum(1 for r in answered if entries.get(r) == 1),
        "audit_verify": "passed" if verify.returncode == 0 else "FAILED",
    }
    return {"summary": summary, "failures": failures}


if __name__ == "__main__":
    typer.run(main)
