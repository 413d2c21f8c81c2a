"""``gridhub tasks``: raise verification tasks, and set how often records are rechecked.

``gridhub tasks generate`` raises every task the feeds' findings (conflicts, unplaced
addresses) and the resources' recheck periods call for; run it after each feed run, or on a
schedule. It is idempotent: a record has at most one open task per reason, so running it again
adds nothing. Exit status 0 on success, 2 on bad input or when the database cannot be reached.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console

from cli.options import DatabaseOption
from hub.settings import Settings

tasks_app = typer.Typer(
    help="Verification tasks (核查任务): raise them, and set the resources' recheck periods.",
    no_args_is_help=True,
    add_completion=False,
)

FAILED = 2


def _settings(database_url: str | None) -> Settings:
    return Settings() if database_url is None else Settings(database_url=database_url)


@tasks_app.command()
def generate(
    area: Annotated[
        str | None,
        typer.Option(help="Raise tasks only under this area code (default: everywhere)."),
    ] = None,
    kind: Annotated[
        list[str] | None,
        typer.Option(
            help="Only these kinds: conflict, unplaced_address, recheck (repeatable; default "
            "all three)."
        ),
    ] = None,
    database_url: DatabaseOption = None,
) -> None:
    """Raise the tasks the findings and recheck periods call for, and print how many; cancel
    the tasks whose record a feed removed, and escalate the overdue ones to community staff.

    \b
    gridhub tasks generate
    gridhub tasks generate --area 440306001 --kind conflict
    """
    from sqlalchemy.exc import SQLAlchemyError

    from policies.areas import check_area_code
    from store.engine import create_engine
    from store.errors import BadUserInput
    from store.models import TaskKind
    from tasks.generate import GenerationReport, generate_tasks

    allowed = {TaskKind.CONFLICT, TaskKind.UNPLACED_ADDRESS, TaskKind.RECHECK}
    try:
        kinds = frozenset(TaskKind(k) for k in kind) if kind else None
        if kinds is not None and not kinds <= allowed:
            raise ValueError
        if area is not None:
            check_area_code(area)
    except (ValueError, BadUserInput) as error:
        message = str(error) or "a kind is conflict, unplaced_address or recheck"
        Console(stderr=True).print(f"[red]error:[/red] {message}")
        raise typer.Exit(FAILED) from None

    async def main() -> GenerationReport:
        engine = create_engine(_settings(database_url))
        try:
            return await generate_tasks(engine, datetime.now(UTC), area=area, kinds=kinds)
        finally:
            await engine.dispose()

    try:
        report = asyncio.run(main())
    except SQLAlchemyError as error:
        Console(stderr=True).print(f"[red]error:[/red] the database: {error.__class__.__name__}")
        raise typer.Exit(FAILED) from None
    for name, count in report.raised.items():
        typer.echo(f"{name}\t{count}")
    typer.echo(f"total\t{report.total}")
    if report.without_grid:
        typer.echo(f"findings without a grid (no task)\t{report.without_grid}")
    if report.cancelled:
        typer.echo(f"cancelled (record removed)\t{report.cancelled}")
    if report.escalated:
        typer.echo(f"escalated (overdue)\t{report.escalated}")


@tasks_app.command()
def recheck(
    resource: Annotated[str, typer.Argument(help="The catalogue resource's code.")],
    days: Annotated[
        int | None,
        typer.Argument(help="Days a record stays verified; leave out to stop rechecking."),
    ] = None,
    database_url: DatabaseOption = None,
) -> None:
    """Set how many days a record of RESOURCE stays verified before a RECHECK task is raised.

    \b
    gridhub tasks recheck FW-JC-001 180
    """
    from sqlalchemy.exc import SQLAlchemyError

    from store.engine import create_engine
    from store.errors import BadUserInput
    from tasks.recheck import set_recheck_period

    async def main() -> None:
        engine = create_engine(_settings(database_url))
        try:
            async with engine.begin() as connection:
                await set_recheck_period(connection, resource, days)
        finally:
            await engine.dispose()

    try:
        asyncio.run(main())
    except BadUserInput as error:
        Console(stderr=True).print(f"[red]error:[/red] {error}")
        raise typer.Exit(FAILED) from None
    except SQLAlchemyError as error:
        Console(stderr=True).print(f"[red]error:[/red] the database: {error.__class__.__name__}")
        raise typer.Exit(FAILED) from None
    typer.echo(f"{resource}: " + (f"recheck every {days} days" if days else "no recheck"))
