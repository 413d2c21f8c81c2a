"""A residents export through the public security feed, end to end: parse, check, match, stage,
merge; then the same file again.

    gridhub db upgrade --database-url URL && gridhub seed --database-url URL
    python benchmarks/feeds.py --database-url URL [--rows 1000000]

The script writes a CSV export of ``--rows`` residents in the feed's own columns (new ID
numbers with valid check digits; every address a room of the seeded district, written as its
standard text, so the matcher answers each distinct one once and the rest from memory), runs
the packaged feed ``GA-RK-FEED`` on it (``feeds.run.run_feed``, as ``gridhub ingest`` does,
without the audit entry), then runs it again on the same file. It reports each run's wall
time, rows per second and counts, and the process's peak resident memory (``ru_maxrss``) after
each: the export is streamed, so the peak is the matcher's index plus one chunk, not the file.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import resource
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import select  # noqa: E402

from addresses.base import load_matcher  # noqa: E402
from catalog import feed_store  # noqa: E402
from catalog.sync import sync_packaged  # noqa: E402
from feeds.checksums import id_number_check_digit  # noqa: E402
from feeds.run import run_feed  # noqa: E402
from hub.settings import Settings  # noqa: E402
from store.engine import create_engine  # noqa: E402
from store.models import Address  # noqa: E402

HEADER = ("公民身份号码", "姓名", "联系电话", "户籍类别", "居住方式", "居住地址")
FIRST_BIRTH = date(1950, 1, 1)
NAMES = ("陈小梅", "王建国", "李娜", "张伟", "刘洋", "黄敏", "周杰", "吴静")


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


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


async def main(database_url: str, rows: int) -> None:
    settings = Settings(database_url=database_url)
    engine = create_engine(settings)
    try:
        async with engine.connect() as connection:
            feed = await feed_store.get(connection, "GA-RK-FEED")
        if feed is None:
            await sync_packaged(engine, by="benchmark")
            async with engine.connect() as connection:
                feed = await feed_store.get(connection, "GA-RK-FEED")
        assert feed is not None
        async with engine.connect() as connection:
            rooms = list(
                await connection.scalars(
                    select(Address.text)
                    .where(Address.room_code.is_not(None))
                    .order_by(Address.code)
                )
            )
            started = time.perf_counter()
            matcher = await load_matcher(connection, settings.address_match_threshold)
            built = time.perf_counter() - started
        print(
            f"back end: {engine.dialect.name}; {len(rooms):,} rooms; index built in {built:.1f} s"
        )
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "residents.csv"
            write_export(path, rooms, rows)
            size = path.stat().st_size / 2**20
            print(f"export: {rows:,} rows, {size:.0f} MiB; peak RSS so far {_peak_mib():.0f} MiB")
            for label in ("first run", "re-run"):
                started = time.perf_counter()
                report = await run_feed(engine, feed, path, matcher, by="benchmark")
                took = time.perf_counter() - started
                print(
                    f"{label}: {took:.1f} s, {rows / took:,.0f} rows/s, peak RSS "
                    f"{_peak_mib():.0f} MiB; {report.counts()}"
                )
    finally:
        await engine.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--rows", type=int, default=1_000_000)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.database_url, arguments.rows))
