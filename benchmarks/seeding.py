"""Seeding time and peak memory: ``gridhub seed`` into a fresh PostgreSQL database, measured.

The database (``--database``, on the server of ``--server-url``) is created, migrated, seeded
with ``--profile`` or ``--people`` under ``/usr/bin/time -v``, measured, and dropped unless
``--keep``. Reported: wall-clock seconds, CPU seconds of ``gridhub`` and its workers (user +
system, from ``time``), the peak resident memory of the whole process tree (sampled every half
second from ``/proc``: ``time``'s own maximum is that of the largest single process), rows per
table, and the database's size. PostgreSQL's own CPU is not in these figures.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import threading
import time
from pathlib import Path
from typing import Annotated

import asyncpg
import typer
from grid_worker_setup import RESULTS_DIR, asyncpg_dsn, console, gridhub_command, safe_url
from sqlalchemy.engine import make_url

TABLES = ("houses", "rooms", "addresses", "people", "entities", "events")


def _tree_rss_kib(root: int) -> int:
    """Resident memory of ``root`` and every process below it, in KiB."""
    children: dict[int, list[int]] = {}
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
        except OSError:
            continue
        parent = re.search(r"^PPid:\s+(\d+)", text, re.M)
        if parent:
            children.setdefault(int(parent.group(1)), []).append(int(status.parent.name))
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        stack.extend(children.get(pid, []))
        try:
            found = re.search(r"^VmRSS:\s+(\d+)", Path(f"/proc/{pid}/status").read_text(), re.M)
        except OSError:
            continue
        total += int(found.group(1)) if found else 0
    return total


class PeakSampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak_kib, self.stop = pid, 0, threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.5):
            self.peak_kib = max(self.peak_kib, _tree_rss_kib(self.pid))


async def _admin(server_url: str, sql: str) -> None:
    connection = await asyncpg.connect(asyncpg_dsn(server_url))
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


async def _sizes(url: str) -> dict[str, object]:
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        rows = {t: await connection.fetchval(f'SELECT count(*) FROM "{t}"') for t in TABLES}
        size = await connection.fetchval("SELECT pg_database_size(current_database())")
        tables = {
            t: await connection.fetchval("SELECT pg_total_relation_size($1)", t) for t in TABLES
        }
    finally:
        await connection.close()
    return {"rows": rows, "database_bytes": size, "table_bytes": tables}


def main(
    profile: Annotated[str | None, typer.Option(help="A named profile (e.g. baoan).")] = None,
    people: Annotated[int | None, typer.Option(help="Seed this many people instead.")] = None,
    workers: Annotated[int | None, typer.Option(help="gridhub seed --workers.")] = None,
    server_url: Annotated[
        str, typer.Option(help="The PostgreSQL server (its database is used to create ours).")
    ] = "postgresql://postgres@127.0.0.1:5432/postgres",
    database: Annotated[str, typer.Option(help="The database to create.")] = "gridhub_seeding",
    keep: Annotated[bool, typer.Option(help="Keep the database afterwards.")] = False,
) -> None:
    """Seed a fresh database and report time and memory."""
    url = make_url(server_url).set(database=database).render_as_string(hide_password=False)
    asyncio.run(_admin(server_url, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
    asyncio.run(_admin(server_url, f'CREATE DATABASE "{database}"'))
    size_args = ["--profile", profile] if profile else []
    size_args += ["--people", str(people)] if people else []
    size_args += ["--workers", str(workers)] if workers is not None else []
    try:
        subprocess.run([*gridhub_command(), "db", "upgrade", "--database-url", url], check=True)
        command = ["/usr/bin/time", "-v", *gridhub_command(), "seed", "--database-url", url]
        command += ["--as-of", "2026-11-01", *size_args]
        console.print(f"Seeding {safe_url(url)}: {' '.join(size_args) or 'demo'} …")
        load_before = Path("/proc/loadavg").read_text().split()[:3]
        started = time.perf_counter()
        process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
        sampler = PeakSampler(process.pid)
        sampler.start()
        _, err = process.communicate()
        wall = time.perf_counter() - started
        sampler.stop.set()
        if process.returncode:
            console.print(err[-3000:])
            raise typer.Exit(1)
        figures = {
            "args": size_args,
            "wall_s": wall,
            "user_s": float(re.search(r"User time \(seconds\): ([\d.]+)", err).group(1)),  # type: ignore[union-attr]
            "system_s": float(re.search(r"System time \(seconds\): ([\d.]+)", err).group(1)),  # type: ignore[union-attr]
            "largest_process_rss_kib": int(
                re.search(r"Maximum resident set size \(kbytes\): (\d+)", err).group(1)  # type: ignore[union-attr]
            ),
            "tree_peak_rss_kib": sampler.peak_kib,
            "load_before": load_before,
            "load_after": Path("/proc/loadavg").read_text().split()[:3],
            **asyncio.run(_sizes(url)),
        }
    finally:
        if not keep:
            asyncio.run(_admin(server_url, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
    console.print_json(json.dumps(figures))
    RESULTS_DIR.mkdir(exist_ok=True)
    out = RESULTS_DIR / f"seeding-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(json.dumps(figures, indent=2))
    console.print(f"Figures written to {out}")


if __name__ == "__main__":
    typer.run(main)
