"""``gridhub policy``: edit and inspect the access policy (roles, rules, single decisions).

Every change is one transaction that also bumps the policy version, so running hubs pick it up
on their next request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from cli.options import DatabaseOption
from hub.settings import Settings

if TYPE_CHECKING:
    from policies.store import PolicyStore

T = TypeVar("T")

RULE_LANGUAGE = """
A rule gives a SUBJECT (a role, or a principal's subject) in a DOMAIN (a department code, or * \
for every department) an act on FIELDS of a RESOURCE in an AREA.

\b
RESOURCE  grids houses rooms people entities events matters departments *
FIELDS    tier:N    every field of tier N or below (1 public, 2 internal,
                    3 sensitive, 4 core)
          a|b       field names: idNumber|phone, Person.idNumber
          *         every field
AREA      440306…   an area code at any level: district, street (9 digits),
                    community (12), grid (15)
          own       the principal's assigned areas
          *         everywhere
ACT       read      the value
          mask      its masked form (440306********1234, 138****5678, 张*)
          deny      overrides every read and mask; fields * removes the rows

A read rule serves fields of tier 3 and above only for a purpose it names (the X-Access-Purpose \
header); --purpose '*' accepts any declared purpose.
"""

app = typer.Typer(
    help="The access policy: roles, rules and single decisions.\n" + RULE_LANGUAGE,
    no_args_is_help=True,
    add_completion=False,
)
policy_app = app

DomainOption = Annotated[
    str, typer.Option("--domain", "-d", help="A department code, or * for every department.")
]
Subject = Annotated[str, typer.Argument(help="A role name or a principal's subject.")]
Resource = Annotated[str, typer.Argument(help="grids, houses, rooms, people, … or *.")]
Fields = Annotated[str, typer.Argument(help="tier:N, names joined by | (idNumber|phone), or *.")]
Area = Annotated[str, typer.Argument(help="An area code, own, or *.")]


def _run(database_url: str | None, work: Callable[[PolicyStore], Awaitable[T]]) -> T:
    """Open the database and the policy store, run ``work(store)``, close everything."""
    from policies.rules import PolicyError
    from policies.store import PolicyStore
    from store.engine import create_engine

    settings = Settings() if database_url is None else Settings(database_url=database_url)

    async def main() -> T:
        engine = create_engine(settings)
        try:
            store = PolicyStore(engine)
            await store.refresh()
            return await work(store)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(main())
    except PolicyError as error:
        typer.secho(f"error: {error}", err=True, fg=typer.colors.RED)
        raise typer.Exit(2) from None


def _changed(changed: bool, what: str) -> None:
    typer.echo(what if changed else f"{what} (no change: it was already so)")


@app.command("add-role")
def add_role(
    role: Annotated[str, typer.Argument(help="The role that inherits.")],
    parent: Annotated[str, typer.Argument(help="The role whose rules it inherits.")],
    domain: DomainOption = "*",
    database_url: DatabaseOption = None,
) -> None:
    """Let ROLE inherit every rule of PARENT.

    \b
    gridhub policy add-role street_staff community_staff
    """
    changed = _run(database_url, lambda store: store.add_role_parent(role, parent, domain))
    _changed(changed, f"{role} inherits {parent} in {domain}")


@app.command()
def assign(
    subject: Subject,
    role: Annotated[str, typer.Argument(help="The role to give.")],
    domain: DomainOption = "*",
    database_url: DatabaseOption = None,
) -> None:
    """Give SUBJECT a role in a department.

    \b
    gridhub policy assign alice grid_worker -d grid_office
    """
    changed = _run(database_url, lambda store: store.assign(subject, role, domain))
    _changed(changed, f"{subject} has {role} in {domain}")


@app.command()
def unassign(
    subject: Subject,
    role: Annotated[str, typer.Argument(help="The role (or parent role) to take away.")],
    domain: DomainOption = "*",
    database_url: DatabaseOption = None,
) -> None:
    """Take a role away from SUBJECT (or a parent role away from a role)."""
    changed = _run(database_url, lambda store: store.unassign(subject, role, domain))
    _changed(changed, f"{subject} no longer has {role} in {domain}")


@app.command(epilog=RULE_LANGUAGE)
def grant(
    subject: Subject,
    resource: Resource,
    fields: Fields,
    area: Area,
    domain: DomainOption = "*",
    mask: Annotated[
        bool, typer.Option("--mask", help="Show the masked form only (act mask, not read).")
    ] = False,
    write: Annotated[
        bool,
        typer.Option(
            "--write",
            help="Let the subject write the fields where it also reads them (act write).",
        ),
    ] = False,
    purpose: Annotated[
        list[str] | None,
        typer.Option(
            "--purpose",
            "-p",
            help="A purpose the rule serves tier 3+ fields for (repeat; default *: any).",
        ),
    ] = None,
    database_url: DatabaseOption = None,
) -> None:
    """Store a read (or --mask, or --write) rule.

    \b
    gridhub policy grant grid_worker people tier:2 own
    gridhub policy grant grid_worker people 'idNumber|phone' own --mask
    gridhub policy grant grid_worker houses tier:2 own --write
    gridhub policy grant civil_affairs_app people tier:3 '*' -p elderly_care
    """
    from policies.rules import Act

    if mask and write:
        typer.echo("error: give --mask or --write, not both", err=True)
        raise typer.Exit(2)
    act = Act.MASK if mask else Act.WRITE if write else Act.READ
    rule = _run(
        database_url,
        lambda store: store.grant(
            subject, domain, resource, fields, area, act=act, purposes=purpose or ("*",)
        ),
    )
    typer.echo(f"granted: {rule}")


@app.command(epilog=RULE_LANGUAGE)
def deny(
    subject: Subject,
    resource: Resource,
    fields: Fields,
    area: Area,
    domain: DomainOption = "*",
    database_url: DatabaseOption = None,
) -> None:
    """Store a deny rule, which overrides any read or mask of those fields there.

    \b
    gridhub policy deny grid_worker people careTags 440306001
    gridhub policy deny night_shift '*' '*' 440306001003   (the rows disappear)
    """
    rule = _run(database_url, lambda store: store.deny(subject, domain, resource, fields, area))
    typer.echo(f"denied: {rule}")


@app.command(epilog=RULE_LANGUAGE)
def revoke(
    subject: Subject,
    resource: Resource,
    fields: Fields,
    area: Area,
    act: Annotated[str, typer.Option("--act", help="read, mask or deny.")] = "read",
    domain: DomainOption = "*",
    database_url: DatabaseOption = None,
) -> None:
    """Remove a rule (a read rule with its purposes): the same words it was stored with."""
    changed = _run(
        database_url, lambda store: store.revoke(subject, domain, resource, fields, area, act)
    )
    if not changed:
        typer.secho("no such rule", err=True, fg=typer.colors.YELLOW)
        raise typer.Exit(1)
    typer.echo("revoked")


@app.command("list")
def list_policy(
    subject: Annotated[
        str | None, typer.Option("--subject", "-s", help="Only this role or subject's rules.")
    ] = None,
    database_url: DatabaseOption = None,
) -> None:
    """Print every role link and rule (subject domain resource fields area act purposes)."""

    async def work(store: PolicyStore) -> Policy:
        return store.list()

    from policies.store import Policy

    policy = _run(database_url, work)
    for link in policy.links:
        if subject in (None, link.member, link.role):
            typer.echo(f"role  {link}")
    for rule in sorted(policy.rules, key=str):
        if subject in (None, rule.subject):
            typer.echo(f"rule  {rule}")


@app.command()
def explain(
    subject: Subject,
    field: Annotated[str, typer.Argument(help="Type.field, as in the schema: Person.idNumber.")],
    grid_code: Annotated[
        str | None, typer.Argument(help="The row's grid code (leave out for matters etc.).")
    ] = None,
    purpose: Annotated[
        str | None, typer.Option("--purpose", "-p", help="The declared purpose (X-Access-Purpose).")
    ] = None,
    database_url: DatabaseOption = None,
) -> None:
    """Decide one field of one row for SUBJECT, and show the rules that decided it.

    \b
    gridhub policy explain alice Person.idNumber 440306001003012
    gridhub policy explain civil-app Person.careTags 440306001003012 -p elderly_care
    """
    from policies.principal import Principal, load_principal
    from policies.store import Explanation
    from store.models import LEVEL_OF_LENGTH

    type_name, _, field_name = field.partition(".")
    if grid_code is not None and not (grid_code.isdigit() and len(grid_code) in LEVEL_OF_LENGTH):
        raise typer.BadParameter("give the row's grid code, or leave it out", param_hint="GRID")

    async def work(store: PolicyStore) -> tuple[Principal, Explanation]:
        async with store.engine.connect() as connection:
            principal = await load_principal(connection, subject)
        if principal is None:
            typer.secho(f"{subject} is not a known principal: rules only", err=True)
            principal = Principal(subject)
        return principal, await store.explain(principal, type_name, field_name, grid_code, purpose)

    principal, found = _run(database_url, work)
    roles = ", ".join(sorted(found.roles)) or "-"
    typer.echo(
        f"{principal.subject} ({principal.kind}, department {principal.department or '-'}, "
        f"own areas {', '.join(principal.areas) or '-'}; roles {roles})"
    )
    typer.echo(f"{field} in {grid_code or '(no place)'}: {found.decision.upper()}")
    for rule in found.rules:
        typer.echo(f"  by  {rule}")
    if not found.rules:
        typer.echo("  no rule matched: deny by default")


@app.command("seed-defaults")
def seed_defaults(database_url: DatabaseOption = None) -> None:
    """Store the demo roles and rules (grid workers, street staff …; the apps get theirs from
    grants); again: no change."""
    from policies.defaults import load_defaults

    _run(database_url, load_defaults)
    typer.echo("default roles and rules stored")
