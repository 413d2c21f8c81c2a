"""The ``gridhub`` command: run the demo, migrate, seed, serve, print the schema."""

from __future__ import annotations

import asyncio
import functools
import os
import shutil
import tempfile
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from cli.address import address_app
from cli.audit import audit_app
from cli.auth import register as register_auth_commands
from cli.catalog import catalog_app
from cli.feeds import ingest
from cli.operations import operations_app
from cli.options import DatabaseOption
from cli.policy import policy_app
from cli.tasks import tasks_app
from hub.settings import Settings

app = typer.Typer(
    help="gridhub: the shared-data hub of a city district, served through one GraphQL API.",
    no_args_is_help=True,
    add_completion=False,
)
db_app = typer.Typer(help="Database schema migrations.", no_args_is_help=True)
app.add_typer(db_app, name="db")
register_auth_commands(app)
app.add_typer(policy_app, name="policy")
app.add_typer(audit_app, name="audit")
app.add_typer(address_app, name="address")
app.add_typer(catalog_app, name="catalog")
app.add_typer(operations_app, name="operations")
app.command("ingest")(ingest)
app.add_typer(tasks_app, name="tasks")
console = Console(stderr=True)


def _version(shown: bool) -> None:
    """``--version``: the installed gridhub's version, then exit."""
    if shown:
        from importlib.metadata import version

        typer.echo(f"gridhub {version('gridhub')}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_version,
            is_eager=True,
            help="Print gridhub's version and exit.",
        ),
    ] = False,
) -> None:
    """gridhub: the shared-data hub of a city district, served through one GraphQL API."""


SeedOption = Annotated[
    int, typer.Option(help="Random seed: the same seed gives the same district.")
]
HostOption = Annotated[str | None, typer.Option(help="Address to listen on (default 127.0.0.1).")]
PortOption = Annotated[int | None, typer.Option(help="Port to listen on (default 8000).")]


def _settings(database_url: str | None = None, **overrides: object) -> Settings:
    # Any: BaseSettings' __init__ takes private options (_env_file, ...) besides the fields, so
    # a dict of objects does not fit it; pydantic checks each value against its field.
    values: dict[str, Any] = {key: value for key, value in overrides.items() if value is not None}
    if database_url is not None:
        values["database_url"] = database_url
    return Settings(**values)


@db_app.command("upgrade")
def db_upgrade(database_url: DatabaseOption = None) -> None:
    """Create the tables, or migrate them to the newest schema."""
    from store.engine import upgrade

    settings = _settings(database_url)
    before, after = upgrade(settings.database_url)
    where = _safe_url(settings.database_url)
    if before is None:
        console.print(f"[green]Created the tables[/green] (schema {after}) in {where}")
    elif before != after:
        console.print(f"[green]Migrated the tables[/green] from schema {before} to {after}")
        console.print(f"({where})")
    else:
        console.print(f"[green]Database is up to date[/green] (schema {after}, {where})")


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


async def _seed(
    settings: Settings,
    seed: int,
    people: int | None,
    as_of: date,
    profile_name: str = "demo",
    workers: int | None = None,
) -> bool:
    """Seed the database; False when it already holds a district.

    Districts from :data:`demo.profiles.STREAMED_FROM_PEOPLE` people on are generated streamed
    in worker processes and loaded in bulk (``COPY`` on PostgreSQL); smaller ones in memory.
    """
    from catalog.sync import sync_packaged
    from demo import DistrictNotEmptyError, Profile, generate, is_empty, load
    from demo.grants import seed_grants
    from demo.principals import demo_principals, save_clients, seed_principals
    from demo.profiles import is_streamed, profile_named
    from demo.tasks import seed_tasks
    from demo.views import seed_views
    from store.engine import create_engine

    engine = create_engine(settings)
    try:
        if not await is_empty(engine):
            return False
        profile = profile_named(profile_name) if people is None else Profile.for_people(people)
        with Progress(
            TextColumn("[bold]{task.description:<10}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            tasks: dict[str, TaskID] = {}

            def report(table: str, done: int, total: int | None) -> None:
                if table not in tasks:
                    tasks[table] = progress.add_task(table, total=total)
                progress.update(tasks[table], completed=done)

            try:
                if is_streamed(profile):
                    from demo.bulk import seed_streamed

                    grids = await seed_streamed(engine, seed, profile, as_of, workers, report)
                else:
                    task = progress.add_task("generating", total=None)
                    district = await asyncio.to_thread(generate, seed, profile, as_of)
                    progress.update(task, total=1, completed=1)
                    await load(engine, district, report)
                    grids = district.grids
            except DistrictNotEmptyError:
                return False
            else:
                gathered = None if is_streamed(profile) else district
            task = progress.add_task("principals", total=1)
            clients = await seed_principals(engine, demo_principals(grids, seed))
            save_clients(demo_clients_path(settings), clients)
            progress.update(task, completed=1)
            task = progress.add_task("catalogue", total=1)
            await sync_packaged(engine, by=SYNCED_BY)
            progress.update(task, completed=1)
            task = progress.add_task("grants", total=1)
            await seed_grants(engine, datetime.now(UTC), settings.grant_max_days)
            progress.update(task, completed=1)
            task = progress.add_task("views", total=1)
            await seed_views(engine, datetime.now(UTC))
            progress.update(task, completed=1)
            if gathered is not None:
                await _gather(settings, engine, gathered, seed, as_of, progress)
            task = progress.add_task("tasks", total=1)
            await seed_tasks(engine, datetime.now(UTC), settings.issuer)
            progress.update(task, completed=1)
        return True
    finally:
        await engine.dispose()


async def _gather(
    settings: Settings,
    engine: Any,
    district: Any,
    seed: int,
    as_of: date,
    progress: Progress,
) -> None:
    """Run the departments' demo exports through their feeds (kept in ``var/demo-feeds``)."""
    from addresses.base import load_matcher
    from demo.feeds import exports, gather

    async with engine.connect() as connection:
        matcher = await load_matcher(connection, settings.address_match_threshold)
    files = exports(district, seed, as_of, demo_feeds_path(settings))
    task = progress.add_task("feeds", total=len(files))
    done = 0

    def ran(export: Any, report: Any) -> None:
        nonlocal done
        done += 1
        progress.update(task, completed=done)

    await gather(engine, files, matcher, ran)


def demo_feeds_path(settings: Settings) -> Path:
    """Where the demo's department exports are written: beside the key folder."""
    return settings.key_dir.parent / "demo-feeds"


#: Who the demo's catalogue versions are recorded as made by.
SYNCED_BY = "demo seed"


async def _sync_catalogue(settings: Settings) -> None:
    """Bring a demo database made by an older gridhub up to the shipped catalogue files (no new
    version for a resource that has not changed) and add the demo views it lacks."""
    from catalog.sync import sync_packaged
    from demo.views import seed_views
    from store.engine import create_engine
    from store.errors import GridhubError

    engine = create_engine(settings)
    try:
        await sync_packaged(engine, by=SYNCED_BY)
        try:
            await seed_views(engine, datetime.now(UTC))
        except GridhubError as error:  # not the demo's principals: serve it without them
            console.print(f"[yellow]The demo views were not added:[/yellow] {error}")
    finally:
        await engine.dispose()


def demo_clients_path(settings: Settings) -> Path:
    """Where the demo apps' client credentials are kept: beside the key folder."""
    return settings.key_dir.parent / "demo-clients.json"


def _today(settings: Settings) -> date:
    return datetime.now(ZoneInfo(settings.timezone)).date()


@app.command()
def seed(
    database_url: DatabaseOption = None,
    seed: SeedOption = 20260101,
    people: Annotated[
        int | None,
        typer.Option(help="Generate this many people (and houses, entities, events to match)."),
    ] = None,
    profile: Annotated[
        str,
        typer.Option(
            help="A named size: small, demo or baoan (4.9 million people; see docs/scaling.md)."
        ),
    ] = "demo",
    workers: Annotated[
        int | None,
        typer.Option(
            min=0,
            help="Processes generating a large district (default: one per core; 0: none).",
        ),
    ] = None,
    as_of: Annotated[
        datetime | None,
        typer.Option(
            formats=["%Y-%m-%d"], help="The day the data is as of (default today in the district)."
        ),
    ] = None,
) -> None:
    """Fill an empty database with a generated demo district (--profile, or --people), its
    principals and rules, the catalogue, the apps' grants and the demo map views."""
    from demo.profiles import PROFILES

    if profile not in PROFILES:
        console.print(f"[red]No profile {profile!r}; the profiles are {', '.join(PROFILES)}.[/red]")
        raise typer.Exit(2)
    if people is not None and profile != "demo":
        console.print("[red]Give --profile or --people, not both.[/red]")
        raise typer.Exit(2)
    settings = _settings(database_url)
    day = as_of.date() if as_of else _today(settings)
    if not asyncio.run(_seed(settings, seed, people, day, profile, workers)):
        console.print("[red]The database already holds a district; seed only an empty one.[/red]")
        raise typer.Exit(1)
    console.print("[green]Seeded.[/green]")
    console.print(_secrets_note(settings), soft_wrap=True, highlight=False)


def _secrets_note(settings: Settings) -> str:
    """Where the demo apps' client ids and secrets went: the database keeps only hashes."""
    path = demo_clients_path(settings).resolve()
    return (
        f"The demo apps' client ids and secrets are in {path} (readable by you only; the "
        "database keeps only their hashes). `gridhub demo` prints each app's token command; "
        "`gridhub client create` makes a new secret."
    )


def _serve(settings: Settings) -> None:
    """Serve until SIGTERM or SIGINT, then stop gracefully: no new connections, requests in
    flight finish (up to ``shutdown_timeout`` seconds) and their entries commit, then each
    process's audit writer writes what is queued and seals its chain (the app's lifespan).

    With ``workers`` > 1, uvicorn's supervisor (:mod:`hub.workers`) runs that many processes on
    one socket; each builds its app from the environment
    (``hub.app:create_app_from_environment``), so the command line's settings are put there
    first, and the Prometheus figures of all of them are kept in a fresh folder
    (``PROMETHEUS_MULTIPROC_DIR``) that ``/metrics`` sums up. Every connection is bounded
    (:mod:`hub.http_protocol`).
    """
    import uvicorn

    from hub.http_protocol import BoundedHttpProtocol, HttpLimits

    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_level": "info",
        # forwarded headers are the app's to believe, from GRIDHUB_TRUSTED_PROXIES only
        # (hub.app.proxies); uvicorn's own default believes any client on the loopback
        "proxy_headers": False,
        # The connection's bounds: head size, head and body deadlines (hub.http_protocol).
        "http": functools.partial(BoundedHttpProtocol, limits=HttpLimits.from_settings(settings)),
        # uvicorn annotates this int but hands it to asyncio.timeout, which takes any seconds.
        "timeout_graceful_shutdown": settings.shutdown_timeout,
    }
    if settings.workers == 1:
        from hub.app import create_app

        uvicorn.run(create_app(settings), **options)
        return
    from hub.workers import run_workers

    for name in ("database_url", "host", "port", "workers"):
        os.environ[f"GRIDHUB_{name.upper()}"] = str(getattr(settings, name))
    metrics_dir = _fresh_metrics_dir()
    try:
        config = uvicorn.Config(
            "hub.app:create_app_from_environment",
            factory=True,
            workers=settings.workers,
            **options,
        )
        run_workers(config)
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def _fresh_metrics_dir() -> Path | None:
    """The workers' shared Prometheus folder: the operator's (``PROMETHEUS_MULTIPROC_DIR``,
    emptied of an earlier run's files) or a new temporary one (returned, to remove at exit)."""
    from hub.metrics import MULTIPROC_DIR

    given = os.environ.get(MULTIPROC_DIR)
    if given:
        folder = Path(given)
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.db"):
            stale.unlink()
        return None
    made = Path(tempfile.mkdtemp(prefix="gridhub-metrics-"))
    os.environ[MULTIPROC_DIR] = str(made)
    return made


WorkersOption = Annotated[
    int | None,
    typer.Option(help="Worker processes (default GRIDHUB_WORKERS, else 1).", min=1, max=64),
]


@app.command()
def serve(
    database_url: DatabaseOption = None,
    host: HostOption = None,
    port: PortOption = None,
    workers: WorkersOption = None,
) -> None:
    """Serve the GraphQL API (POST /graphql; GraphiQL on GET /graphql); stop with SIGTERM."""
    _serve(_settings(database_url, host=host, port=port, workers=workers))


EXAMPLE_QUERY = """{ grid(code: "440306001001001") { name houses(first: 3) {
    edges { node { address residents { edges { node { name } } } } } } } }"""

#: The roles the demo's who-is-who table shows one principal of, in this order.
SHOWN_ROLES = (
    "grid_worker",
    "community_staff",
    "street_staff",
    "housing_app",
    "civil_affairs_app",
    "public_security_app",
    "emergency_app",
    "data_officer",
    "chief_data_officer",
    "auditor",
)


def who_is_who(settings: Settings, base_url: str) -> list[str]:
    """One principal per kind of user, and the command that gets each one's token: lines
    printed unwrapped, so a command can be copied whole from any terminal."""
    from cli.auth import _principals
    from demo.principals import read_clients

    found = asyncio.run(_principals(settings))
    clients = read_clients(demo_clients_path(settings))
    lines = ["[bold]Who is who in the demo[/bold] (every principal: gridhub principals)"]
    for role in SHOWN_ROLES:
        principal = next((p for p in found if p["roles"] and p["roles"][0] == role), None)
        if principal is None:
            continue
        subject = str(principal["subject"])
        if principal["kind"] == "client":
            credentials = clients.get(subject)
            command = (
                f"curl -s -u {credentials['client_id']}:{credentials['client_secret']} "
                f"-d grant_type=client_credentials {base_url}/oauth/token"
                if credentials
                else f"gridhub client create --subject {subject} --department "
                f"{principal['department']}"
            )
        else:
            command = f"gridhub token --subject {subject}"
        areas = ", ".join(principal["areas"]) or "no area"
        lines.append(f"  [cyan]{role}[/cyan] {principal['name']} · {subject} · {areas}")
        lines.append(f"      {command}")
    return lines


@app.command()
def demo(
    database_url: DatabaseOption = None,
    host: HostOption = None,
    port: PortOption = None,
    seed: SeedOption = 20260101,
) -> None:
    """Create and migrate the database, seed the demo district if it is empty (else sync its
    catalogue with the shipped files), and serve it."""
    from store.engine import upgrade

    settings = _settings(database_url, host=host, port=port, mode="development")
    upgrade(settings.database_url)
    if asyncio.run(_seed(settings, seed, None, _today(settings))):
        console.print("[green]Seeded the demo district.[/green]")
        console.print(_secrets_note(settings), soft_wrap=True, highlight=False)
    else:
        asyncio.run(_sync_catalogue(settings))
        console.print("The database already holds a district; serving it as it is.")
    base_url = f"http://{settings.host}:{settings.port}"
    for line in who_is_who(settings, base_url):
        console.print(line, soft_wrap=True, highlight=False)
    console.print(f"[bold]Open GraphiQL:[/bold] {base_url}/graphql")
    console.print(
        "Get a token (e.g. [bold]TOKEN=$(gridhub token --subject worker-440306001001001)[/bold]),"
        ' then add the header {"Authorization": "Bearer <token>"} in GraphiQL\'s Headers tab.'
    )
    console.print(f"Try:  {EXAMPLE_QUERY}\n")
    _serve(settings)


@app.command()
def schema() -> None:
    """Print the GraphQL schema (SDL)."""
    from schema import build_schema

    typer.echo(build_schema().as_str())
