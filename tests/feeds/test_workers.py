"""The run's rows prepared in worker processes give exactly what one process gives: the same
rows read from the file's blocks, the same staged records, rejects and unplaced addresses, the
same report, and the same stored rows (a serial re-run of a file the workers ran changes
nothing)."""

from __future__ import annotations

import csv
import tempfile
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from addresses.matcher import Matcher
from catalog.feed_targets import TARGETS
from demo import District
from feeds.pool import prepared_blocks
from feeds.prepare import Prepared, Preparer
from feeds.read import csv_block_rows, csv_blocks, read_rows
from feeds.run import run_feed
from store.models import AddressCandidate, Person
from tests.feeds.helpers import PEOPLE_HEADER, new_id_number, people_feed, room_addresses

T0 = datetime(2026, 11, 3, 8, 0, tzinfo=UTC)

_value = st.text(alphabet=st.sampled_from('a,"\n\r 住址号'), max_size=6)


@settings(max_examples=150, deadline=None)
@given(
    records=st.lists(st.lists(_value, min_size=0, max_size=4), max_size=12),
    size=st.integers(min_value=1, max_value=4),
    line_end=st.sampled_from(["\n", "\r\n"]),
)
def test_blocks_of_a_csv_file_read_as_the_whole_file_does(
    records: list[list[str]], size: int, line_end: str
) -> None:
    """Quoted commas, quotes and line breaks inside values, blank lines: block by block, every
    row and its line number are those of reading the file at once."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "export.csv"
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, lineterminator=line_end)
            writer.writerow(["a", "b", "c"])
            writer.writerows(records)
        with ExitStack() as files:
            whole = list(read_rows(path, "csv", "utf-8-sig", files))
        with ExitStack() as files:
            names, blocks = csv_blocks(path, "utf-8-sig", files, size)
            by_block = [
                row for before, lines in blocks for row in csv_block_rows(names, before, lines)
            ]
    assert by_block == whole


def _export(path: Path, district: District) -> Path:
    """Some 2,500 residents with every kind of row: good ones over a few rooms (so addresses
    repeat), bad values, duplicate keys, unplaceable addresses."""
    rooms = [row["text"] for row in room_addresses(district, 40, skip=300)]
    rows: list[list[str]] = []
    for n in range(2_500):
        key = new_id_number(f"19{60 + n % 40:02d}0{1 + n % 9}1{n % 10}")
        room = rooms[n % len(rooms)]
        kind = n % 50
        if kind == 1:
            key = key[:17] + ("0" if key[17] != "0" else "1")  # check digit
        elif kind == 2:
            key = ""
        elif kind == 3 and rows:
            key = rows[-3][0]  # duplicate of a line before
        elif kind == 4:
            room = f"火星基地{n}号楼"  # not placeable
        registration = "外星" if kind == 5 else ("流动" if n % 3 else "户籍")
        phone = "12345" if kind == 6 else f"139{n:08d}"
        rows.append([key, f"居民{n}", phone, registration, "租住", room])
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(PEOPLE_HEADER)
        writer.writerows(rows)
    return path


def _joined(chunks: list[Prepared]) -> dict[str, Any]:
    return {
        "read": sum(c.read for c in chunks),
        "records": [r for c in chunks for r in c.records],
        "rejects": [r for c in chunks for r in c.rejects],
        "kept": [k for c in chunks for k in c.kept],
        "candidates": [c_ for c in chunks for c_ in c.candidates],
        "unmatched": sum(c.unmatched for c in chunks),
    }


async def test_worker_processes_prepare_exactly_what_one_process_does(
    tmp_path: Path, matcher: Matcher, district: District
) -> None:
    feed = people_feed("T-WORKERS-PREP")
    target = TARGETS["people"]
    path = _export(tmp_path / "export.csv", district)
    columns = ["name", "phone", "registration", "residence_kind", "gender", "birth_date"]
    with ExitStack() as files:
        serial = Preparer(feed, target, columns, matcher, 7, T0)
        one = [serial.prepare(read_rows(path, "csv", feed.encoding, files))]
    with ExitStack() as files:
        names, blocks = csv_blocks(path, feed.encoding, files, 300)
        pooled = Preparer(feed, target, columns, matcher, 7, T0)
        many = [chunk async for chunk in prepared_blocks(pooled, names, blocks, 2)]
    assert len(many) > 2
    assert _joined(many) == _joined(one)
    assert _joined(one)["unmatched"] > 0
    assert _joined(one)["rejects"]


async def test_a_run_on_worker_processes_reports_and_stores_what_a_serial_run_does(
    tmp_path: Path, feeds_engine: AsyncEngine, matcher: Matcher, district: District
) -> None:
    feed = people_feed("T-WORKERS-RUN")
    path = _export(tmp_path / "export.csv", district)
    serial = await run_feed(
        feeds_engine, feed, path, matcher, by="tester", now=T0, dry_run=True, workers=0
    )
    pooled = await run_feed(feeds_engine, feed, path, matcher, by="tester", now=T0, workers=2)
    assert pooled.counts() == serial.counts()
    assert pooled.rejects == serial.rejects
    assert pooled.inserted > 2_000
    assert pooled.rejected > 100
    assert pooled.unmatched > 0
    async with feeds_engine.connect() as connection:
        stored = await connection.scalar(
            select(func.count()).select_from(Person).where(Person.source_feed == feed.code)
        )
        kept = await connection.scalar(
            select(func.count())
            .select_from(AddressCandidate)
            .where(AddressCandidate.run_id == pooled.run_id)
        )
    assert (stored, kept) == (pooled.inserted, pooled.unmatched)
    # What the workers staged is what one process stages: a serial run of the same file
    # finds every stored row equal.
    again = await run_feed(feeds_engine, feed, path, matcher, by="tester", now=T0, workers=0)
    assert (again.inserted, again.updated, again.removed) == (0, 0, 0)
    assert again.unchanged == pooled.inserted
