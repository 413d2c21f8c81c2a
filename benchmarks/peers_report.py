"""The peer benchmark's report: one table of medians, p99s and ratios (hub ÷ SQL, hub ÷
PostGraphile) per size and asker, and the JSON file with every sample. ``peers.py`` imports it.
"""

from __future__ import annotations

import json
import os
import platform
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from grid_worker_setup import QUERY, RESULTS_DIR, SQL, Workload, console, safe_url
from grid_worker_stats import Stats
from peer_postgraphile import QUERY as PEER_QUERY
from rich.table import Table

SIDE_NAMES = {"hub": "gridhub", "sql": "raw SQL", "postgraphile": "PostGraphile 4"}


@dataclass
class Variant:
    """One size asked by one principal: the sides' latencies."""

    workload: Workload
    asker: str
    subject: str
    rows: int
    stats: dict[str, Stats]

    @property
    def name(self) -> str:
        return f"~{self.workload.target_rows:,} rows, {self.asker}"

    def ratio(self, side: str, over: str, measure: str) -> float | None:
        if side not in self.stats or over not in self.stats:
            return None
        return float(getattr(self.stats[side], measure) / getattr(self.stats[over], measure))


def _times(ratio: float | None) -> str:
    return "—" if ratio is None else f"{ratio:.1f}×"


def report(variants: list[Variant], load: dict[str, float]) -> None:
    """The latency table (ms), then the ratios table: narrow enough for 100 columns."""
    latency = Table(title="peers: latency in ms (median / p99), rows = houses + residents")
    latency.add_column("variant")
    latency.add_column("rows", justify="right")
    for name in SIDE_NAMES.values():
        latency.add_column(name, justify="right")
    for v in variants:
        cells = [
            f"{v.stats[side].median:.2f} / {v.stats[side].p99:.2f}" if side in v.stats else "—"
            for side in SIDE_NAMES
        ]
        latency.add_row(v.name, str(v.rows), *cells)
    console.print(latency)

    ratios = Table(title="peers: gridhub's ratios (median / p99)")
    ratios.add_column("variant")
    ratios.add_column("gridhub ÷ raw SQL", justify="right")
    ratios.add_column("gridhub ÷ PostGraphile", justify="right")
    ratios.add_column("PostGraphile ÷ raw SQL", justify="right")
    for v in variants:
        ratios.add_row(
            v.name,
            *(
                f"{_times(v.ratio(side, over, 'median'))} / {_times(v.ratio(side, over, 'p99'))}"
                for side, over in (("hub", "sql"), ("hub", "postgraphile"), ("postgraphile", "sql"))
            ),
        )
    console.print(ratios)
    by_name = {(v.workload.size, v.asker): v for v in variants}
    for size in dict.fromkeys(v.workload.size for v in variants):
        worker, street = by_name.get((size, "grid worker")), by_name.get((size, "street staff"))
        if worker and street:
            console.print(
                f"{size}: street staff ÷ grid worker, gridhub median:"
                f" {street.stats['hub'].median / worker.stats['hub'].median:.2f}×"
            )
    console.print(
        f"Load average (1 min) before {load['before']:.2f}, after {load['after']:.2f},"
        f" on {os.cpu_count()} CPUs; the hub, PostGraphile, PostgreSQL and this client share them."
    )


def write_json(
    variants: list[Variant],
    database_url: str,
    runs: dict[str, int],
    warmup: int,
    load: dict[str, float],
    skipped: str | None,
) -> Path:
    """All figures, the samples included, to ``benchmarks/results/peers-<timestamp>.json``."""
    stamp = datetime.now().astimezone()
    document: dict[str, Any] = {
        "benchmark": "peers",
        "timestamp": stamp.isoformat(timespec="seconds"),
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_average_1min": load,
        },
        "database_url": safe_url(database_url),
        "postgraphile_skipped": skipped,
        "query": QUERY.strip(),
        "postgraphile_query": PEER_QUERY.strip(),
        "sql": SQL.strip(),
        "warmup": warmup,
        "runs": runs,
        "variants": [
            {
                "size": v.workload.size,
                "asker": v.asker,
                "subject": v.subject,
                "workload": {**asdict(v.workload), "rows": v.rows},
                "ratios": {
                    f"{side}_to_{over}": {
                        measure: v.ratio(side, over, measure) for measure in ("median", "p99")
                    }
                    for side, over in (("hub", "sql"), ("hub", "postgraphile"))
                },
                "sides": {side: stats.summary() for side, stats in v.stats.items()},
            }
            for v in variants
        ],
    }
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"peers-{stamp:%Y%m%dT%H%M%S}.json"
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    return path
