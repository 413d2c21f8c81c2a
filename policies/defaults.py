"""The demo district's roles and rules, as data (loaded by the demo seeder, or ``gridhub policy
seed-defaults``).

Roles are defined in domain ``*`` (every department); a principal gets a role in its own
department's domain. Inheritance:

    street_staff → community_staff → grid_worker → reference_reader
    housing_app, emergency_app, public_security_app, civil_affairs_app → reference_reader

``reference_reader`` holds what everyone working with the hub may see: public grid data
(names, shapes) everywhere, and the matter list and departments. The data officers and the
auditor have no rule on shared data: they work with the catalogue and the audit log, which are
governed elsewhere. Purpose codes are what callers send in ``X-Access-Purpose``.

The department apps' roles hold no rule of their own: what an app sees comes from grants made
through the catalogue workflow and linked to its role (the demo's are in
:mod:`demo.grants`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from sqlalchemy.ext.asyncio import AsyncSession

from policies.rules import ANY, OWN, Act
from policies.store import PolicyStore


@dataclass(frozen=True, slots=True)
class RoleDef:
    name: str
    description: str
    parent: str | None = None


@dataclass(frozen=True, slots=True)
class RuleDef:
    role: str
    resource: str
    fields: str
    area: str
    act: Act = Act.READ
    purposes: tuple[str, ...] = (ANY,)


ROLES: tuple[RoleDef, ...] = (
    RoleDef("reference_reader", "public grid data, the matter list and departments"),
    RoleDef("grid_worker", "网格员: everything of their own grids", "reference_reader"),
    RoleDef("community_staff", "社区工作站: as a grid worker, for the community", "grid_worker"),
    RoleDef("street_staff", "街道网格中心: as community staff, for the street", "community_staff"),
    RoleDef("housing_app", "住建 app: receives the housing bureau's grants", "reference_reader"),
    RoleDef("civil_affairs_app", "民政 app: receives civil affairs' grants", "reference_reader"),
    RoleDef("public_security_app", "公安 app: public security's grants", "reference_reader"),
    RoleDef("emergency_app", "应急 app: emergency management's grants", "reference_reader"),
    RoleDef("data_officer", "数据专员: the catalogue only; no shared data"),
    RoleDef("chief_data_officer", "首席数据官: the catalogue and grants; no shared data"),
    RoleDef("auditor", "审计员: the audit log; no shared data"),
)

R, M, W = Act.READ, Act.MASK, Act.WRITE
ELDERLY = ("elderly_care",)

RULES: tuple[RuleDef, ...] = (
    RuleDef("reference_reader", "grids", "tier:1", ANY),
    RuleDef("reference_reader", "matters", "*", ANY),
    RuleDef("reference_reader", "departments", "*", ANY),
    # Grid workers: internal fields of everything in their grids; the sensitive ones masked.
    RuleDef("grid_worker", "*", "tier:2", OWN),
    RuleDef("grid_worker", "people", "idNumber|phone|careTags", OWN, M),
    RuleDef("grid_worker", "rooms", "code|number", OWN, M),
    RuleDef("grid_worker", "events", "reporter", OWN, M),
    # Grid workers correct what they verify: the internal fields of the records of their
    # grids (never a field they can not read in full: the sensitive ones stay read-only).
    *(
        RuleDef("grid_worker", r, "tier:2", OWN, W)
        for r in ("people", "houses", "rooms", "entities")
    ),
    # Community and street staff (their own areas are their community or street): birthdays
    # for the elderly allowance ("who turns 70 next month").
    RuleDef("community_staff", "people", "birthDate", OWN, R, ELDERLY),
)

#: The role a department's OAuth client gets, in the department's domain.
APP_ROLE_OF_DEPARTMENT: Mapping[str, str] = MappingProxyType(
    {
        "housing": "housing_app",
        "civil_affairs": "civil_affairs_app",
        "public_security": "public_security_app",
        "emergency": "emergency_app",
    }
)


async def load_defaults(store: PolicyStore, session: AsyncSession | None = None) -> None:
    """Store the default roles and rules (again: nothing changes), in one transaction (or in
    the caller's ``session``, which commits them with its other writes)."""
    async with store.within(session) as session:
        for role in ROLES:
            if role.parent:
                await store.add_role_parent(role.name, role.parent, ANY, session=session)
        for rule in RULES:
            await store.grant(
                rule.role,
                ANY,
                rule.resource,
                rule.fields,
                rule.area,
                act=rule.act,
                purposes=rule.purposes,
                session=session,
            )
