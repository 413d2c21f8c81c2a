"""Exports: a copy of part of the log that an auditor verifies offline, with the public key only.

Two layouts with the same content, chain after chain, each chain's entries in ``seq`` order and
each checkpoint right after the entry it covers (so the offline check streams, as the database
check does):

- **jsonl** — one JSON object a line. The first is the header (``"record": "header"``,
  ``"format": "gridhub-audit-export"``, ``"version": 1``, the range asked for); then
  ``"record": "entry"`` lines holding every column the hash covers plus ``hash``, and
  ``"record": "checkpoint"`` lines holding a checkpoint and its signature; the last line is
  ``"record": "end"`` with the counts, so a cut-off copy is noticed.
- **csv** — a header row of column names (:data:`CSV_COLUMNS`), then one row per record with
  the same ``record`` values. JSON columns hold their JSON text; an empty cell is null (the log
  never stores an empty optional text); the header and end rows carry their object in ``meta``.

A range is taken per chain as a contiguous run of ``seq`` (an entry's time never goes back
within a chain), from the first entry at or after ``since`` to the last one before ``until``.
Its first entry's ``prev_hash`` is the anchor: offline verification proves the range is intact
and consistent with the checkpoints inside it, not that nothing came before it.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Literal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from audit.record import ENTRY_FIELDS, canonical_json, entry_document, render_time
from audit.stream import Progress, chain_events
from store.models.audit import AuditEntry

FORMAT = "gridhub-audit-export"
VERSION = 1
Format = Literal["jsonl", "csv"]

#: Entry columns held as JSON text in a CSV cell.
JSON_COLUMNS = frozenset({"roles", "variables", "reads", "person_ids", "row_counts", "grant_ids"})
#: Columns whose cell is parsed as an integer.
INT_COLUMNS = frozenset({"seq", "latency_us", "number"})
#: Columns that are never null (an empty cell is an empty string).
REQUIRED_TEXT = frozenset({"writer_id", "request_id", "outcome", "prev_hash", "hash"})
CHECKPOINT_ONLY = ("number", "head_hash", "key_id", "final", "signature")
CSV_COLUMNS: tuple[str, ...] = ("record", *ENTRY_FIELDS, "hash", *CHECKPOINT_ONLY, "meta")
#: A CSV cell may hold a request's whole variables.
CSV_FIELD_LIMIT = 64 * 1024 * 1024


@dataclass(frozen=True)
class ExportSummary:
    entries: int
    checkpoints: int
    chains: int


def _header(
    since: datetime | None, until: datetime | None, writer_id: str | None
) -> dict[str, Any]:
    return {
        "record": "header",
        "format": FORMAT,
        "version": VERSION,
        "from": render_time(since) if since else None,
        "to": render_time(until) if until else None,
        "writer_id": writer_id,
        "exported_at": render_time(datetime.now(UTC)),
    }


def _checkpoint_document(values: dict[str, Any]) -> dict[str, Any]:
    document = {name: values[name] for name in ("writer_id", "seq", *CHECKPOINT_ONLY)}
    document["at"] = render_time(values["at"])
    return document


class _JsonlWriter:
    def __init__(self, out: IO[str]) -> None:
        self.out = out

    def write(self, record: str, document: dict[str, Any]) -> None:
        line = canonical_json({"record": record, **document}).decode("utf-8", "surrogatepass")
        self.out.write(line + "\n")


class _CsvWriter:
    def __init__(self, out: IO[str]) -> None:
        self.writer = csv.writer(out, lineterminator="\n")
        self.writer.writerow(CSV_COLUMNS)

    def write(self, record: str, document: dict[str, Any]) -> None:
        if record in ("header", "end"):
            meta = {key: value for key, value in document.items() if key != "record"}
            cells = {"record": record, "meta": canonical_json(meta).decode("utf-8")}
        else:
            cells = {"record": record, **{key: _cell(key, v) for key, v in document.items()}}
        self.writer.writerow([cells.get(column, "") for column in CSV_COLUMNS])


def _cell(name: str, value: Any) -> str:
    if name in JSON_COLUMNS:
        return canonical_json(value).decode("utf-8", "surrogatepass")
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


async def export(
    engine: AsyncEngine,
    out: IO[str],
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    fmt: Format = "jsonl",
    writer_id: str | None = None,
    progress: Progress | None = None,
) -> ExportSummary:
    """Write the entries with ``since <= at < until`` (per chain, see the module doc) and the
    checkpoints among them to ``out`` (opened with ``newline=""`` for csv)."""
    writer: _JsonlWriter | _CsvWriter = _JsonlWriter(out) if fmt == "jsonl" else _CsvWriter(out)
    ranges = (
        select(
            AuditEntry.writer_id,
            func.min(AuditEntry.seq),
            func.max(AuditEntry.seq),
            func.count(),
        )
        .group_by(AuditEntry.writer_id)
        .order_by(AuditEntry.writer_id)
    )
    if since is not None:
        ranges = ranges.where(AuditEntry.at >= since)
    if until is not None:
        ranges = ranges.where(AuditEntry.at < until)
    if writer_id is not None:
        ranges = ranges.where(AuditEntry.writer_id == writer_id)
    entries = checkpoints = 0
    async with engine.connect() as connection:
        chains = (await connection.execute(ranges)).all()
        if progress is not None:
            progress.start(sum(count for *_, count in chains), "entries")
        writer.write("header", _header(since, until, writer_id))
        for chain, first, last, _count in chains:
            events = chain_events(connection, chain, after_seq=first - 1, last_seq=last)
            async for kind, values in events:
                if kind == "entry":
                    writer.write("entry", {**entry_document(values), "hash": values["hash"]})
                    entries += 1
                    if progress is not None:
                        progress.advance(1)
                elif values["seq"] >= first:
                    writer.write("checkpoint", _checkpoint_document(values))
                    checkpoints += 1
    writer.write("end", {"entries": entries, "checkpoints": checkpoints})
    return ExportSummary(entries, checkpoints, len(chains))


# Reading an export back.


class ExportError(ValueError):
    """A line of an export can not be read; ``line`` is its 1-based number."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line


Record = tuple[int, str, dict[str, Any]]  # line number, record kind, values


def detect_format(path: Path) -> Format:
    """csv if the name says so or the first line is the CSV header, else jsonl."""
    if path.suffix.lower() == ".csv":
        return "csv"
    with path.open("rb") as file:
        start = file.read(16)
    return "csv" if start.startswith(b"record,") else "jsonl"


def _lines(path: Path, progress: Progress | None) -> Iterator[str]:
    """The file's lines, decoded; progress counted in bytes (the file's size is the total)."""
    if progress is not None:
        progress.start(path.stat().st_size, "bytes")
    with path.open("rb") as file:
        for raw in file:
            if progress is not None:
                progress.advance(len(raw))
            yield raw.decode("utf-8", "surrogateescape")


def read_export(path: Path, progress: Progress | None = None) -> Iterator[Record]:
    """The records of an export, one at a time; :class:`ExportError` for an unreadable one."""
    if detect_format(path) == "csv":
        yield from _read_csv(path, progress)
    else:
        yield from _read_jsonl(path, progress)


def _read_jsonl(path: Path, progress: Progress | None) -> Iterator[Record]:
    for number, line in enumerate(_lines(path, progress), start=1):
        if not line.strip():
            continue
        try:
            values = json.loads(line)
        except ValueError as error:
            raise ExportError(number, f"not JSON ({error})") from None
        if not isinstance(values, dict) or not isinstance(values.get("record"), str):
            raise ExportError(number, "not a record of an audit export")
        yield number, values.pop("record"), values


def _read_csv(path: Path, progress: Progress | None) -> Iterator[Record]:
    csv.field_size_limit(CSV_FIELD_LIMIT)
    reader = csv.DictReader(_lines(path, progress), strict=True)
    if tuple(reader.fieldnames or ()) != CSV_COLUMNS:
        raise ExportError(1, "the CSV header is not the audit export's columns")
    try:
        for row in reader:
            number = reader.line_num
            if None in row or any(value is None for value in row.values()):
                raise ExportError(number, "the row has a different number of cells")
            record = row.pop("record")
            meta = row.pop("meta")
            try:
                if record in ("header", "end"):
                    yield number, record, json.loads(meta)
                    continue
                names = ENTRY_FIELDS + ("hash",) if record == "entry" else _CHECKPOINT_CELLS
                yield number, record, {name: _value(name, row[name]) for name in names}
            except ValueError as error:
                raise ExportError(number, f"a cell can not be read ({error})") from None
    except csv.Error as error:
        raise ExportError(reader.line_num, f"not CSV ({error})") from None


_CHECKPOINT_CELLS = ("writer_id", "seq", "at", *CHECKPOINT_ONLY)


def _value(name: str, cell: str) -> Any:
    if name in JSON_COLUMNS:
        return json.loads(cell)
    if name in INT_COLUMNS:
        return int(cell)
    if name == "final":
        if cell not in ("true", "false"):
            raise ValueError(f"final is true or false, not {cell!r}")
        return cell == "true"
    if cell == "" and name not in REQUIRED_TEXT:
        return None
    return cell
