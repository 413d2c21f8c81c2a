"""Where a compiled read's time goes, in figures the machine's load moves little.

The grid worker's query of ``peers.py`` (same database, grid, sizes and askers), asked of the
whole hub in process (the ASGI app through httpx's ASGI transport, a real token, plan and audit
entry, as ``request_floor.py`` does). Reported per variant:

- **hub, per request**: SQL statements, Python function calls (cProfile's count: the same on
  an idle and a loaded machine), and the CPU of the process (client and hub together);
- **PostgreSQL, per execution** of the compiled statement the hub sent, next to the
  hand-written SQL of ``grid_worker.py``, both planned afresh each time as the hub's sessions
  do (``plan_cache_mode = force_custom_plan``): the server process's CPU (from
  ``/proc/<pid>/stat``; only when PostgreSQL runs on this machine), planning and execution time
  (``EXPLAIN (ANALYZE, TIMING OFF)``, minimum and median), shared buffers read and the answer's
  size.

    .venv/bin/python benchmarks/compiled_reads.py [--database-url URL] [--requests N]
        [--executions N] [--profile]

``--profile`` prints the cProfile of each variant's requests (top 30 by own time).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import re
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
from grid_worker_setup import (
    DEFAULT_DATABASE_URL,
    QUERY,
    SQL,
    Workload,
    asyncpg_dsn,
    plan_workloads,
)
from sqlalchemy import event
from sqlalchemy.engine import Engine

from auth.keys import HubKeys
from auth.tokens import issue_token
from hub.app import create_app
from hub.settings import Settings
from store.models import CODE_LENGTH, AreaLevel

ASKERS = {
    "grid worker": lambda grid: f"worker-{grid}",
    "street staff": lambda grid: f"street-{grid[: CODE_LENGTH[AreaLevel.STREET]]}",
}
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class Statements:
    """The statements the hub's engines send, with their parameters, while switched on."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Any]] = []
        event.listen(Engine, "before_cursor_execute", self._record)

    def _record(self, _c: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        self.sent.append((statement, parameters))


def server_cpu(pid: int) -> float | None:
    """The PostgreSQL backend's user + system CPU seconds, or None when it is not local."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


async def hub_side(
    settings: Settings, workload: Workload, subject: str, requests: int, profile: bool
) -> dict[str, Any]:
    """Statements, function calls and CPU per request; the compiled statement it sent."""
    keys = HubKeys.load_or_create(settings.key_dir)
    token = issue_token(keys, settings, subject, "person")
    headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}
    body = orjson.dumps({"query": QUERY, "variables": workload.variables})
    statements = Statements()
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 5000))
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:

            async def ask() -> None:
                answer = await client.post("/graphql", content=body, headers=headers)
                if answer.status_code != 200 or b'"errors"' in answer.content:
                    raise SystemExit(f"{subject}: {answer.status_code} {answer.text[:300]}")

            for _ in range(30):  # the plan cached, the split kept, statements prepared
                await ask()
            await asyncio.sleep(0.3)  # the audit search index of the warm-up written
            statements.sent.clear()
            profiler = cProfile.Profile()
            cpu = time.process_time()
            for _ in range(requests):
                profiler.enable()
                await ask()
                profiler.disable()
            cpu = time.process_time() - cpu
            await asyncio.sleep(0.3)
    compiled = [s for s in statements.sent if re.search(r"\bAS data\b", s[0])]
    stats = pstats.Stats(profiler)
    if profile:
        print(f"-- profile: {workload.size}, {subject}")
        stats.sort_stats("tottime").print_stats(30)
    return {
        "statements": len(statements.sent) / requests,
        "function_calls": stats.total_calls / requests,  # type: ignore[attr-defined]
        "cpu_ms": cpu / requests * 1000,
        "compiled": compiled[-1] if compiled else None,
    }


async def server_side(
    database_url: str, statement: str, parameters: tuple[Any, ...], executions: int
) -> dict[str, Any]:
    """One statement on one session planned as the hub's are: CPU, planning, execution."""
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        await connection.execute("SET plan_cache_mode = force_custom_plan")
        pid = await connection.fetchval("SELECT pg_backend_pid()")
        prepared = await connection.prepare(statement)
        rows = await prepared.fetch(*parameters)
        size = sum(len(str(v)) for row in rows for v in row.values())
        before = server_cpu(pid)
        for _ in range(executions):
            await prepared.fetch(*parameters)
        after = server_cpu(pid)
        planning, execution, buffers = [], [], ""
        for _ in range(max(10, executions // 5)):
            plan = "\n".join(
                r[0]
                for r in await connection.fetch(
                    f"EXPLAIN (ANALYZE, BUFFERS, TIMING OFF, SUMMARY ON) {statement}", *parameters
                )
            )
            planning.append(float(re.findall(r"Planning Time: ([\d.]+)", plan)[0]))
            execution.append(float(re.findall(r"Execution Time: ([\d.]+)", plan)[0]))
            buffers = re.findall(r"Buffers: (shared hit=\d+)", plan)[0]
    finally:
        await connection.close()
    return {
        "cpu_ms": None if before is None or after is None else (after - before) / executions * 1e3,
        "planning_ms": (min(planning), statistics.median(planning)),
        "execution_ms": (min(execution), statistics.median(execution)),
        "buffers": buffers,
        "answer_chars": size,
    }


def positional(parameters: Any) -> tuple[Any, ...]:
    return tuple(parameters) if isinstance(parameters, tuple | list) else ()


async def measure(database_url: str, requests: int, executions: int, profile: bool) -> None:
    settings = Settings(
        database_url=database_url,
        key_dir=Path(tempfile.mkdtemp()),
        audit_key_dir=Path(tempfile.mkdtemp()),
        rate_limits=False,
    )
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        workloads = await plan_workloads(connection, settings.max_page_size)
    finally:
        await connection.close()
    print(f"load average before: {os.getloadavg()}")
    for workload in workloads:
        raw = await server_side(database_url, SQL, (workload.grid, workload.houses), executions)
        for asker, subject_of in ASKERS.items():
            subject = subject_of(workload.grid)
            hub = await hub_side(settings, workload, subject, requests, profile)
            print(
                f"{workload.size} ({workload.rows} rows), {asker}: per request"
                f" {hub['statements']:.1f} statements, {hub['function_calls']:.0f} function calls,"
                f" {hub['cpu_ms']:.2f} ms CPU (client and hub)"
            )
            sides = [("raw SQL", raw)]
            if hub["compiled"] is not None:
                sql, parameters = hub["compiled"]
                compiled = await server_side(database_url, sql, positional(parameters), executions)
                sides.insert(0, ("compiled", compiled))
            for name, side in sides:
                cpu = "—" if side["cpu_ms"] is None else f"{side['cpu_ms']:.2f} ms"
                print(
                    f"  {name:9s} server CPU/execution {cpu}; planning min/p50"
                    f" {side['planning_ms'][0]:.2f}/{side['planning_ms'][1]:.2f} ms; execution"
                    f" min/p50 {side['execution_ms'][0]:.2f}/{side['execution_ms'][1]:.2f} ms;"
                    f" {side['buffers']}; answer {side['answer_chars']:,} characters"
                )
    print(f"load average after: {os.getloadavg()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--requests", type=int, default=100, help="profiled requests per variant")
    parser.add_argument("--executions", type=int, default=200, help="per statement, server side")
    parser.add_argument("--profile", action="store_true", help="print each variant's cProfile")
    arguments = parser.parse_args()
    asyncio.run(
        measure(arguments.database_url, arguments.requests, arguments.executions, arguments.profile)
    )


if __name__ == "__main__":
    main()
