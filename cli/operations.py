"""``gridhub operations``: the persisted operations (allow-list) of department apps.

Registering checks the document the way the hub would run it (syntax, schema, limits), so a
document that the hub would refuse never gets on a list. Exit status 2 when a document or app
can not be registered, or a hash to remove is not registered.
"""

from __future__ import annotations

import asyncio
import getpass
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from cli.options import DatabaseOption
from hub.settings import Settings

operations_app = typer.Typer(
    help="Persisted operations: the documents an app may send by hash (its allow-list when "
    "GRIDHUB_PERSISTED_ONLY names it).",
    no_args_is_help=True,
    add_completion=False,
)
console = Console(stderr=True)
FAILED = 2

ClientOption = Annotated[
    str, typer.Option("--client", help="The app's subject (as `gridhub principals` lists it).")
]


def _settings(database_url: str | None) -> Settings:
    return Settings(database_url=database_url) if database_url else Settings()


def _who() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name (some containers)
        return "unknown"


def _problems(settings: Settings, document: str) -> list[str]:
    """What the hub would refuse in ``document`` (empty: it would run it)."""
    from hub.execution import Executor
    from hub.limits import Limits
    from schema import build_schema

    executor = Executor(build_schema(), 0, Limits.from_settings(settings), production=False)
    prepared = executor.prepare(document)
    problems = [f"{e['extensions']['code']}: {e['message']}" for e in prepared.errors]
    for operation in prepared.document.definitions if prepared.document else ():
        name = getattr(getattr(operation, "name", None), "value", None)
        refusal = prepared.cost_refusal(name, None)
        if refusal is not None:
            problems.append(f"{refusal['extensions']['code']}: {refusal['message']}")
    return problems


@operations_app.command()
def add(
    client: ClientOption,
    files: Annotated[
        list[Path],
        typer.Argument(help="GraphQL documents, one per file.", exists=True, dir_okay=False),
    ],
    database_url: DatabaseOption = None,
) -> None:
    """Register documents for an app; prints each one's hash (what the app sends)."""
    from hub.operations import RegistrationError
    from hub.operations import add as register
    from store.engine import create_engine

    settings = _settings(database_url)
    documents = {path: path.read_text(encoding="utf-8") for path in files}
    for path, document in documents.items():
        problems = _problems(settings, document)
        if problems:
            console.print(f"[red]{path}: the hub would refuse it:[/red] " + "; ".join(problems))
            raise typer.Exit(FAILED)

    async def run() -> None:
        engine = create_engine(settings)
        try:
            for path, document in documents.items():
                registered = await register(engine, client, document, _who())
                typer.echo(f"{registered.sha256}  {registered.name or '-'}  {path}")
        finally:
            await engine.dispose()

    try:
        asyncio.run(run())
    except RegistrationError as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(FAILED) from None


@operations_app.command("list")
def list_(
    client: Annotated[
        str | None, typer.Option("--client", help="Only this app's (default: every app's).")
    ] = None,
    database_url: DatabaseOption = None,
) -> None:
    """List registered documents: app, hash, operation names, when and by whom."""
    from hub.operations import listed
    from store.engine import create_engine

    async def run() -> None:
        engine = create_engine(_settings(database_url))
        try:
            for row in await listed(engine, client):
                when = row.created_at.isoformat(timespec="seconds")
                typer.echo(
                    f"{row.subject}  {row.sha256}  {row.name or '-'}  {when}  {row.created_by}"
                )
        finally:
            await engine.dispose()

    asyncio.run(run())


@operations_app.command()
def remove(
    client: ClientOption,
    sha256: Annotated[str, typer.Argument(help="The document's hash (as `list` prints it).")],
    database_url: DatabaseOption = None,
) -> None:
    """Remove a registered document: the app can no longer send it by hash (nor, when locked
    down, by its text), from its next request on."""
    from hub.operations import normalise_hash
    from hub.operations import remove as unregister
    from store.engine import create_engine

    sha = normalise_hash(sha256)
    if sha is None:
        console.print("[red]Not a SHA-256 hash (64 hex digits).[/red]")
        raise typer.Exit(FAILED)

    async def run() -> bool:
        engine = create_engine(_settings(database_url))
        try:
            return await unregister(engine, client, sha)
        finally:
            await engine.dispose()

    if not asyncio.run(run()):
        console.print(f"[red]{client} has no document {sha}.[/red]")
        raise typer.Exit(FAILED)
    console.print(f"Removed {sha} of {client}.")
