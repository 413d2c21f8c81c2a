"""A residents export through the public security feed, end to end with ``gridhub ingest``:
parse, check, match, stage, merge; then the same file again.

    python benchmarks/feed_ingest.py --database-url URL --fresh --people 20000 --rows 1000000

``--fresh`` (re)creates the database (PostgreSQL: dropped and created on its server; SQLite:
the file removed), migrates it and seeds a district of ``--people`` residents (``gridhub
seed``), whose rooms the export's addresses are. Without it the database is used as it is (it
must hold a seeded district and no earlier run of this benchmark: a first run would then find
its rows already there).

The script writes a CSV export of ``--rows`` residents in the columns of the packaged feed
``GA-RK-FEED`` (new ID numbers with valid check digits; each address the standard text of one
of the district's rooms, so exports repeat addresses as real ones do), then runs
``gridhub ingest --feed GA-RK-FEED FILE --report OUT.json`` on it twice, as a subprocess. For
each run it reports: wall clock (the command's, and the run's own from its report, without
the start-up and the address index), rows per second of each phase (the report's ``seconds``:
read+check, match, stage, merge), the CPU seconds of the command and its worker processes
(user + system) and rows per CPU-second, the CPU seconds of the PostgreSQL backends serving
the database, the peak resident memory (sampled from ``/proc`` every 0.2 s: the process tree's
sum, which counts the pages forked workers share more than once, and the largest single
process), the counts, and the load average before and after. Figures
go to ``benchmarks/results/feed_ingest-<time>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from grid_worker_setup import RESULTS_DIR, gridhub_command  # noqa: E402
from sqlalchemy import select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from feeds.checksums import id_number_check_digit  # noqa: E402
from hub.settings import Settings  # noqa: E402
from store.engine import create_engine  # noqa: E402
from store.models import Address  # noqa: E402

HEADER = ("公民身份号码", "姓名", "联系电话", "户籍类别", "居住方式", "居住地址")
FIRST_BIRTH = date(1950, 1, 1)
NAMES = ("陈小梅", "王建国", "李娜", "张伟", "刘洋", "黄敏", "周杰", "吴静")
TICK = os.sysconf("SC_CLK_TCK")


def write_export(path: Path, rooms: list[str], rows: int) -> None:
    """``rows`` residents with new IDs (area 110101, born from 1950), spread over ``rooms``."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for n in range(rows):
            # A thousand residents per birth date: every ID distinct up to 20 M rows.
            born = (FIRST_BIRTH + timedelta(days=n // 1000 % 20_000)).strftime("%Y%m%d")
            first17 = f"{110101 + n // 20_000_000:06d}{born}{n % 1000:03d}"
            writer.writerow(
                (
                    first17 + id_number_check_digit(first17),
                    NAMES[n % len(NAMES)],
                    f"138{n % 100_000_000:08d}",
                    "流动" if n % 3 else "户籍",
                    "租住" if n % 2 else "自有",
                    rooms[n % len(rooms)],
                )
            )


def _load() -> list[str]:
    return Path("/proc/loadavg").read_text().split()[:3]


def _tree_rss_kib(root: int) -> tuple[int, int]:
    """Resident memory of ``root`` and every process below it, and of the largest one, in
    KiB (the sum counts pages the forked workers share with their parent more than once)."""
    children: dict[int, list[int]] = {}
    for status in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = status.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(status.parent.name))
    total, largest, stack = 0, 0, [root]
    while stack:
        pid = stack.pop()
        stack.extend(children.get(pid, []))
        try:
            found = re.search(r"^VmRSS:\s+(\d+)", Path(f"/proc/{pid}/status").read_text(), re.M)
        except OSError:
            continue
        rss = int(found.group(1)) if found else 0
        total, largest = total + rss, max(largest, rss)
    return total, largest


def _backend_ticks(database: str) -> dict[int, int]:
    """CPU clock ticks so far of each PostgreSQL backend serving ``database``."""
    found: dict[int, int] = {}
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            title = cmdline.read_bytes().decode(errors="replace")
            if not title.startswith("postgres: ") or f" {database} " not in title:
                continue
            fields = (cmdline.parent / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        found[int(cmdline.parent.name)] = int(fields[11]) + int(fields[12])
    return found


class Sampler(threading.Thread):
    """Samples a process tree's resident memory and the database's backends' CPU."""

    def __init__(self, pid: int, database: str | None) -> None:
        super().__init__(daemon=True)
        self.pid, self.database = pid, database
        self.peak_kib = 0
        self.largest_kib = 0
        self.ticks: dict[int, int] = {}
        self.stop = threading.Event()

    def sample(self) -> None:
        total, largest = _tree_rss_kib(self.pid)
        self.peak_kib = max(self.peak_kib, total)
        self.largest_kib = max(self.largest_kib, largest)
        if self.database:
            for pid, ticks in _backend_ticks(self.database).items():
                self.ticks[pid] = max(ticks, self.ticks.get(pid, 0))

    def run(self) -> None:
        while not self.stop.wait(0.2):
            self.sample()


def _gridhub(*arguments: str) -> None:
    subprocess.run([*gridhub_command(), *arguments], check=True, stdout=subprocess.DEVNULL)


def fresh(url: str, people: int) -> None:
    """A new database holding a seeded district of ``people`` residents and the catalogue."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        import asyncpg

        async def recreate() -> None:
            server = parsed.set(drivername="postgresql", database="postgres")
            connection = await asyncpg.connect(server.render_as_string(hide_password=False))
            try:
                await connection.execute(
                    f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'
                )
                await connection.execute(f'CREATE DATABASE "{parsed.database}"')
            finally:
                await connection.close()

        asyncio.run(recreate())
    elif parsed.database:
        for suffix in ("", "-wal", "-shm"):
            Path(parsed.database + suffix).unlink(missing_ok=True)
    _gridhub("db", "upgrade", "--database-url", url)
    _gridhub("seed", "--database-url", url, "--people", str(people), "--as-of", "2026-11-01")


async def _rooms(url: str) -> tuple[list[str], int]:
    engine = create_engine(Settings(database_url=url))
    try:
        async with engine.connect() as connection:
            rooms = list(
                await connection.scalars(
                    select(Address.text)
                    .where(Address.room_code.is_not(None))
                    .order_by(Address.code)
                )
            )
            people = int(await connection.scalar(text("SELECT count(*) FROM people")) or 0)
    finally:
        await engine.dispose()
    return rooms, people


def ingest(url: str, path: Path, out: Path, workers: int | None) -> dict[str, Any]:
    """One ``gridhub ingest`` run, measured."""
    parsed = make_url(url)
    database = parsed.database if parsed.get_backend_name() == "postgresql" else None
    command = [*gridhub_command(), "ingest", "--feed", "GA-RK-FEED", str(path)]
    command += ["--report", str(out), "--database-url", url, "--by", "benchmark"]
    if workers is not None:
        command += ["--workers", str(workers)]
    load_before = _load()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sampler = Sampler(process.pid, database)
    sampler.start()
    process.wait()
    wall = time.perf_counter() - started
    sampler.stop.set()
    sampler.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if process.returncode:
        raise SystemExit(f"gridhub ingest failed ({process.returncode})")
    report = json.loads(out.read_text(encoding="utf-8"))
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    started_at = report["startedAt"].replace("Z", "+00:00")
    finished_at = report["finishedAt"].replace("Z", "+00:00")
    run_wall = (
        datetime.fromisoformat(finished_at) - datetime.fromisoformat(started_at)
    ).total_seconds()
    read = report["counts"]["read"]
    return {
        "wall_s": round(wall, 2),
        "run_wall_s": round(run_wall, 2),
        "rows_per_s": round(read / wall),
        "run_rows_per_s": round(read / run_wall),
        "phases_s": report["seconds"],
        "phase_rows_per_s": {
            name: (round(read / seconds) if seconds else None)
            for name, seconds in report["seconds"].items()
        },
        "cpu_s": round(cpu, 2),
        "rows_per_cpu_s": round(read / cpu) if cpu else None,
        "postgres_backend_cpu_s": (
            round(sum(sampler.ticks.values()) / TICK, 2) if database else None
        ),
        "tree_peak_rss_mib": round(sampler.peak_kib / 1024),
        "largest_process_rss_mib": round(sampler.largest_kib / 1024),
        "counts": report["counts"],
        "load_before": load_before,
        "load_after": _load(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--people", type=int, default=20_000, help="district size (--fresh)")
    parser.add_argument("--fresh", action="store_true", help="recreate and seed the database")
    parser.add_argument("--workers", type=int, default=None, help="gridhub ingest --workers")
    arguments = parser.parse_args()
    url = arguments.database_url
    if arguments.fresh:
        started = time.perf_counter()
        fresh(url, arguments.people)
        took = time.perf_counter() - started
        print(f"seeded a district of {arguments.people:,} people in {took:.0f} s")
    rooms, people = asyncio.run(_rooms(url))
    figures: dict[str, Any] = {
        "back_end": make_url(url).get_backend_name(),
        "rows": arguments.rows,
        "rooms": len(rooms),
        "people_before": people,
        "workers": arguments.workers,
        "cores": os.cpu_count(),
    }
    print(f"back end {figures['back_end']}: {people:,} people, {len(rooms):,} rooms")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "residents.csv"
        write_export(path, rooms, arguments.rows)
        figures["file_mib"] = round(path.stat().st_size / 2**20, 1)
        print(f"export: {arguments.rows:,} rows, {figures['file_mib']} MiB")
        for label in ("first_run", "re_run"):
            figures[label] = ingest(url, path, Path(folder) / f"{label}.json", arguments.workers)
            print(f"{label}: {json.dumps(figures[label], ensure_ascii=False)}")
    RESULTS_DIR.mkdir(exist_ok=True)
    out = RESULTS_DIR / f"feed_ingest-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(json.dumps(figures, indent=2, ensure_ascii=False))
    print(f"figures written to {out}")


if __name__ == "__main__":
    main()
