"""``gridhub ingest``: run a department feed on an export from the shell.

``gridhub ingest --feed FEED DATA`` reads ``DATA`` (CSV, XLSX or JSON lines, as the feed
declares), checks every row, places its address, and merges it into the shared data in one
transaction; a rich progress bar shows the rows read. ``FEED`` is a feed code from the
catalogue (``gridhub catalog sync`` stores the declarations) or a catalogue file (``.toml``)
declaring one feed. ``--report OUT.json`` writes the whole report (every reject with its
reason); ``--dry-run`` does everything and then rolls back. The run is one audit entry.
Exit 0 when the run merged (rejects or not), 2 when it wrote nothing.
"""

from __future__ import annotations

import asyncio
import getpass
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cli.options import DatabaseOption
from hub.settings import Settings

FAILED = 2


def _who() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name (some containers)
        return "unknown"


def _fail(message: str) -> typer.Exit:
    Console(stderr=True).print(f"[red]error:[/red] {message}")
    return typer.Exit(FAILED)


async def _declaration(connection: Any, feed: str) -> Any:
    """The feed named by ``feed``: a catalogue file's only feed, or a stored one by code."""
    from catalog import feed_store, store
    from catalog.feed_files import feed_problems, read_feeds
    from catalog.files import CatalogFileError

    path = Path(feed)
    if path.suffix == ".toml" and path.is_file():  # noqa: ASYNC240 - a small local file
        try:
            declared = read_feeds(path.name, path.read_text(encoding="utf-8"))  # noqa: ASYNC240
        except CatalogFileError as error:
            raise _fail("; ".join(error.problems)) from None
        if len(declared) != 1:
            raise _fail(f"{path} declares {len(declared)} feeds; name one by its code")
        resources = {
            r.definition.code: (r.definition.department, r.definition.graphql_type)
            for r in await store.search(connection, store.CatalogQuery())
        }
        problems = feed_problems(declared[0], await store.department_codes(connection), resources)
        if problems:
            raise _fail("; ".join(problems))
        return declared[0]
    found = await feed_store.get(connection, feed)
    if found is None:
        raise _fail(f"no feed {feed!r} in the catalogue (run `gridhub catalog sync`)")
    return found


def ingest(
    data: Annotated[
        Path, typer.Argument(metavar="DATA", exists=True, dir_okay=False, help="The export.")
    ],
    feed: Annotated[
        str, typer.Option("--feed", help="The feed's code, or a .toml file declaring it.")
    ],
    report_path: Annotated[
        Path | None,
        typer.Option("--report", help="Write the whole report (every reject) here as JSON."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check, match and merge, then roll back.")
    ] = False,
    by: Annotated[
        str | None, typer.Option("--by", help="Who the run is recorded as (default: your login).")
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            min=0,
            help="Processes checking and placing a CSV file's rows (default: one per core; "
            "0: none, this process does it).",
        ),
    ] = None,
    database_url: DatabaseOption = None,
) -> None:
    """Run a department feed on an export: check, match, merge in one transaction.

    \b
    gridhub ingest --feed GA-RK-FEED 实有人口.csv --report run.json
    gridhub ingest --feed ./feeds/market.toml entities.xlsx --dry-run
    """
    from addresses.base import MATCHERS
    from audit.keys import AuditKeys
    from audit.writer import AuditWriter
    from feeds.audit import run_record
    from feeds.run import FeedRunFailed, run_feed
    from store.engine import create_engine

    settings = Settings() if database_url is None else Settings(database_url=database_url)
    subject = by or _who()
    console = Console(stderr=True)

    async def main() -> Any:
        engine = create_engine(settings)
        writer = AuditWriter(engine, AuditKeys.load_or_create(settings.audit_key_dir), settings)
        try:
            async with engine.connect() as connection:
                declaration = await _declaration(connection, feed)
            with console.status("Building the address index…"):
                matcher = await MATCHERS.get(engine, settings.address_match_threshold)
            await writer.start()
            with Progress(
                TextColumn(f"[bold]{declaration.code}[/bold] rows"),
                BarColumn(),
                TextColumn("{task.completed:,}"),
                TimeElapsedColumn(),
                console=console,
            ) as bar:
                task = bar.add_task("rows", total=None)
                try:
                    report = await run_feed(
                        engine,
                        declaration,
                        data,
                        matcher,
                        by=subject,
                        dry_run=dry_run,
                        progress=lambda n: bar.advance(task, n),
                        workers=workers,
                    )
                except FeedRunFailed as error:
                    failed: FeedRunFailed | None = error
                    report = None
                else:
                    failed = None
            if report is None:
                return None, failed
            if not dry_run:
                await writer.record(run_record(report, subject=subject))
                if declaration.target in ("houses", "rooms"):
                    MATCHERS.forget()
            return report, None
        finally:
            await writer.close()
            await engine.dispose()

    report, failed = asyncio.run(main())
    if report is None:
        raise _fail(str(failed))
    if report_path is not None:
        report_path.write_text(
            json.dumps(report.as_json(), ensure_ascii=False, indent=2), encoding="utf-8"
        )
    _summary(report)
    if report.rejects:
        shown = report.rejects[:10]
        for reject in shown:
            console.print(f"  line {reject.line}: [yellow]{reject.code}[/yellow] {reject.reason}")
        if len(report.rejects) > len(shown):
            console.print(f"  … and {len(report.rejects) - len(shown)} more (see --report)")


def _summary(report: Any) -> None:
    title = f"{report.feed} run {report.run_id or '(dry run)'} — sha256 {report.file_sha256[:12]}…"
    table = Table(title=title)
    table.add_column("count")
    table.add_column("rows", justify="right")
    for name, value in report.counts().items():
        table.add_row(name, f"{value:,}")
    Console().print(table)
