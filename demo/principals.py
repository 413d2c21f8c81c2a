"""The demo district's people and apps: who may ask the hub, in which role, for which area.

Made from the district's areas, so every grid has its worker, every community and street its
staff, and each department app, data officer, the chief data officer and the auditor exist once.
Subjects are readable and stable (``worker-440306001001001``, ``housing-app``), so docs, tests and
the demo table can name them.

Department apps are OAuth clients: their client ids and secrets are made here and handed back
once (the hub keeps only a hash), for the caller to show or keep.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from faker import Faker
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from auth.clients import NewClient, create_client
from policies.defaults import APP_ROLE_OF_DEPARTMENT, load_defaults
from policies.store import PolicyStore
from store.models import Principal, PrincipalGrid, PrincipalKind

#: Where grid workers, community and street staff belong: the district's grid office.
GRID_OFFICE = "grid_office"
#: The chief data officer and the auditor sit in the data bureau.
DATA_BUREAU = "data_bureau"
#: The departments with a data officer: those with an app (they ask for access), and the other
#: owners of catalogue resources the apps' grants are on (they review the requests).
OFFICER_DEPARTMENTS: tuple[str, ...] = (*APP_ROLE_OF_DEPARTMENT, GRID_OFFICE, "market_regulation")


@dataclass(frozen=True, slots=True)
class DemoPrincipal:
    """One seeded principal: who, of which kind and department, in which roles and areas."""

    subject: str
    kind: str
    name: str
    department: str
    roles: tuple[str, ...]
    areas: tuple[str, ...]
    title: str


def _app_subject(department: str) -> str:
    return department.replace("_", "-") + "-app"


def demo_principals(grids: Iterable[Mapping[str, object]], seed: int = 0) -> list[DemoPrincipal]:
    """Every principal of the demo, from the district's area rows (``code``, ``level``,
    ``name``); the same areas and seed give the same people."""
    faker = Faker("zh_CN")
    faker.seed_instance(seed)
    people: list[DemoPrincipal] = []
    staff = {"street": "street_staff", "community": "community_staff", "grid": "grid_worker"}
    titles = {"street": "街道网格中心", "community": "社区工作站", "grid": "网格员"}
    prefixes = {"street": "street", "community": "community", "grid": "worker"}
    for area in sorted(grids, key=lambda row: str(row["code"])):
        level = str(area["level"])
        if level not in staff:
            continue
        code = str(area["code"])
        people.append(
            DemoPrincipal(
                subject=f"{prefixes[level]}-{code}",
                kind=PrincipalKind.PERSON.value,
                name=faker.name(),
                department=GRID_OFFICE,
                roles=(staff[level],),
                areas=(code,),
                title=f"{titles[level]} · {area['name']}",
            )
        )
    for department, role in APP_ROLE_OF_DEPARTMENT.items():
        people.append(
            DemoPrincipal(
                subject=_app_subject(department),
                kind=PrincipalKind.CLIENT.value,
                name=f"{department} app",
                department=department,
                roles=(role,),
                areas=(),
                title=f"department app · {role}",
            )
        )
    for department in OFFICER_DEPARTMENTS:
        people.append(
            DemoPrincipal(
                subject=f"officer-{department.replace('_', '-')}",
                kind=PrincipalKind.PERSON.value,
                name=faker.name(),
                department=department,
                roles=("data_officer",),
                areas=(),
                title="数据专员 · department data officer",
            )
        )
    people.append(
        DemoPrincipal(
            "cdo", "person", faker.name(), DATA_BUREAU, ("chief_data_officer",), (), "首席数据官"
        )
    )
    people.append(
        DemoPrincipal("auditor-01", "person", faker.name(), DATA_BUREAU, ("auditor",), (), "审计员")
    )
    return people


async def seed_principals(
    engine: AsyncEngine, principals: Sequence[DemoPrincipal]
) -> dict[str, NewClient]:
    """Store the default roles and rules, the principals, their areas and roles, and a client
    for each app, in one transaction. Returns the new clients by subject."""
    store = PolicyStore(engine)
    clients: dict[str, NewClient] = {}
    async with store.transaction() as session:
        people = [p for p in principals if p.kind == PrincipalKind.PERSON.value]
        if people:
            await session.execute(
                insert(Principal),
                [
                    {
                        "subject": p.subject,
                        "kind": p.kind,
                        "name": p.name,
                        "department_code": p.department,
                    }
                    for p in people
                ],
            )
        for p in principals:
            if p.kind == PrincipalKind.CLIENT.value:
                clients[p.subject] = await create_client(
                    session, subject=p.subject, department_code=p.department, name=p.name
                )
        areas = [{"subject": p.subject, "grid_code": code} for p in principals for code in p.areas]
        if areas:
            await session.execute(insert(PrincipalGrid), areas)
        await load_defaults(store, session=session)
        for p in principals:
            for role in p.roles:
                await store.assign(p.subject, role, p.department, session=session)
    return clients


def save_clients(path: Path, clients: Mapping[str, NewClient]) -> None:
    """Keep the demo apps' credentials (owner-readable only), so ``gridhub demo`` can show how
    to get each app's token on every start; the database holds only the secrets' hashes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {
        subject: {"client_id": new.client_id, "client_secret": new.client_secret}
        for subject, new in clients.items()
    }
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        json.dump(body, file, indent=2)


def read_clients(path: Path) -> dict[str, dict[str, str]]:
    """The credentials :func:`save_clients` kept (empty if there are none)."""
    try:
        return dict(json.loads(path.read_text("utf-8")))
    except (OSError, ValueError):
        return {}
