"""The grid-worker benchmark's statistics: the sides timed round-robin, medians and p99s, and
their report (the tables and the JSON file). ``grid_worker.py`` imports it.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from grid_worker_setup import (
    AS_OF,
    BENCH_PROFILE,
    QUERY,
    RESULTS_DIR,
    SEED,
    SQL,
    Timed,
    Workload,
    console,
    safe_url,
)
from rich.table import Table

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


# -- reporting ---------------------------------------------------------------------------------

SIDE_NAMES = {
    "hub": "hub, HTTP",
    "hub_audited": "hub, in process, audited",
    "hub_in_process": "hub, in process",
    "hub_open": "hub, in process, all allowed",
    "sql": "SQL (asyncpg)",
}


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
