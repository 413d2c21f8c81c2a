"""``gridhub token``, ``gridhub principals``, ``gridhub person add|remove``, ``gridhub client
create|list|delete``, ``gridhub keys rotate``.

``token`` prints the token alone on stdout, so ``TOKEN=$(gridhub token --subject S)`` works;
everything meant for a person goes to stderr.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypedDict, TypeVar

import typer
from rich.console import Console

from cli.options import DatabaseOption
from hub.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from auth.clients import NewClient
    from policies.store import PolicyStore

T = TypeVar("T")

console = Console(stderr=True)
client_app = typer.Typer(help="OAuth clients: the department apps.", no_args_is_help=True)
keys_app = typer.Typer(help="The hub's token-signing keys.", no_args_is_help=True)
person_app = typer.Typer(
    help="Person principals: grid workers, staff, officers and auditors.", no_args_is_help=True
)

MAX_TTL = 30 * 86_400
_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")

KeyDirOption = Annotated[
    Path | None,
    typer.Option(
        "--key-dir",
        help="Directory of the signing keys (default: GRIDHUB_KEY_DIR, else ./var/keys).",
        show_default=False,
    ),
]


def parse_duration(text: str, maximum: int = MAX_TTL) -> int:
    """Seconds in ``3600``, ``90s``, ``30m``, ``8h``, ``1d`` or ``1h30m``, up to ``maximum``."""
    text = text.strip().lower()
    if text.isdigit():
        seconds = int(text)
    else:
        match = _DURATION.fullmatch(text)
        if not text or match is None:
            raise typer.BadParameter("give seconds, or a duration such as 90s, 30m, 8h, 1d, 1h30m")
        days, hours, minutes, secs = (int(part or 0) for part in match.groups())
        seconds = ((days * 24 + hours) * 60 + minutes) * 60 + secs
    if not 0 < seconds <= maximum:
        raise typer.BadParameter(f"between 1 second and {maximum // 86_400} days")
    return seconds


def _settings(**overrides: object) -> Settings:
    # Any: BaseSettings' __init__ takes private options (_env_file, ...) besides the fields, so
    # a dict of objects does not fit it; pydantic checks each value against its field.
    values: dict[str, Any] = {key: value for key, value in overrides.items() if value is not None}
    return Settings(**values)


async def _principal_kinds(settings: Settings) -> dict[str, str]:
    """Every principal's subject and kind, as the database holds them."""
    from sqlalchemy import select

    from store.engine import create_engine
    from store.models import Principal

    engine = create_engine(settings)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(select(Principal.subject, Principal.kind))
            return {subject: kind for subject, kind in rows}
    finally:
        await engine.dispose()


def _check_person(settings: Settings, subject: str) -> None:
    """Exit 2, saying what exists, unless ``subject`` is a person principal.

    The hub refuses a token whose principal is missing, or of another kind, with a bare 401;
    printing one would leave the caller guessing (a typo, an app's name) with nothing to go on.
    """
    from difflib import get_close_matches

    from sqlalchemy.exc import SQLAlchemyError

    try:
        kinds = asyncio.run(_principal_kinds(settings))
    except SQLAlchemyError:
        console.print(
            "[red]Cannot read the principals[/red]: run this in the hub's directory, or give "
            "--database-url or GRIDHUB_DATABASE_URL."
        )
        raise typer.Exit(1) from None
    kind = kinds.get(subject)
    if kind == "person":
        return
    if kind is not None:
        console.print(
            f"[red]{subject!r} is a {kind}, not a person[/red]: a department app gets its "
            "tokens at POST /oauth/token with its client id and secret."
        )
        raise typer.Exit(2)
    people = [name for name, found in kinds.items() if found == "person"]
    close = get_close_matches(subject, people, n=5, cutoff=0.6)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    console.print(
        f"[red]No person {subject!r}[/red] in the hub's principals.{hint} "
        "`gridhub principals` lists everyone."
    )
    raise typer.Exit(2)


def token(
    subject: Annotated[str, typer.Option(help="The person principal the token names.")],
    ttl: Annotated[
        str, typer.Option(help="Lifetime: seconds, or a duration such as 30m, 8h, 1d.")
    ] = "8h",
    key_dir: KeyDirOption = None,
    database_url: DatabaseOption = None,
) -> None:
    """Print a token for a person, signed by the hub's own key (for the demo and tests).

    The subject must be a person the hub knows (``gridhub principals``): any other token would
    be refused."""
    from auth.keys import SIGNING_FILE, HubKeys
    from auth.tokens import issue_token

    seconds = parse_duration(ttl)
    settings = _settings(key_dir=key_dir, database_url=database_url)
    if not (settings.key_dir / SIGNING_FILE).exists():
        # A new key would sign a token no running hub accepts: say where to run instead.
        console.print(
            f"[red]No signing key in {settings.key_dir}[/red]: run this in the hub's directory "
            "(after its first start), or give --key-dir or GRIDHUB_KEY_DIR."
        )
        raise typer.Exit(1)
    _check_person(settings, subject)
    keys = HubKeys.load_or_create(settings.key_dir)
    try:
        typer.echo(issue_token(keys, settings, subject, "person", ttl=seconds))
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--subject") from None


async def _create_client(
    settings: Settings, subject: str, department: str, name: str | None
) -> NewClient:
    from sqlalchemy.ext.asyncio import AsyncSession

    from auth.clients import create_client
    from store.engine import create_engine

    engine = create_engine(settings)
    try:
        async with AsyncSession(engine) as session, session.begin():
            return await create_client(
                session, subject=subject, department_code=department, name=name
            )
    finally:
        await engine.dispose()


@client_app.command("create")
def client_create(
    subject: Annotated[str, typer.Option(help="The principal the app acts as.")],
    department: Annotated[str, typer.Option(help="Code of the department that runs the app.")],
    name: Annotated[
        str | None, typer.Option(help="A readable name (default: the subject).")
    ] = None,
    database_url: DatabaseOption = None,
) -> None:
    """Register a department app and print its client id and secret (shown only this once)."""
    from auth.clients import ClientError

    settings = _settings(database_url=database_url)
    try:
        new = asyncio.run(_create_client(settings, subject, department, name))
    except ClientError as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(1) from None
    typer.echo(f"client_id: {new.client_id}")
    typer.echo(f"client_secret: {new.client_secret}")
    console.print("Store the secret now: the hub keeps only its hash and can not show it again.")


async def _on_clients(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run ``work`` in one transaction on the database's clients."""
    from sqlalchemy.ext.asyncio import AsyncSession

    from store.engine import create_engine

    engine = create_engine(settings)
    try:
        async with AsyncSession(engine) as session, session.begin():
            return await work(session)
    finally:
        await engine.dispose()


@client_app.command("list")
def client_list(
    as_json: Annotated[
        bool, typer.Option("--json", help="Print a JSON list (for scripts) instead of a table.")
    ] = False,
    database_url: DatabaseOption = None,
) -> None:
    """List the department apps' clients: subject, client id, created (never a secret)."""
    import orjson
    from rich.table import Table

    from auth.clients import list_clients

    found = asyncio.run(_on_clients(_settings(database_url=database_url), list_clients))
    if as_json:
        rows = [
            {"subject": c.subject, "client_id": c.client_id, "created": c.created_at.isoformat()}
            for c in found
        ]
        typer.echo(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode())
        return
    table = Table("subject", "client id", "created")
    for c in found:
        table.add_row(c.subject, c.client_id, c.created_at.isoformat(timespec="seconds"))
    Console(width=200).print(table)


@client_app.command("delete")
def client_delete(
    client_id: Annotated[str, typer.Argument(help="The client id (`gridhub client list`).")],
    database_url: DatabaseOption = None,
) -> None:
    """Delete a client: its id and secret get no token from then on. The app's principal,
    roles and grants stay, for its other clients."""
    from auth.clients import ClientError, delete_client

    settings = _settings(database_url=database_url)
    try:
        subject = asyncio.run(
            _on_clients(settings, lambda session: delete_client(session, client_id))
        )
    except ClientError as error:
        console.print(f"[red]{error}[/red]: `gridhub client list` shows the clients.")
        raise typer.Exit(1) from None
    console.print(f"Deleted client {client_id} of {subject}")


@keys_app.command("rotate")
def keys_rotate(
    key_dir: KeyDirOption = None,
    keep_retired: Annotated[
        str | None,
        typer.Option(
            help="Drop retired keys older than this (e.g. 30d); keep it above the longest "
            "token lifetime. Default: keep them all.",
        ),
    ] = None,
) -> None:
    """Make a new signing key; the old public key stays in the JWKS. Prints the new kid."""
    from auth.keys import rotate

    keep = None
    if keep_retired is not None:
        keep = timedelta(seconds=parse_duration(keep_retired, maximum=3650 * 86_400))
    settings = _settings(key_dir=key_dir)
    typer.echo(rotate(settings.key_dir, keep_retired=keep))
    console.print("Running hub processes pick up the new key on their own.")


class PrincipalListing(TypedDict):
    """One principal as ``gridhub principals`` lists it."""

    subject: str
    kind: str
    name: str
    department: str | None
    roles: list[str]
    areas: list[str]


async def _principals(settings: Settings) -> list[PrincipalListing]:
    from sqlalchemy import select

    from policies.store import PolicyStore
    from store.engine import create_engine
    from store.models import Principal, PrincipalGrid

    engine = create_engine(settings)
    try:
        store = PolicyStore(engine)
        await store.refresh()
        async with engine.connect() as connection:
            rows = (await connection.execute(select(Principal).order_by(Principal.subject))).all()
            areas: dict[str, list[str]] = {}
            for subject, code in await connection.execute(
                select(PrincipalGrid.subject, PrincipalGrid.grid_code).order_by(
                    PrincipalGrid.subject, PrincipalGrid.grid_code
                )
            ):
                areas.setdefault(subject, []).append(code)
        return [
            PrincipalListing(
                subject=row.subject,
                kind=row.kind,
                name=row.name,
                department=row.department_code,
                roles=list(await store.roles_of(row.subject, row.department_code)),
                areas=areas.get(row.subject, []),
            )
            for row in rows
        ]
    finally:
        await engine.dispose()


def principals(
    as_json: Annotated[
        bool, typer.Option("--json", help="Print a JSON list (for scripts) instead of a table.")
    ] = False,
    database_url: DatabaseOption = None,
) -> None:
    """List the principals: subject, kind, department, roles (inherited ones too) and areas."""
    import orjson
    from rich.table import Table

    found = asyncio.run(_principals(_settings(database_url=database_url)))
    if as_json:
        typer.echo(orjson.dumps(found, option=orjson.OPT_INDENT_2).decode())
        return
    table = Table("subject", "kind", "department", "roles", "areas", "name")
    for p in found:
        table.add_row(
            p["subject"],
            p["kind"],
            p["department"] or "",
            ", ".join(p["roles"]),
            ", ".join(p["areas"]),
            p["name"],
        )
    # Never cut a subject, role or area to the terminal's width (or to 80 columns when the
    # output is a pipe): an operator copies subjects from this table into other commands.
    for column in table.columns:
        column.no_wrap = True
        column.overflow = "ignore"
    Console(width=10_000).print(table, crop=False)


def _on_people(database_url: str | None, work: Callable[[PolicyStore], Awaitable[T]]) -> T:
    """Run ``work`` on the database's policy store; a refusal is printed, exit code 1."""
    from policies.people import PersonError
    from policies.store import PolicyStore
    from store.engine import create_engine

    async def run() -> T:
        engine = create_engine(_settings(database_url=database_url))
        try:
            return await work(PolicyStore(engine))
        finally:
            await engine.dispose()

    try:
        return asyncio.run(run())
    except PersonError as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(1) from None


@person_app.command("add")
def person_add(
    subject: Annotated[str, typer.Argument(help="The subject the person's tokens name.")],
    department: Annotated[
        str, typer.Option("--department", "-d", help="Code of the department they act for.")
    ],
    area: Annotated[
        list[str] | None,
        typer.Option(
            "--area",
            "-a",
            help="An area (grid, community or street code) that `own` stands for; repeat for "
            "more. The areas given replace the person's earlier ones.",
        ),
    ] = None,
    role: Annotated[
        list[str] | None,
        typer.Option("--role", "-r", help="A role to give in the department; repeat for more."),
    ] = None,
    name: Annotated[str | None, typer.Option(help="A readable name.")] = None,
    database_url: DatabaseOption = None,
) -> None:
    """Add a person, or update one: department, name and areas replaced, roles added.

    \b
    gridhub person add worker-0142 -d grid_office -a 440306001001002 -r grid_worker --name 李娜
    """
    from policies.people import Person, save_person

    person = Person(subject, department, name, tuple(area or ()), tuple(role or ()))
    created = _on_people(database_url, lambda store: save_person(store, person))
    areas = ", ".join(person.areas) or "no area"
    console.print(f"{'Added' if created else 'Updated'} {subject}: {department}, {areas}")


@person_app.command("remove")
def person_remove(
    subject: Annotated[str, typer.Argument(help="The person's subject.")],
    database_url: DatabaseOption = None,
) -> None:
    """Remove a person with their areas and roles: their tokens are refused from then on.
    Their past accesses stay in the audit log."""
    from policies.people import remove_person

    if not _on_people(database_url, lambda store: remove_person(store, subject)):
        console.print(f"[yellow]No person {subject!r}[/yellow]")
        raise typer.Exit(1)
    console.print(f"Removed {subject}")


def register(app: typer.Typer) -> None:
    """Add the identity commands to the ``gridhub`` command."""
    app.command("token")(token)
    app.command("principals")(principals)
    app.add_typer(person_app, name="person")
    app.add_typer(client_app, name="client")
    app.add_typer(keys_app, name="keys")
