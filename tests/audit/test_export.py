"""Exports: what the database holds, verifiable offline with the public key only; tampering with
the copy is found and named like tampering with the database."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from audit.chain import entry_hash
from audit.export import CSV_COLUMNS, export, read_export
from audit.keys import AuditKeys, load_public_keys
from audit.record import ENTRY_FIELDS, canonical_entry, canonical_json
from audit.verify import Kind, verify_file
from audit.writer import AuditWriter
from store.models import AuditEntry
from tests.audit.conftest import MakeWriter
from tests.audit.helpers import record

START = datetime(2026, 11, 1, tzinfo=UTC)
FORMATS = ["jsonl", "csv"]
Records = list[dict[str, Any]]


def _clock(start: datetime = START) -> Callable[[], datetime]:
    """One minute per entry: entry #n of a chain is at START + n - 1 minutes."""
    times = (start + timedelta(minutes=n) for n in range(10_000))
    return lambda: next(times)


async def _two_chains(make_writer: MakeWriter) -> tuple[AuditWriter, AuditWriter]:
    first = await make_writer(clock=_clock())
    second = await make_writer(clock=_clock())
    for _ in range(35):
        await first.record(record())
    for _ in range(12):
        await second.record(record())
    await first.close()
    return first, second  # the second stays open: an unsigned tail


async def _export(engine: AsyncEngine, path: Path, fmt: str, **options: Any) -> Path:
    with path.open("w", encoding="utf-8", newline="") as out:
        await export(engine, out, fmt=fmt, **options)  # type: ignore[arg-type]
    return path


def _load(path: Path, fmt: str) -> Records:
    text = path.read_text(encoding="utf-8")
    if fmt == "jsonl":
        return [json.loads(line) for line in text.splitlines()]
    return list(csv.DictReader(io.StringIO(text, newline="")))


def _save(records: Records, path: Path, fmt: str) -> Path:
    if fmt == "jsonl":
        path.write_text(
            "".join(canonical_json(item).decode() + "\n" for item in records), encoding="utf-8"
        )
    else:
        with path.open("w", encoding="utf-8", newline="") as out:
            writer = csv.DictWriter(out, CSV_COLUMNS, lineterminator="\n")
            writer.writeheader()
            writer.writerows(records)
    return path


def _find(records: Records, record_kind: str, writer_id: str, **match: Any) -> int:
    for index, item in enumerate(records):
        if item["record"] == record_kind and item["writer_id"] == writer_id:
            if all(str(item[key]) == str(value) for key, value in match.items()):
                return index
    raise LookupError(match)


@pytest.mark.parametrize("fmt", FORMATS)
async def test_an_export_verifies_offline_and_holds_what_the_database_holds(
    make_writer: MakeWriter,
    audit_engine: AsyncEngine,
    audit_keys: AuditKeys,
    tmp_path: Path,
    fmt: str,
) -> None:
    first, second = await _two_chains(make_writer)
    path = await _export(audit_engine, tmp_path / f"audit.{fmt}", fmt)
    public = load_public_keys(json.loads(json.dumps(audit_keys.document())))
    report = verify_file(path, public)
    assert report.ok, report.lines()
    assert (report.entries, report.checkpoints, report.chains) == (47, 5, 2)
    assert report.sealed_chains == 1
    assert [(t.writer_id, t.first_seq, t.last_seq) for t in report.unsigned] == [
        (second.writer_id, 11, 12)
    ]
    assert report.ranges == []  # both chains whole, from #1
    async with audit_engine.connect() as connection:
        query = select(AuditEntry.__table__).order_by(AuditEntry.writer_id, AuditEntry.seq)
        rows = (await connection.execute(query)).mappings().all()
    exported = [values for _, kind, values in read_export(path) if kind == "entry"]
    assert len(exported) == len(rows) == 47
    for values, row in zip(
        exported, sorted(rows, key=lambda r: (r["writer_id"], r["seq"])), strict=True
    ):
        assert canonical_entry(values) == canonical_entry(row)
        assert values["hash"] == row["hash"] == entry_hash(values)


@pytest.mark.parametrize("fmt", FORMATS)
async def test_a_range_starting_mid_chain_verifies_and_says_it_is_a_range(
    make_writer: MakeWriter,
    audit_engine: AsyncEngine,
    audit_keys: AuditKeys,
    tmp_path: Path,
    fmt: str,
) -> None:
    first, _ = await _two_chains(make_writer)
    since, until = START + timedelta(minutes=14), START + timedelta(minutes=33)
    path = await _export(audit_engine, tmp_path / f"range.{fmt}", fmt, since=since, until=until)
    entries = [v for _, kind, v in read_export(path) if kind == "entry"]
    assert [v["seq"] for v in entries if v["writer_id"] == first.writer_id] == list(range(15, 34))
    report = verify_file(path, audit_keys.public_keys)
    assert report.ok, report.lines()
    assert report.checkpoints == 2  # at #20 and #30
    text = "\n".join(report.lines())
    assert f"chain {first.writer_id}: a range from #15, anchored on that entry's prev_hash" in text
    header = next(v for _, kind, v in read_export(path) if kind == "header")
    assert header["from"] == "2026-11-01T00:14:00.000000Z"


def _edit_subject(records: Records, w: str) -> None:
    records[_find(records, "entry", w, seq=17)]["subject"] = "innocent"


def _delete_entry(records: Records, w: str) -> None:
    del records[_find(records, "entry", w, seq=17)]


def _duplicate_entry(records: Records, w: str) -> None:
    index = _find(records, "entry", w, seq=17)
    records.insert(index + 1, dict(records[index]))


def _forge_a_second_17(records: Records, w: str) -> None:
    """A well-formed entry with a right hash, linked to #16, slipped in before the real #17."""
    index = _find(records, "entry", w, seq=17)
    forged = dict(records[index])
    forged["subject"] = "someone-else"
    if "meta" in forged:  # csv: the cells are text
        values = {
            k: json.loads(v) if k in ("roles", "variables", "reads") else v
            for k, v in forged.items()
        }
        values.update({k: json.loads(forged[k]) for k in ("person_ids", "row_counts", "grant_ids")})
        values.update(seq=int(forged["seq"]), latency_us=int(forged["latency_us"]))
        values.update({k: None for k in ENTRY_FIELDS if forged[k] == "" and k != "request_id"})
        forged["hash"] = entry_hash(values)
    else:
        forged["hash"] = entry_hash(forged)
    records.insert(index, forged)


def _swap_entries(records: Records, w: str) -> None:
    a, b = _find(records, "entry", w, seq=17), _find(records, "entry", w, seq=18)
    records[a], records[b] = records[b], records[a]


def _move_entry_later(records: Records, w: str) -> None:
    records.insert(
        _find(records, "entry", w, seq=24), records.pop(_find(records, "entry", w, seq=13))
    )


def _edit_checkpoint(records: Records, w: str) -> None:
    records[_find(records, "checkpoint", w, number=2)]["head_hash"] = "f" * 64


def _delete_checkpoint(records: Records, w: str) -> None:
    del records[_find(records, "checkpoint", w, number=2)]


def _move_checkpoint_earlier(records: Records, w: str) -> None:
    checkpoint = records.pop(_find(records, "checkpoint", w, number=2))
    records.insert(_find(records, "entry", w, seq=18), checkpoint)


def _cut_the_end(records: Records, w: str) -> None:
    del records[-3:]  # the end line, the final checkpoint, #35


def _delete_a_chain(records: Records, w: str) -> None:
    records[:] = [item for item in records if item.get("writer_id") != w]


def _interleave_chains(records: Records, w: str) -> None:
    """Move #35 to the top: before the chain's other lines, or before another chain's."""
    records.insert(1, records.pop(_find(records, "entry", w, seq=35)))


FILE_CASES: list[tuple[Callable[[Records, str], None], Kind, int | None, int | None]] = [
    (_edit_subject, Kind.CHANGED, 17, None),
    (_delete_entry, Kind.REMOVED, 17, None),
    (_duplicate_entry, Kind.INSERTED, 17, None),
    (_forge_a_second_17, Kind.INSERTED, 17, None),
    (_swap_entries, Kind.REORDERED, 17, None),
    (_move_entry_later, Kind.REORDERED, 13, None),
    (_edit_checkpoint, Kind.SIGNATURE, 20, 2),
    (_delete_checkpoint, Kind.CHECKPOINT_REMOVED, None, 2),
    (_move_checkpoint_earlier, Kind.REORDERED, 20, 2),
    (_interleave_chains, Kind.REORDERED, 1, None),
]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    ("tamper", "kind", "seq", "checkpoint"),
    FILE_CASES,
    ids=[case[0].__name__.strip("_") for case in FILE_CASES],
)
async def test_tampering_with_an_export_is_found_and_named(
    make_writer: MakeWriter,
    audit_engine: AsyncEngine,
    audit_keys: AuditKeys,
    tmp_path: Path,
    fmt: str,
    tamper: Callable[[Records, str], None],
    kind: Kind,
    seq: int | None,
    checkpoint: int | None,
) -> None:
    first, _ = await _two_chains(make_writer)
    path = await _export(audit_engine, tmp_path / f"audit.{fmt}", fmt)
    assert verify_file(path, audit_keys.public_keys).ok
    records = _load(path, fmt)
    tamper(records, first.writer_id)
    report = verify_file(_save(records, path, fmt), audit_keys.public_keys)
    problem = report.problem
    assert problem is not None, report.lines()
    assert (problem.kind, problem.writer_id, problem.seq, problem.checkpoint) == (
        kind,
        first.writer_id,
        seq,
        checkpoint,
    ), str(problem)
    assert problem.line is not None
    assert str(problem).startswith(f"line {problem.line}: ")
    named = records[problem.line - (1 if fmt == "jsonl" else 2)]  # csv: after its header row
    assert named["writer_id"] == first.writer_id


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("tamper", [_cut_the_end, _delete_a_chain], ids=["cut", "chain"])
async def test_a_copy_missing_lines_at_the_end_or_whole_chains_is_found(
    make_writer: MakeWriter,
    audit_engine: AsyncEngine,
    audit_keys: AuditKeys,
    tmp_path: Path,
    fmt: str,
    tamper: Callable[[Records, str], None],
) -> None:
    first, _ = await _two_chains(make_writer)
    path = await _export(audit_engine, tmp_path / f"audit.{fmt}", fmt)
    records = _load(path, fmt)
    tamper(records, first.writer_id)
    report = verify_file(_save(records, path, fmt), audit_keys.public_keys)
    assert report.problem is not None
    assert report.problem.kind in (Kind.TAIL_CUT, Kind.REMOVED)
    expected = "no end line" if tamper is _cut_the_end else "says it holds 47 entries"
    assert expected in str(report.problem)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("", "empty"),
        ('{"record": "entry"}\n', "does not start with its header"),
        ('{"record": "header", "format": "gridhub-audit-export", "version": 9}\n', "version 9"),
        (
            '{"record": "header", "format": "gridhub-audit-export", "version": 1}\nnot json\n',
            "line 2",
        ),
    ],
)
def test_a_file_that_is_not_an_export_is_refused(
    tmp_path: Path, audit_keys: AuditKeys, content: str, expected: str
) -> None:
    path = tmp_path / "broken.jsonl"
    path.write_text(content, encoding="utf-8")
    report = verify_file(path, audit_keys.public_keys)
    assert report.problem is not None
    assert report.problem.kind == Kind.MALFORMED
    assert expected in str(report.problem)


async def test_an_export_checked_with_another_key_fails(
    make_writer: MakeWriter, audit_engine: AsyncEngine, tmp_path: Path
) -> None:
    await _two_chains(make_writer)
    path = await _export(audit_engine, tmp_path / "audit.jsonl", "jsonl")
    other = AuditKeys.load_or_create(tmp_path / "other-keys").public_keys
    report = verify_file(path, other)
    assert report.problem is not None
    assert report.problem.kind == Kind.UNKNOWN_KEY
