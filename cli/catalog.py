"""``gridhub catalog``: load the data-resource catalogue (数据资源目录) from its files.

The catalogue files are reviewed in version control; ``sync`` is how a reviewed change reaches
the database. It exits 0 when the database holds what the files say, and 2 when the files have
a mistake or the database can not be reached (nothing is written then).
"""

from __future__ import annotations

import asyncio
import getpass
from pathlib import Path
from typing import Annotated

import typer

from cli.options import DatabaseOption
from hub.settings import Settings

catalog_app = typer.Typer(
    help="The data-resource catalogue (数据资源目录): its files and the database.",
    no_args_is_help=True,
    add_completion=False,
)

FAILED = 2


def _who() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name (some containers)
        return "unknown"


@catalog_app.command()
def sync(
    directory: Annotated[
        Path | None,
        typer.Option(
            "--dir",
            help="The folder of catalogue files (*.toml); default: the files shipped with "
            "gridhub (catalog/resources/).",
            show_default=False,
            exists=True,
            file_okay=False,
        ),
    ] = None,
    by: Annotated[
        str | None,
        typer.Option(
            "--by", help="Who the new versions are recorded as made by (default: your login)."
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check and report, but write nothing.")
    ] = False,
    database_url: DatabaseOption = None,
) -> None:
    """Make the catalogue hold what the files say: new and changed resources get a new
    version, unchanged ones none. A mistake in any file writes nothing.

    \b
    gridhub catalog sync
    gridhub catalog sync --dir ./catalogue --dry-run
    """
    from sqlalchemy.exc import SQLAlchemyError

    from catalog.feed_files import read_feed_directory
    from catalog.files import CatalogFileError, packaged_directory, read_directory
    from catalog.sync import SyncReport
    from catalog.sync import sync as sync_catalog
    from store.engine import create_engine

    settings = Settings() if database_url is None else Settings(database_url=database_url)

    async def main() -> SyncReport:
        folder = directory or packaged_directory()
        resources = read_directory(folder)
        feeds = read_feed_directory(folder)
        engine = create_engine(settings)
        try:
            return await sync_catalog(
                engine, resources, by=by or _who(), dry_run=dry_run, feeds=feeds
            )
        finally:
            await engine.dispose()

    try:
        report = asyncio.run(main())
    except CatalogFileError as error:
        typer.secho("error: the catalogue files have mistakes; nothing was written", err=True)
        for problem in error.problems:
            typer.secho(f"  {problem}", err=True, fg=typer.colors.RED)
        raise typer.Exit(FAILED) from None
    except SQLAlchemyError as error:
        typer.secho(f"error: can not sync the catalogue: {error}", err=True, fg=typer.colors.RED)
        raise typer.Exit(FAILED) from None
    for label, codes in (
        ("created", report.created),
        ("changed", report.changed),
        ("taken over from the API", report.adopted),
        ("feed created", report.feeds_created),
        ("feed changed", report.feeds_changed),
    ):
        for code in codes:
            typer.echo(f"{label}: {code}")
    for code in report.missing:
        typer.secho(f"in no file any more (left as it is): {code}", err=True)
    total = report.written + len(report.unchanged)
    prefix = "dry run, nothing written: " if dry_run else ""
    typer.echo(
        f"{prefix}{total} resources: {len(report.created)} created, {len(report.changed)} "
        f"changed, {len(report.adopted)} taken over, {len(report.unchanged)} unchanged"
    )
