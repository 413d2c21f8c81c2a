"""Reading a department's export as a stream of rows: CSV, XLSX or JSON lines.

Each reader yields ``(line, values)``: the row's line (the header is line 1 in CSV and XLSX;
JSON lines count from 1) and its values by the source's column names. Nothing is read ahead:
a file of any size costs the memory of one row. A file that is not what its feed declares
(no header, a workbook that does not open, a line that is no JSON object) raises
:class:`FeedFileError`; a bad line of JSON is a rejected row, not a failed run.
"""

from __future__ import annotations

import csv
import itertools
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import orjson

Row = tuple[int, dict[str, Any]]


class FeedFileError(Exception):
    """The file can not be read as its feed's format (nothing of it is merged)."""


class BadLine(Exception):
    """One line can not be read (JSON lines): the row is rejected with this reason."""


def read_rows(path: Path, fmt: str, encoding: str, stack: ExitStack) -> Iterator[Row]:
    """The rows of ``path`` read as ``fmt`` (``csv``, ``xlsx``, ``jsonl``)."""
    if fmt == "csv":
        return _csv(path, encoding, stack)
    if fmt == "xlsx":
        return _xlsx(path, stack)
    if fmt == "jsonl":
        return _jsonl(path, stack)
    raise FeedFileError(f"unknown format {fmt!r}")


def _csv(path: Path, encoding: str, stack: ExitStack) -> Iterator[Row]:
    # Undecodable bytes become U+FFFD: that row is rejected by the checks, the run goes on.
    handle = stack.enter_context(path.open(encoding=encoding, errors="replace", newline=""))
    reader = csv.reader(handle)
    header = next(reader, None)
    if not header:
        raise FeedFileError("the CSV file has no header row")
    names = [name.strip() for name in header]
    return _csv_rows(reader, names)


def _csv_rows(reader: Any, names: list[str]) -> Iterator[Row]:
    width = len(names)
    for values in reader:
        if not values:
            continue
        yield reader.line_num, dict(zip(names, values[:width], strict=False))


def csv_blocks(
    path: Path, encoding: str, stack: ExitStack, size: int
) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    """The header's names and the file's records in blocks of about ``size`` physical lines:
    ``(lines before the block, the block's lines)``. A block never ends inside a quoted value
    (its quote characters are even in number), so each parses on its own, in another process
    if need be (:func:`csv_block_rows`), as the whole file would: the same rows, same lines."""
    handle = stack.enter_context(path.open(encoding=encoding, errors="replace", newline=""))
    head = _record(handle, [])
    if head is None:
        raise FeedFileError("the CSV file has no header row")
    header = next(csv.reader(head), None)
    if not header:
        raise FeedFileError("the CSV file has no header row")
    return [name.strip() for name in header], _blocks(handle, len(head), size)


def _record(handle: Any, lines: list[str]) -> list[str] | None:
    """``lines`` completed up to the end of a record (an even number of quotes)."""
    quotes = sum(line.count('"') for line in lines)
    while not lines or quotes % 2:
        line = handle.readline()
        if not line:
            return lines or None
        lines.append(line)
        quotes += line.count('"')
    return lines


def _blocks(handle: Any, before: int, size: int) -> Iterator[tuple[int, list[str]]]:
    while True:
        lines = list(itertools.islice(handle, size))
        if not lines:
            return
        _record(handle, lines)
        yield before, lines
        before += len(lines)


def csv_block_rows(names: list[str], before: int, lines: list[str]) -> Iterator[Row]:
    """The rows of one block of :func:`csv_blocks`, numbered as in the whole file."""
    width = len(names)
    reader = csv.reader(lines)
    for values in reader:
        if not values:
            continue
        yield before + reader.line_num, dict(zip(names, values[:width], strict=False))


def _xlsx(path: Path, stack: ExitStack) -> Iterator[Row]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as error:  # openpyxl raises many kinds for a file that is no workbook
        raise FeedFileError(f"not a readable XLSX workbook ({type(error).__name__})") from None
    stack.callback(book.close)
    rows = book.worksheets[0].iter_rows(values_only=True)
    header = next(rows, None)
    if not header:
        raise FeedFileError("the workbook's first sheet has no header row")
    names = ["" if cell is None else str(cell).strip() for cell in header]
    return _xlsx_rows(rows, names)


def _xlsx_rows(rows: Any, names: list[str]) -> Iterator[Row]:
    for line, values in enumerate(rows, start=2):
        if all(value is None for value in values):
            continue
        yield line, dict(zip(names, values, strict=False))


def _jsonl(path: Path, stack: ExitStack) -> Iterator[Row]:
    handle = stack.enter_context(path.open("rb"))
    return _jsonl_rows(handle)


def _jsonl_rows(handle: Any) -> Iterator[Row]:
    for line, raw in enumerate(handle, start=1):
        if not raw.strip():
            continue
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            yield line, {_BAD: "the line is not JSON"}
            continue
        if not isinstance(value, dict):
            yield line, {_BAD: "the line is not a JSON object"}
            continue
        yield line, value


#: The key a JSON line that could not be read carries its reason under.
_BAD = "\x00bad"
BAD_LINE = _BAD
