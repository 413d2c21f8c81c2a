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
import os
import tempfile
import time
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import orjson
import typer
from grid_worker_setup import (
    DEFAULT_DATABASE_URL,
    NEWEST_ENTRY_INDEXED,
    QUERY,
    SQL,
    Settle,
    T,
    Workload,
    asyncpg_dsn,
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
from grid_worker_stats import Result, report, round_robin, write_json
from sqlalchemy.engine import make_url

from audit.keys import AuditKeys
from audit.record import AuditRecord
from audit.writer import AuditWriter, Submitted
from auth.issuers import Verifier
from auth.keys import HubKeys
from auth.principal import identity_from_claims
from auth.tokens import issue_token, verify_token
from hub.audit_facts import Facts, document_facts, outcome_of, plan_reads, query_hash, redact
from hub.execution import Executor
from hub.settings import Settings, normalise_database_url
from policies.access import Access
from policies.access_watch import AccessWatch
from policies.field_rules import OpenPlan
from resolvers.context import RequestContext
from schema import build_schema
from store.engine import create_engine, upgrade


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
        executor = Executor(
            build_schema(), settings.document_cache_size, compiled=settings.compiled_reads
        )
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
