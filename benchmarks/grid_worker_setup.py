"""The grid-worker benchmark's workload and fixtures: its constants, its database (seeded once),
the grids it asks for, both sides' answers in one comparable form, and a ``gridhub serve``
process to ask over HTTP. ``grid_worker.py`` (the timing and the report) imports it; both run
from this folder as scripts.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated, Any, TypeVar

import asyncpg
import httpx
import typer
from rich.console import Console
from sqlalchemy.engine import make_url

from demo import Profile, is_empty, seed
from demo.principals import demo_principals, seed_principals
from hub.settings import Settings
from policies.masking import phone
from resolvers.filters import age_on
from store.engine import create_engine

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


#: ``--server-env``, shared by the scripts that start a gridhub server.
ServerEnvOption = Annotated[
    list[str] | None,
    typer.Option(
        help="GRIDHUB_NAME=VALUE for the gridhub server (repeatable), e.g."
        " GRIDHUB_COMPILED_READS=false; no other GRIDHUB_* variable reaches it."
    ),
]


def bench_settings(database_url: str) -> Settings:
    """The settings of a benchmark on PostgreSQL, from its ``--database-url`` alone: the
    shell's GRIDHUB_* variables are dropped, so the hub measured is the default one."""
    for name in [name for name in os.environ if name.startswith("GRIDHUB_")]:
        del os.environ[name]
    from store.engine import normalise_database_url

    database_url = normalise_database_url(database_url)
    if not database_url.startswith("postgresql"):
        raise typer.BadParameter("the benchmark runs on PostgreSQL", param_hint="--database-url")
    return Settings(database_url=database_url, _env_file=None)  # type: ignore[call-arg]


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


def server_env(pairs: list[str]) -> dict[str, str]:
    """``--server-env NAME=VALUE`` options as a mapping (only ``GRIDHUB_*`` names)."""
    env = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.startswith("GRIDHUB_"):
            raise typer.BadParameter(
                f"{pair!r} is not GRIDHUB_NAME=VALUE", param_hint="--server-env"
            )
        env[name] = value
    return env


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
def running_server(
    database_url: str,
    key_dir: Path,
    subjects: Sequence[str],
    workers: int = 1,
    extra_env: Mapping[str, str] | None = None,
    start_timeout: float = 60,
) -> Iterator[str]:
    """A ``gridhub serve`` process for the benchmark (``workers`` uvicorn workers); yields its
    GraphQL URL. ``extra_env`` sets ``GRIDHUB_*`` variables on purpose (to compare a setting's
    two values, say); nothing else of the caller's environment reaches the server's settings.

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
    env.update(extra_env or {})
    command = [
        *gridhub_command(),
        "serve",
        "--database-url",
        database_url,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    with (
        tempfile.TemporaryDirectory(prefix="gridhub-bench-") as workdir,
        open(Path(workdir) / "server.log", "w+b") as log,
    ):
        process = subprocess.Popen(command, cwd=workdir, env=env, stdout=log, stderr=log)
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + start_timeout
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
