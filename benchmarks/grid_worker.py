"""Benchmark: a grid worker's page (one grid's houses and their residents) against one SQL query.

The hub is measured by its ratio to one hand-written SQL query fetching the same rows.
This script measures that ratio for the grid worker's most common query, at two sizes (about
50 and about 1,000 rows, counting houses + residents), on PostgreSQL:

- **hub over HTTP**: a real ``gridhub serve`` process (uvicorn, one worker) started here on a
  free loopback port, queried through one kept-alive ``httpx`` connection; the clock runs from
  sending the POST to having the whole response body (not parsing it: that is the client's
  cost, not the hub's);
- **hub in process**: the same query through the hub's :class:`~hub.execution.Executor` in
  this process, without HTTP: the hub's execution cost alone (a stand-in for its server-side
  time, which the hub does not report);
- **SQL**: one hand-written query through asyncpg (the hub's driver), on one open connection,
  selecting exactly the columns the GraphQL query asks for, in the same order.

The three are run round-robin, so a slow patch of the machine hits all of them alike. Before
timing, the hub's answer is checked to hold exactly the SQL's rows, value for value.

Run: ``.venv/bin/python benchmarks/grid_worker.py`` (see ``benchmarks/README.md``).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import orjson
import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import make_url

from audit.keys import AuditKeys
from audit.record import AuditRecord
from audit.writer import AuditWriter, Submitted
from auth.issuers import Verifier
from auth.keys import HubKeys
from auth.principal import identity_from_claims
from auth.tokens import issue_token, verify_token
from demo import Profile, is_empty, seed
from demo.principals import demo_principals, seed_principals
from hub.audit_facts import Facts, document_facts, outcome_of, plan_reads, query_hash, redact
from hub.execution import Executor
from hub.settings import Settings, normalise_database_url
from policies.access import Access
from policies.access_watch import AccessWatch
from policies.field_rules import OpenPlan
from policies.masking import phone
from resolvers.context import RequestContext
from resolvers.filters import age_on
from schema import build_schema
from store.engine import create_engine, upgrade

DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/gridhub_bench"
RESULTS_DIR = Path(__file__).parent / "results"

#: The district the benchmark seeds into an empty database: the demo's 24 grids with three
#: times its rows, i.e. about 1,000 people and 190 houses per grid. The demo (330 people per
#: grid) and ``Profile.for_people`` (about 500 per grid, by design) stay under 1,000 rows in
#: every grid; a dense urban-village grid in Shenzhen easily holds this many.
BENCH_PROFILE = Profile(
    streets=2,
    communities_per_street=3,
    grids_per_community=4,
    houses=4_500,
    people=24_000,
    entities=1_800,
    events=12_000,
)
SEED = 20260101
AS_OF = date(2026, 1, 1)

#: The two sizes, in rows (houses + residents); ``first:`` on houses is chosen to land on or
#: just above each.
SIZES = {"small": 50, "large": 1_000}

#: The most ``first:`` of residents may be (the API's page size cap). The query asks for the
#: grid's largest household rounded up to a multiple of 10 — every resident comes back (the SQL
#: has no limit per house) and the query stays within the hub's default cost limit, as an app's
#: page would; the script checks that no house has more.
RESIDENTS_FIRST = 500

QUERY = """
query GridWorker($grid: String!, $houses: Int!, $residents: Int!) {
  grid(code: $grid) {
    houses(first: $houses) {
      edges {
        node {
          code
          address
          use
          floors
          residents(first: $residents) {
            edges {
              node { id name gender age phone registration residenceKind }
            }
          }
        }
      }
    }
  }
}
"""

#: The same rows, hand-written: the grid's first ``$2`` houses in code order, each with its
#: residents in id order (a house without residents once, with NULLs), the same columns.
#: LATERAL makes PostgreSQL look each house's residents up in ``ix_people_house_code_id`` (the
#: access path the hub's loader uses too); the plain ``LEFT JOIN people ON house_code = code``
#: gets a hash join over the whole people table at this size and runs 2-3× slower, which
#: would flatter the hub's ratio.
SQL = """
SELECT h.code, h.address, h.use, h.floors,
       p.id, p.name, p.gender, p.birth_date, p.phone, p.registration, p.residence_kind
FROM (
    SELECT code, address, use, floors FROM houses
    WHERE grid_code = $1 ORDER BY code LIMIT $2
) AS h
LEFT JOIN LATERAL (
    SELECT id, name, gender, birth_date, phone, registration, residence_kind FROM people
    WHERE house_code = h.code ORDER BY id
) AS p ON true
ORDER BY h.code, p.id
"""

#: Houses per grid with their resident counts, to pick the grid and the ``first:`` per size.
SHAPE_SQL = """
SELECT h.grid_code, h.code, count(p.id) AS residents
FROM houses AS h LEFT JOIN people AS p ON p.house_code = h.code
GROUP BY h.grid_code, h.code
ORDER BY h.grid_code, h.code
"""
#: Whether the newest entry in the log has its search-index rows (see ``audit.indexer``).
NEWEST_ENTRY_INDEXED = """
SELECT m.seq >= e.seq FROM audit_entries AS e JOIN audit_index_marks AS m USING (writer_id)
WHERE e.id = (SELECT max(id) FROM audit_entries)
"""

console = Console()
#: What a side leaves to finish after its answer (the audit log's search-index rows): awaited
#: outside the clock, before the next side starts, so that it is timed as nobody's.
Settle = Callable[[], Awaitable[None]]
#: One side: sends one request and returns what to settle, if anything.
Timed = Callable[[], Awaitable[Settle | None]]
T = TypeVar("T")


# -- the database ------------------------------------------------------------------------------


def asyncpg_dsn(url: str, database: str | None = None) -> str:
    """asyncpg takes a plain ``postgresql://`` DSN, not SQLAlchemy's ``+asyncpg`` form."""
    parsed = make_url(url).set(drivername="postgresql")
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


def safe_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


async def create_database_if_missing(url: str) -> bool:
    """Create the benchmark's database (through the server's ``postgres`` database, since
    ``CREATE DATABASE`` cannot run inside a transaction and asyncpg runs it outside one)."""
    name = make_url(url).database
    if not name:
        raise typer.BadParameter("the database URL names no database", param_hint="--database-url")
    admin = await asyncpg.connect(asyncpg_dsn(url, database="postgres"))
    try:
        if await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            return False
        await admin.execute('CREATE DATABASE "{}"'.format(name.replace('"', '""')))
        return True
    finally:
        await admin.close()


async def seed_if_empty(settings: Settings) -> bool:
    """Seed :data:`BENCH_PROFILE` into an empty database, then ``VACUUM ANALYZE`` so the
    planner's statistics (and the visibility map) are those of a settled database."""
    engine = create_engine(settings)
    try:
        if not await is_empty(engine):
            await seed_principals_if_none(engine)
            return False
        console.print(f"Seeding {BENCH_PROFILE} (seed {SEED}, as of {AS_OF}) …")
        started = time.perf_counter()
        await seed(engine, SEED, BENCH_PROFILE, AS_OF)
        await seed_principals_if_none(engine)
        console.print(f"Seeded in {time.perf_counter() - started:.0f} s.")
    finally:
        await engine.dispose()
    connection = await asyncpg.connect(asyncpg_dsn(settings.database_url))
    try:
        await connection.execute("VACUUM ANALYZE")
    finally:
        await connection.close()
    return True


async def seed_principals_if_none(engine: Any) -> None:
    """The demo's principals and rules (a database seeded before they existed has none)."""
    from sqlalchemy import text

    async with engine.connect() as connection:
        if await connection.scalar(text("SELECT count(*) FROM principals")):
            return
        grids = [
            row._mapping
            for row in await connection.execute(text("SELECT code, level, name FROM grids"))
        ]
    await seed_principals(engine, demo_principals(grids, SEED))


# -- the workload ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Workload:
    """One size: the grid, how many of its houses, and the rows that gives."""

    size: str
    target_rows: int
    grid: str
    houses: int
    residents: int
    residents_first: int

    @property
    def rows(self) -> int:
        return self.houses + self.residents

    @property
    def variables(self) -> dict[str, Any]:
        return {"grid": self.grid, "houses": self.houses, "residents": self.residents_first}


async def plan_workloads(connection: asyncpg.Connection, max_houses: int) -> list[Workload]:
    """Take the grid with the most houses + residents, and for each size the fewest of its
    first houses (in code order, the hub's order) whose rows reach the target.

    One grid serves both sizes so that the sizes differ only in rows. If the grid has fewer
    rows than a target (a database seeded with another profile), all its houses are taken.
    """
    by_grid: dict[str, list[int]] = {}
    for record in await connection.fetch(SHAPE_SQL):
        by_grid.setdefault(record["grid_code"], []).append(record["residents"])
    if not by_grid:
        raise RuntimeError("the database holds no houses")
    grid, residents = max(by_grid.items(), key=lambda item: len(item[1]) + sum(item[1]))
    if max(residents) > RESIDENTS_FIRST:
        raise RuntimeError(
            f"a house of grid {grid} has {max(residents)} residents, more than"
            f" residents(first: {RESIDENTS_FIRST}) returns; the rows would differ"
        )
    residents_first = min(RESIDENTS_FIRST, -(-max(residents) // 10) * 10)
    workloads = []
    for size, target in SIZES.items():
        houses, rows = 0, 0
        limit = min(len(residents), max_houses)
        while houses < limit and rows < target:
            rows += 1 + residents[houses]
            houses += 1
        if rows < target:
            console.print(
                f"[yellow]Grid {grid} yields only {rows} rows for the {size} size"
                f" (target {target}); seed a fresh database for the intended sizes.[/yellow]"
            )
        workloads.append(Workload(size, target, grid, houses, rows - houses, residents_first))
    return workloads


Canonical = list[tuple[Any, ...]]


def canonical_from_sql(records: Sequence[asyncpg.Record], today: date) -> Canonical:
    """The SQL rows as a grid worker gets them: enum names, ages, masked phones, raw ids."""
    houses: dict[str, tuple[Any, ...]] = {}
    for r in records:
        house = houses.setdefault(
            r["code"], (r["code"], r["address"], r["use"].upper(), r["floors"], [])
        )
        if r["id"] is not None:
            house[4].append(
                (
                    r["id"],
                    r["name"],
                    r["gender"].upper(),
                    age_on(r["birth_date"], today),
                    phone(r["phone"]) if r["phone"] else None,  # a grid worker sees it masked
                    r["registration"].upper(),
                    r["residence_kind"].upper(),
                )
            )
    return list(houses.values())


def _person_key(global_id: str) -> int:
    type_name, _, key = base64.b64decode(global_id).decode().partition(":")
    assert type_name == "Person", global_id
    return int(key)


def canonical_from_hub(body: dict[str, Any]) -> Canonical:
    """The hub's answer as the same tuples as :func:`canonical_from_sql`."""
    if body.get("errors"):
        raise RuntimeError(f"the hub answered with errors: {body['errors']}")
    houses = []
    for edge in body["data"]["grid"]["houses"]["edges"]:
        h = edge["node"]
        people = [
            (
                _person_key(p["id"]),
                p["name"],
                p["gender"],
                p["age"],
                p["phone"],
                p["registration"],
                p["residenceKind"],
            )
            for p in (e["node"] for e in h["residents"]["edges"])
        ]
        houses.append((h["code"], h["address"], h["use"], h["floors"], people))
    return houses


def count_rows(canonical: Canonical) -> int:
    """Houses + residents."""
    return sum(1 + len(house[4]) for house in canonical)


# -- the server --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def gridhub_command() -> list[str]:
    """The ``gridhub`` script of the running interpreter's environment, else ``python -m hub``."""
    script = Path(sys.executable).with_name("gridhub")
    return [str(script)] if script.exists() else [sys.executable, "-m", "hub"]


async def grid_workers(database_url: str) -> list[str]:
    """The subjects of every grid's worker (``worker-<grid>``), whom the benchmark may ask as."""
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        codes = await connection.fetch("SELECT code FROM grids ORDER BY code")
    finally:
        await connection.close()
    return [f"worker-{row['code']}" for row in codes]


@contextmanager
def running_server(database_url: str, key_dir: Path, subjects: Sequence[str]) -> Iterator[str]:
    """A ``gridhub serve`` process for the benchmark; yields its GraphQL URL.

    It runs in an empty directory with no ``GRIDHUB_*`` variables, so no ``.env`` file or
    environment changes its settings (page-size caps, say) from the defaults measured here —
    with one exception: ``subjects`` (the grid workers the benchmark asks as) get a budget
    no run can spend. Hundreds of back-to-back requests from one person are exactly what the
    default rate limit refuses (429); a budget of its own keeps the limiter's per-request
    work in the figures while never refusing.
    Its log (uvicorn's access log included, as in production) goes to a file, shown if it
    fails to start.
    """
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDHUB_")}
    env["GRIDHUB_KEY_DIR"] = str(key_dir)  # the benchmark signs the grid worker's token
    unlimited = {"rate": 1e9, "burst": 1_000_000_000}
    env["GRIDHUB_RATE_LIMIT_PRINCIPALS"] = json.dumps(dict.fromkeys(subjects, unlimited))
    command = [
        *gridhub_command(),
        "serve",
        "--database-url",
        database_url,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    with (
        tempfile.TemporaryDirectory(prefix="gridhub-bench-") as workdir,
        open(Path(workdir) / "server.log", "w+b") as log,
    ):
        process = subprocess.Popen(command, cwd=workdir, env=env, stdout=log, stderr=log)
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while True:
                if process.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    raise RuntimeError(
                        f"gridhub serve did not start:\n{log.read().decode(errors='replace')}"
                    )
                try:
                    if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)
            yield f"{base}/graphql"
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


# -- timing ------------------------------------------------------------------------------------


@dataclass
class Stats:
    """Latencies of one side at one size, in milliseconds."""

    samples: list[float] = field(repr=False)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def p99(self) -> float:
        """The 99th percentile (with 100 runs this is close to the slowest run)."""
        return statistics.quantiles(self.samples, n=100, method="inclusive")[98]

    def summary(self) -> dict[str, Any]:
        return {
            "median_ms": self.median,
            "p99_ms": self.p99,
            "mean_ms": statistics.fmean(self.samples),
            "min_ms": min(self.samples),
            "max_ms": max(self.samples),
            "runs": len(self.samples),
            "samples_ms": self.samples,
        }


async def round_robin(sides: dict[str, Timed], warmup: int, runs: int) -> dict[str, Stats]:
    """Time each side ``runs`` times, one of each per round, after ``warmup`` untimed rounds;
    what a side leaves to finish after its answer is awaited between sides, off the clock."""
    samples: dict[str, list[float]] = {name: [] for name in sides}
    for round_number in range(warmup + runs):
        for name, call in sides.items():
            started = time.perf_counter_ns()
            settle = await call()
            elapsed = (time.perf_counter_ns() - started) / 1e6
            if round_number >= warmup:
                samples[name].append(elapsed)
            if settle is not None:
                await settle()
    return {name: Stats(values) for name, values in samples.items()}


@dataclass
class Result:
    workload: Workload
    hub_rows: int
    sql_rows: int
    sql_records: int
    stats: dict[str, Stats]

    def ratio(self, side: str, measure: str) -> float:
        return float(getattr(self.stats[side], measure) / getattr(self.stats["sql"], measure))


async def measure(
    workload: Workload,
    runs: int,
    warmup: int,
    client: httpx.AsyncClient,
    graphql_url: str,
    connection: asyncpg.Connection,
    settings: Settings,
    in_process: InProcess,
) -> Result:
    """Check that hub and SQL return the same rows, then time both (and the in-process hub,
    with the worker's permissions and with an all-allowing plan)."""
    payload = orjson.dumps({"query": QUERY, "variables": workload.variables})
    token = in_process.token_for(f"worker-{workload.grid}")
    headers = {"content-type": "application/json", "authorization": f"Bearer {token}"}
    args = (workload.grid, workload.houses)
    executor, engine = in_process.executor, in_process.engine

    response = await client.post(graphql_url, content=payload, headers=headers)
    response.raise_for_status()
    hub = canonical_from_hub(orjson.loads(response.content))
    records = await connection.fetch(SQL, *args)
    today = datetime.now(ZoneInfo(settings.timezone)).date()
    sql = canonical_from_sql(records, today)
    if hub != sql:
        raise AssertionError(f"the hub's rows differ from the SQL's for {workload}")
    hub_rows, sql_rows = count_rows(hub), count_rows(sql)
    assert hub_rows == sql_rows == workload.rows, (hub_rows, sql_rows, workload.rows)

    async def over_http() -> Settle:
        answer = await client.post(graphql_url, content=payload, headers=headers)
        if answer.status_code != 200:
            raise RuntimeError(f"the hub answered {answer.status_code}: {answer.text[:500]}")
        return server_indexed

    async def server_indexed() -> None:
        """Until the server has written the search-index rows of its newest entry (this
        request's: nothing else writes meanwhile), which it does right after answering."""
        deadline = time.monotonic() + 10
        while not await connection.fetchval(NEWEST_ENTRY_INDEXED):
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not write its audit search index in 10 s")
            await asyncio.sleep(0.0005)

    async def run_in_process(context: RequestContext, audit: bool = False) -> None:
        started = time.perf_counter()
        prepared = executor.prepare(QUERY)
        submitted: Submitted | None = None
        try:
            if context.plan is NO_PLAN:  # the permissions: token, principal, plan
                claims = await verify_token(token, in_process.verifier)
                context.identity = identity_from_claims(claims, in_process.verifier)
                context.plan = await in_process.access.plan_for(
                    context.identity, None, await context.connection()
                )
            body = await executor.run(prepared, workload.variables, None, context)
            if "errors" in body:
                raise RuntimeError(f"the hub answered with errors: {body['errors']}")
            if audit:  # what the endpoint adds for the audit log: the entry, committed ...
                entry = audit_record(prepared, context, body, started)
                submitted = in_process.audit.submit(entry)
        finally:
            await context.close()  # ... written, as there, while the connection goes back
        if submitted is not None:
            await in_process.audit.committed(submitted)

    def audit_record(
        prepared: Any, context: RequestContext, body: dict[str, Any], started: float
    ) -> AuditRecord:
        plan = context.plan
        document = prepared.memoized(
            "audit", lambda: document_facts(executor.schema, prepared.document)
        )
        facts = Facts(request_id=uuid.uuid4().hex, client_address="127.0.0.1", started=started)
        facts.subject, facts.principal_kind = context.identity.subject, context.identity.kind
        facts.department_code, facts.roles = plan.principal.department, plan.roles
        facts.operation_name, facts.operation_type = "GridWorker", "query"
        facts.query_hash = prepared.memoized(
            "query_hash", lambda: query_hash(prepared.document, QUERY)
        )
        operation = prepared.operation(None)
        facts.variables = redact(workload.variables, operation, document)
        facts.reads, facts.grant_ids = plan_reads(plan, document)
        facts.person_ids = tuple(str(key) for key in sorted(context.person_ids))
        facts.row_counts = dict(context.row_counts)
        facts.outcome, facts.error_code = outcome_of(body, facts.reads)
        return facts.record(int((time.perf_counter() - started) * 1_000_000))

    async def hub_in_process() -> None:
        await run_in_process(RequestContext.build(settings, engine, NO_PLAN))

    async def hub_audited() -> Settle:
        await run_in_process(RequestContext.build(settings, engine, NO_PLAN), audit=True)
        return in_process.audit.indexed

    async def hub_open() -> None:
        await run_in_process(RequestContext.build(settings, engine, OpenPlan()))

    async def by_sql() -> None:
        await connection.fetch(SQL, *args)

    sides = {
        "hub": over_http,
        "hub_audited": hub_audited,
        "hub_in_process": hub_in_process,
        "hub_open": hub_open,
        "sql": by_sql,
    }
    stats = await round_robin(sides, warmup, runs)
    return Result(workload, hub_rows, sql_rows, len(records), stats)


# -- reporting ---------------------------------------------------------------------------------

SIDE_NAMES = {
    "hub": "hub, HTTP",
    "hub_audited": "hub, in process, audited",
    "hub_in_process": "hub, in process",
    "hub_open": "hub, in process, all allowed",
    "sql": "SQL (asyncpg)",
}

#: The in-process side's plan until the token is checked (a sentinel: compiled per run).
NO_PLAN = OpenPlan()


@dataclass
class InProcess:
    """What the in-process sides share: the hub's executor, engine, keys and plan cache."""

    executor: Executor
    engine: Any
    keys: HubKeys
    verifier: Verifier
    access: Access
    settings: Settings
    audit: AuditWriter

    def token_for(self, subject: str) -> str:
        return issue_token(self.keys, self.settings, subject, "person")


def report(results: list[Result]) -> None:
    """Two tables narrow enough for an 80-column terminal: the workload, then the latencies."""
    grid = results[0].workload.grid
    workloads = Table(
        title="grid_worker: workload (rows = houses + residents)",
        caption=f"grid {grid}, the one with the most rows; SQL records: "
        + ", ".join(f"{r.workload.size} {r.sql_records}" for r in results)
        + " (one per resident, plus one per house without any)",
    )
    workloads.add_column("size")
    for column in ("houses (first:)", "residents", "hub rows", "SQL rows", "runs"):
        workloads.add_column(column, justify="right")
    for r in results:
        w = r.workload
        workloads.add_row(
            f"{w.size} (~{w.target_rows})",
            str(w.houses),
            str(w.residents),
            str(r.hub_rows),
            str(r.sql_rows),
            str(len(r.stats["sql"].samples)),
        )
    console.print(workloads)

    latency = Table(title="grid_worker: latency (ms) and ratio to the SQL")
    latency.add_column("size")
    latency.add_column("side")
    for column in ("median", "p99", "÷SQL median", "÷SQL p99"):
        latency.add_column(column, justify="right")
    for r in results:
        for index, side in enumerate(SIDE_NAMES):
            stats = r.stats[side]
            latency.add_row(
                r.workload.size if index == 0 else "",
                SIDE_NAMES[side],
                f"{stats.median:.2f}",
                f"{stats.p99:.2f}",
                f"{r.ratio(side, 'median'):.1f}×",
                f"{r.ratio(side, 'p99'):.1f}×",
                style="bold" if side == "hub" else None,
                end_section=index == len(SIDE_NAMES) - 1,
            )
    console.print(latency)
    console.print(
        "'hub, HTTP' is the figure to watch; 'hub, in process' is its execution without"
        " HTTP and JSON (a stand-in for server-side time): token check, principal, plan and"
        " the query; 'all allowed' is the same query on an all-allowing plan, no token."
    )
    for r in results:
        size = r.workload.size
        http = r.stats["hub"].median
        authorization, audit = overheads(r)
        console.print(
            f"{size}: authorization adds {authorization:.2f} ms"
            f" ({100 * authorization / (http - authorization):+.1f} % of the HTTP median"
            f" {http:.2f} ms; {100 * authorization / r.stats['hub_open'].median:+.1f} % of the"
            f" in-process median); the audit entry adds {audit:.2f} ms"
            f" ({100 * audit / (http - audit):+.1f} % of the HTTP median)."
        )


def overheads(r: Result) -> tuple[float, float]:
    """Milliseconds that authorization and the audit entry add to a request's median: the
    differences between the in-process sides, which differ in exactly those steps."""
    stats = r.stats
    authorization = stats["hub_in_process"].median - stats["hub_open"].median
    audit = stats["hub_audited"].median - stats["hub_in_process"].median
    return authorization, audit


def write_json(
    results: list[Result],
    database_url: str,
    seeded: bool,
    runs: dict[str, int],
    warmup: int,
    load: dict[str, float],
) -> Path:
    """All figures, the samples included, so that runs can be compared later."""
    stamp = datetime.now().astimezone()
    connection_info = {"database_url": safe_url(database_url), "seeded_now": seeded}
    document = {
        "benchmark": "grid_worker",
        "timestamp": stamp.isoformat(timespec="seconds"),
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_average_1min": load,
        },
        "database": connection_info,
        "profile": asdict(BENCH_PROFILE),
        "seed": SEED,
        "as_of": AS_OF.isoformat(),
        "query": QUERY.strip(),
        "sql": SQL.strip(),
        "warmup": warmup,
        "runs": runs,
        "sizes": {
            r.workload.size: {
                "workload": {**asdict(r.workload), "rows": r.workload.rows},
                "rows": {"hub": r.hub_rows, "sql": r.sql_rows, "sql_records": r.sql_records},
                "ratio_hub_to_sql": {
                    "median": r.ratio("hub", "median"),
                    "p99": r.ratio("hub", "p99"),
                },
                "ratio_in_process_to_sql": {
                    "median": r.ratio("hub_in_process", "median"),
                    "p99": r.ratio("hub_in_process", "p99"),
                },
                "authorization_overhead_median": (
                    r.stats["hub_in_process"].median / r.stats["hub_open"].median - 1
                ),
                "authorization_added_ms": overheads(r)[0],
                "audit_added_ms": overheads(r)[1],
                "authorization_share_of_http_median": overheads(r)[0]
                / (r.stats["hub"].median - overheads(r)[0]),
                "audit_share_of_http_median": overheads(r)[1]
                / (r.stats["hub"].median - overheads(r)[1]),
                "sides": {side: r.stats[side].summary() for side in SIDE_NAMES},
            }
            for r in results
        },
    }
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"grid_worker-{stamp:%Y%m%dT%H%M%S}.json"
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    return path


# -- main --------------------------------------------------------------------------------------


async def run_benchmark(
    settings: Settings, graphql_url: str, runs: dict[str, int], warmup: int, keys: HubKeys
) -> list[Result]:
    engine = create_engine(settings)
    verifier = Verifier.from_settings(settings, keys)
    connection = await asyncpg.connect(asyncpg_dsn(settings.database_url))
    watch = AccessWatch(settings.database_url)  # as the server runs on PostgreSQL
    await watch.start()
    audit_keys = AuditKeys.load_or_create(Path(tempfile.mkdtemp(prefix="gridhub-bench-audit-")))
    audit = AuditWriter(engine, audit_keys, settings)
    await audit.start()
    try:
        workloads = await plan_workloads(connection, settings.max_page_size)
        executor = Executor(build_schema(), settings.document_cache_size)
        access = Access.create(engine, watch)
        in_process = InProcess(executor, engine, keys, verifier, access, settings, audit)
        # One connection, kept alive: the hub's connection setup is not what is measured.
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with httpx.AsyncClient(limits=limits, timeout=60) as client:
            results = []
            for workload in workloads:
                console.print(
                    f"Timing {workload.size}: grid {workload.grid}, houses(first:"
                    f" {workload.houses}), {workload.rows} rows, {warmup} warm-up +"
                    f" {runs[workload.size]} runs …"
                )
                results.append(
                    await measure(
                        workload,
                        runs[workload.size],
                        warmup,
                        client,
                        graphql_url,
                        connection,
                        settings,
                        in_process,
                    )
                )
            return results
    finally:
        await audit.close()
        await watch.close()
        await connection.close()
        await engine.dispose()
        await verifier.aclose()


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run on uvloop when it is installed, as uvicorn runs the hub: the SQL side must not pay
    for a slower event loop than the hub gets."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvicorn[standard] brings it
        return asyncio.run(coroutine)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coroutine)


def main(
    database_url: Annotated[
        str,
        typer.Option(help="PostgreSQL URL; created, migrated and seeded when missing or empty."),
    ] = DEFAULT_DATABASE_URL,
    runs: Annotated[
        int | None,
        typer.Option(min=2, help="Timed runs per side and size (default: 300 small, 100 large)."),
    ] = None,
    warmup: Annotated[int, typer.Option(min=0, help="Untimed runs first, per side and size.")] = 30,
) -> None:
    """Time the grid worker's query through the hub and as one SQL query; print the ratios."""
    # The figures are those of the default settings: no GRIDHUB_* variable may change them
    # (the server gets a clean environment too, see running_server).
    for name in [name for name in os.environ if name.startswith("GRIDHUB_")]:
        del os.environ[name]
    database_url = normalise_database_url(database_url)
    if not database_url.startswith("postgresql"):
        raise typer.BadParameter("the benchmark runs on PostgreSQL", param_hint="--database-url")
    settings = Settings(database_url=database_url, _env_file=None)  # type: ignore[call-arg]
    if asyncio.run(create_database_if_missing(database_url)):
        console.print(f"Created database {make_url(database_url).database}.")
    upgrade(database_url)  # Alembic runs its own event loop: outside ours
    seeded = asyncio.run(seed_if_empty(settings))
    runs_per_size = {"small": runs or 300, "large": runs or 100}
    load_before = os.getloadavg()
    if load_before[0] > 0.5:
        console.print(
            f"[yellow]Load average {load_before[0]:.2f} on {os.cpu_count()} CPUs: other work"
            " shares the machine, so the figures will be noisy (the p99 most).[/yellow]"
        )
    with tempfile.TemporaryDirectory(prefix="gridhub-bench-keys-") as key_dir:
        keys = HubKeys.load_or_create(Path(key_dir))
        subjects = asyncio.run(grid_workers(database_url))
        with running_server(database_url, Path(key_dir), subjects) as graphql_url:
            results = run_async(run_benchmark(settings, graphql_url, runs_per_size, warmup, keys))
    report(results)
    load = {"before": load_before[0], "after": os.getloadavg()[0]}
    path = write_json(results, database_url, seeded, runs_per_size, warmup, load)
    console.print(f"Figures written to {os.path.relpath(path)}")


if __name__ == "__main__":
    typer.run(main)
