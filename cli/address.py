"""``gridhub address``: match a department's export of address strings onto the address base.

``gridhub address match INPUT --column NAME -o OUTPUT`` reads a CSV or XLSX file, matches the
named column row by row against the standard addresses (one index, built once), and writes the
file back with the match appended: ``house_code``, ``room_code``, ``standard_address``,
``confidence``, ``method``, ``candidates`` and ``problem``. Only accepted matches fill the codes;
a row below the threshold names its candidates instead, for a person to choose. A bad row
(empty, too long, undecodable) is reported in its ``problem`` column and the run goes on.
"""

from __future__ import annotations

import asyncio
import csv
import gc
import itertools
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cli.options import DatabaseOption
from hub.settings import Settings

address_app = typer.Typer(
    help="The standard address base (统一地址): match department address strings onto it.",
    no_args_is_help=True,
    add_completion=False,
)

FAILED = 2
#: The columns a run appends, in order.
APPENDED = (
    "house_code",
    "room_code",
    "standard_address",
    "confidence",
    "method",
    "candidates",
    "problem",
)
#: How many of a row's candidates the ``candidates`` column names.
NAMED_CANDIDATES = 3


def _fail(message: str) -> typer.Exit:
    Console(stderr=True).print(f"[red]error:[/red] {message}")
    return typer.Exit(FAILED)


def _kind(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt"):
        return "csv"
    if suffix in (".xlsx", ".xlsm"):
        return "xlsx"
    raise _fail(f"{path}: only .csv and .xlsx files are read and written")


def _read(path: Path, encoding: str, stack: ExitStack) -> tuple[list[str], Iterator[list[Any]]]:
    """The header and the rows of the first sheet (or the CSV file), read as a stream."""
    if _kind(path) == "csv":
        # Undecodable bytes become U+FFFD, which the matcher reports for that row only.
        handle = stack.enter_context(path.open(encoding=encoding, errors="replace", newline=""))
        reader = csv.reader(handle)
        header = next(reader, None)
        return ([] if header is None else header), reader
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as error:  # openpyxl raises many kinds for a file that is no workbook
        raise _fail(f"{path}: not a readable XLSX workbook ({error})") from error
    stack.callback(book.close)
    rows = book.worksheets[0].iter_rows(values_only=True)
    header = next(rows, None)
    names = ["" if cell is None else str(cell) for cell in (header or ())]
    return names, (list(row) for row in rows)


class _Writer:
    """Writes rows to a CSV or XLSX file as they come (XLSX in write-only mode)."""

    def __init__(self, path: Path, stack: ExitStack) -> None:
        self.path = path
        self.kind = _kind(path)
        if self.kind == "csv":
            handle = stack.enter_context(path.open("w", encoding="utf-8-sig", newline=""))
            self._csv = csv.writer(handle)
        else:
            from openpyxl import Workbook

            self._book = Workbook(write_only=True)
            self._sheet = self._book.create_sheet("matched")

    def row(self, values: list[Any]) -> None:
        if self.kind == "csv":
            self._csv.writerow(values)
        else:
            self._sheet.append(values)

    def close(self) -> None:
        if self.kind == "xlsx":
            self._book.save(self.path)


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


@address_app.command()
def match(
    input_file: Annotated[
        Path, typer.Argument(metavar="INPUT", exists=True, dir_okay=False, help="CSV or XLSX.")
    ],
    column: Annotated[str, typer.Option("--column", help="The column holding the address.")],
    output: Annotated[
        Path, typer.Option("-o", "--output", help="Where to write (CSV or XLSX, by suffix).")
    ],
    area: Annotated[
        str | None,
        typer.Option("--area", help="Match only against houses under this area code."),
    ] = None,
    threshold: Annotated[
        float | None,
        typer.Option(
            "--threshold",
            min=0,
            max=1,
            help="Accept at or above this confidence (default: the hub's address_match_threshold).",
            show_default=False,
        ),
    ] = None,
    encoding: Annotated[
        str, typer.Option("--encoding", help="The CSV file's encoding (GBK exports: gb18030).")
    ] = "utf-8-sig",
    database_url: DatabaseOption = None,
) -> None:
    """Match every row's address and write the file back with the match appended.

    \b
    gridhub address match 出租屋.xlsx --column 地址 -o 出租屋-matched.xlsx
    gridhub address match export.csv --column address --area 440306001 -o matched.csv
    """
    from addresses.base import load_matcher
    from policies.areas import check_area_code
    from store.engine import create_engine
    from store.errors import BadUserInput

    if area is not None:
        try:
            check_area_code(area)
        except BadUserInput as error:
            raise _fail(str(error)) from error
    settings = Settings() if database_url is None else Settings(database_url=database_url)
    accept = settings.address_match_threshold if threshold is None else threshold

    async def build() -> Any:
        engine = create_engine(settings)
        try:
            async with engine.connect() as connection:
                return await load_matcher(connection, accept)
        finally:
            await engine.dispose()

    console = Console(stderr=True)
    with console.status("Building the address index…"):
        matcher = asyncio.run(build())
    gc.freeze()  # the index lives for the whole run: keep the garbage collector off it
    if not matcher.houses:
        raise _fail("the database has no standard addresses (seed or load a district first)")
    allowed = None if area is None else (lambda grid: grid.startswith(area))
    counts: Counter[str] = Counter()
    with ExitStack() as stack:
        header, rows = _read(input_file, encoding, stack)
        if column not in header:
            raise _fail(f"no column {column!r} in {input_file} (it has: {', '.join(header)})")
        index = header.index(column)
        writer = _Writer(output, stack)
        writer.row([*header, *APPENDED])
        progress = stack.enter_context(
            Progress(
                TextColumn("matching"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
            )
        )
        task = progress.add_task("rows", total=None)
        ahead, behind = itertools.tee(rows)  # matched one row ahead: bounded memory
        texts = (_text(row[index]) if index < len(row) else "" for row in ahead)
        for row, found in zip(behind, matcher.match_many(texts, allowed), strict=True):
            counts[_outcome(found)] += 1
            writer.row([*row, *_appended(found)])
            progress.advance(task)
        writer.close()
    _summary(counts, output)


def _outcome(found: Any) -> str:
    if found.problem is not None:
        return "bad"
    if found.accepted:
        return str(found.method)
    return "candidates" if found.candidates else "unmatched"


def _appended(found: Any) -> list[Any]:
    outcome = _outcome(found)
    named = "; ".join(
        f"{c.room_code or c.house_code} {c.text} ({c.confidence:.2f})"
        for c in found.candidates[:NAMED_CANDIDATES]
    )
    if found.accepted:
        best = found.best
        return [
            best.house_code,
            best.room_code or "",
            best.text,
            round(best.confidence, 4),
            outcome,
            "",
            "",
        ]
    confidence = round(found.best.confidence, 4) if found.best else ""
    return ["", "", "", confidence, outcome, named, found.problem or ""]


def _summary(counts: Counter[str], output: Path) -> None:
    table = Table(title=f"Matched → {output}")
    table.add_column("outcome")
    table.add_column("rows", justify="right")
    total = sum(counts.values())
    order = ("exact", "alias", "components", "fuzzy", "candidates", "unmatched", "bad")
    for name in order:
        if counts[name]:
            table.add_row(name, f"{counts[name]:,}")
    table.add_row("total", f"{total:,}", style="bold")
    Console().print(table)
