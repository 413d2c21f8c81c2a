"""The per-request floor: what an authenticated request costs the hub besides its answer.

The whole hub in process (the ASGI app through httpx's ASGI transport: no sockets, no thread),
with a real token, plan and audit entry committed, asked three requests in turn as the grid
worker ``worker-440306001001001``: ``{ __typename }`` (nothing to read: the floor itself), a
house and a grid by code (two root fields, two statements), and ``matchAddress``. Reported per
request: round trips to PostgreSQL (the writes on its sockets: a figure the machine's load does
not move), p50 and p90 latency, the process's CPU (client and hub together), and how long the
answer waited for its audit entry after handing it over.

    .venv/bin/python benchmarks/request_floor.py --database-url URL [--requests N] [--profile]

The database must be migrated and seeded (``gridhub seed``); either back end.
"""

from __future__ import annotations

import argparse
import asyncio
import asyncio.selector_events
import cProfile
import os
import pstats
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from audit.writer import AuditWriter, Receipt, Submitted
from auth.keys import HubKeys
from auth.tokens import issue_token
from hub.app import create_app
from hub.settings import Settings

SUBJECT = "worker-440306001001001"
REQUESTS: dict[str, tuple[str, dict[str, Any]]] = {
    "{ __typename }": ("{ __typename }", {}),
    "house + grid by code": (
        'query H($grid: String!) { house(code: "4403060010010010001") { code address } '
        "grid(code: $grid) { code } }",
        {"grid": "440306001001001"},
    ),
    "matchAddress": (
        "query M($text: String!) { matchAddress(text: $text) { accepted method "
        "candidates { confidence standardAddress house { code } room { code } } } }",
        {"text": "新安六路246号建安村9巷6栋301房"},
    ),
}


class Meter:
    """Counts socket writes (round trips to PostgreSQL: the client here has no socket) and
    the waits for audit entries."""

    def __init__(self) -> None:
        self.writes = 0
        self.audit_waits: list[float] = []
        transport = asyncio.selector_events._SelectorSocketTransport
        write = transport.write
        committed = AuditWriter.committed
        meter = self

        def counted(self: Any, data: Any) -> None:
            meter.writes += 1
            write(self, data)

        async def timed(self: AuditWriter, submitted: Submitted) -> Receipt:
            started = time.perf_counter()
            try:
                return await committed(self, submitted)
            finally:
                meter.audit_waits.append(time.perf_counter() - started)

        transport.write = counted  # type: ignore[method-assign]
        AuditWriter.committed = timed  # type: ignore[method-assign]


async def measure(database_url: str, requests: int, profile: bool) -> None:
    settings = Settings(
        database_url=database_url, key_dir=Path(tempfile.mkdtemp()), rate_limits=False
    )
    keys = HubKeys.load_or_create(settings.key_dir)
    headers = {"authorization": f"Bearer {issue_token(keys, settings, SUBJECT, 'person')}"}
    meter = Meter()
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 5000))
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:

            async def ask(name: str) -> None:
                query, variables = REQUESTS[name]
                body = {"query": query, "variables": variables}
                answer = (await client.post("/graphql", json=body, headers=headers)).json()
                if "errors" in answer:
                    raise SystemExit(f"{name}: {answer['errors']}")

            trips: dict[str, float] = {}
            for name in REQUESTS:
                for _ in range(20):  # the principal kept, the plan cached, statements prepared
                    await ask(name)
                await asyncio.sleep(0.3)  # the search index of the warm-up written
                before = meter.writes
                for _ in range(20):
                    await ask(name)
                await asyncio.sleep(0.3)  # and of these, counted with them
                trips[name] = (meter.writes - before) / 20
            times: dict[str, list[float]] = {name: [] for name in REQUESTS}
            waits: dict[str, list[float]] = {name: [] for name in REQUESTS}
            profiler = cProfile.Profile() if profile else None
            cpu = time.process_time()
            for _ in range(requests):
                for name in REQUESTS:  # round-robin: a slow moment hits every request
                    started = time.perf_counter()
                    if profiler is not None:
                        profiler.enable()
                    await ask(name)
                    if profiler is not None:
                        profiler.disable()
                    times[name].append(time.perf_counter() - started)
                    waits[name].append(meter.audit_waits[-1])
            cpu = time.process_time() - cpu
    print(f"{database_url.split('://')[0]}, {requests} requests each, as {SUBJECT}")
    for name in REQUESTS:
        ordered = sorted(times[name])
        print(
            f"  {name:22s} round trips {trips[name]:4.1f}  "
            f"p50 {statistics.median(ordered) * 1000:6.2f} ms  "
            f"p90 {ordered[int(len(ordered) * 0.9)] * 1000:6.2f} ms  "
            f"audit wait p50 {statistics.median(waits[name]) * 1000:5.2f} ms"
        )
    print(f"  CPU per request (client and hub): {cpu / (requests * len(REQUESTS)) * 1000:.2f} ms")
    print(f"  load average (1, 5, 15 min): {os.getloadavg()}")
    if profiler is not None:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default="sqlite+aiosqlite:///gridhub.db")
    parser.add_argument("--requests", type=int, default=300, help="timed requests of each kind")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of them")
    arguments = parser.parse_args()
    asyncio.run(measure(arguments.database_url, arguments.requests, arguments.profile))


if __name__ == "__main__":
    main()
