"""The demo roles do what docs/permissions.md says each kind of user may see: people's roles
through the default rules, the department apps through the demo's grants (made by the catalogue
workflow when the session's database was seeded)."""

from __future__ import annotations

from typing import NamedTuple

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from policies.decision import Decision
from policies.defaults import APP_ROLE_OF_DEPARTMENT, ROLES, RULES, load_defaults
from policies.plan import compile_plan
from policies.principal import Principal
from policies.store import PolicyStore

STREET, COMMUNITY, GRID = "440306001", "440306001001", "440306001001001"
OTHER_STREET = "440306002001001"
ALLOW, MASK, DENY = Decision.ALLOW, Decision.MASK, Decision.DENY
PURPOSE = Decision.PURPOSE_REQUIRED
ELDERLY, CASE = "elderly_care", "case_handling"


class Row(NamedTuple):
    """A principal holding ``role`` in ``department``, with ``own`` as its area, asking for
    ``field`` of a row in ``grid`` under ``purpose``."""

    role: str
    department: str
    own: str | None
    purpose: str | None
    field: str
    grid: str | None
    decision: Decision
    reach: int | None = None


TABLE = [
    Row("grid_worker", "grid_office", GRID, None, "Person.name", GRID, ALLOW),
    Row("grid_worker", "grid_office", GRID, None, "Person.idNumber", GRID, MASK),
    Row("grid_worker", "grid_office", GRID, None, "Person.phone", GRID, MASK),
    Row("grid_worker", "grid_office", GRID, None, "Person.careTags", GRID, MASK, reach=2),
    Row("grid_worker", "grid_office", GRID, None, "Person.birthDate", GRID, DENY),
    Row("grid_worker", "grid_office", GRID, None, "Room.number", GRID, MASK),
    Row("grid_worker", "grid_office", GRID, None, "Event.reporter", GRID, MASK),
    Row("grid_worker", "grid_office", GRID, None, "House.use", GRID, ALLOW),
    Row("grid_worker", "grid_office", GRID, None, "Person.name", OTHER_STREET, DENY),
    Row("grid_worker", "grid_office", GRID, None, "Grid.name", OTHER_STREET, ALLOW),
    Row("grid_worker", "grid_office", GRID, None, "Matter.name", None, ALLOW),
    Row("community_staff", "grid_office", COMMUNITY, None, "Person.birthDate", GRID, PURPOSE),
    Row("community_staff", "grid_office", COMMUNITY, ELDERLY, "Person.birthDate", GRID, ALLOW),
    Row("street_staff", "grid_office", STREET, ELDERLY, "Person.birthDate", GRID, ALLOW),
    Row("street_staff", "grid_office", STREET, None, "Person.idNumber", GRID, MASK),
    Row("auditor", "data_bureau", None, None, "Grid.name", GRID, DENY),
    Row("chief_data_officer", "data_bureau", None, None, "Person.name", GRID, DENY),
    Row("housing_app", "housing", None, None, "Person.name", GRID, DENY),
]
#: The apps: their roles hold no rules of their own; the demo's grants give them these.
APPS = [
    Row("housing_app", "housing", None, None, "House.use", OTHER_STREET, ALLOW),
    Row("housing_app", "housing", None, "housing_management", "Room.code", GRID, ALLOW),
    Row("housing_app", "housing", None, None, "Room.code", GRID, PURPOSE),
    Row("housing_app", "housing", None, None, "Person.name", GRID, ALLOW),
    Row("housing_app", "housing", None, None, "Person.idNumber", GRID, MASK),
    Row("housing_app", "housing", None, None, "Person.phone", GRID, DENY),
    Row("civil_affairs_app", "civil_affairs", None, ELDERLY, "Person.careTags", GRID, ALLOW, 3),
    Row("civil_affairs_app", "civil_affairs", None, CASE, "Person.careTags", GRID, PURPOSE),
    Row("public_security_app", "public_security", None, CASE, "Person.idNumber", GRID, ALLOW),
    Row("public_security_app", "public_security", None, None, "Person.idNumber", GRID, PURPOSE),
    Row("emergency_app", "emergency", None, None, "Event.description", GRID, ALLOW),
    Row("emergency_app", "emergency", None, None, "Entity.name", GRID, ALLOW),
    Row("emergency_app", "emergency", None, None, "Person.name", GRID, DENY),
    Row("emergency_app", "emergency", None, None, "Event.reporter", GRID, MASK),
    Row("emergency_app", "emergency", None, None, "House.residents", GRID, ALLOW),
    Row("emergency_app", "emergency", None, None, "Entity.employees", GRID, ALLOW),
    Row("emergency_app", "emergency", None, None, "Room.floor", GRID, DENY),
    Row("housing_app", "housing", None, None, "House.residents", GRID, ALLOW),
    Row("housing_app", "housing", None, "housing_management", "Room.residents", GRID, ALLOW),
    Row(
        "civil_affairs_app", "civil_affairs", None, "social_assistance", "Person.room", GRID, ALLOW
    ),
    Row("civil_affairs_app", "civil_affairs", None, None, "Person.employer", GRID, ALLOW),
    Row("public_security_app", "public_security", None, None, "Person.age", GRID, ALLOW),
    Row("public_security_app", "public_security", None, None, "Person.phone", GRID, DENY),
]


@pytest.mark.parametrize("row", TABLE, ids=lambda row: f"{row.role}-{row.field}-{row.purpose}")
async def test_default_role(store: PolicyStore, row: Row) -> None:
    await load_defaults(store)
    await store.assign("someone", row.role, row.department)
    someone = Principal("someone", department=row.department, areas=(row.own,) if row.own else ())

    plan = await compile_plan(store, someone, row.purpose)

    type_name, _, field_name = row.field.partition(".")
    assert plan.decisions(type_name, row.grid)[field_name] is row.decision
    if row.reach is not None:
        assert plan.of_type(type_name).reach(row.grid, field_name, type_name) == row.reach


@pytest.mark.parametrize("row", APPS, ids=lambda row: f"{row.role}-{row.field}-{row.purpose}")
async def test_an_app_through_its_grants(engine: AsyncEngine, row: Row) -> None:
    subject = row.department.replace("_", "-") + "-app"
    app = Principal(subject, kind="client", department=row.department)

    plan = await compile_plan(PolicyStore(engine), app, row.purpose)

    assert row.role in plan.roles
    type_name, _, field_name = row.field.partition(".")
    assert plan.decisions(type_name, row.grid)[field_name] is row.decision
    if row.reach is not None:
        assert plan.of_type(type_name).reach(row.grid, field_name, type_name) == row.reach


def test_every_rule_names_a_defined_role_and_every_app_role_exists() -> None:
    names = {role.name for role in ROLES}
    assert {rule.role for rule in RULES} <= names
    assert set(APP_ROLE_OF_DEPARTMENT.values()) <= names
    assert not {rule.role for rule in RULES} & set(APP_ROLE_OF_DEPARTMENT.values())
    assert {role.parent for role in ROLES if role.parent} <= names
