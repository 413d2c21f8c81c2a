"""A data officer's changes to views: define, update (a new version), delete (history kept).

Each change is one transaction of its own (like the catalogue's), checked whole before anything
is written. The role is checked by the schema (:mod:`schema.duties`); here is what only views
know:

- an officer changes only their own department's views;
- a layer may filter only on fields its department may filter on. A data officer holds no
  shared data of their own, so "the definer" is their department: a filter passes if at least
  one principal of the department (an app, a grid worker, the officer) may filter on every field
  it reads, under the view's purpose — the same check (:func:`resolvers.filters.checked`) that
  refuses such a filter in the API. Whoever opens the view later is checked again, on their own
  plan.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from catalog.changes import Officer, own
from policies.plan import AccessPlan, compile_plan
from policies.principal import Principal
from policies.store import PolicyStore
from resolvers import filters
from resolvers.resources import RESOURCES
from store.errors import BadUserInput, Forbidden, GridhubError
from store.models import Principal as PrincipalRow
from store.models import PrincipalGrid
from views import store
from views.definition import ViewDefinition, parse_view, view_json
from views.store import ConcurrentChange, StoredView


@asynccontextmanager
async def transaction(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """One unit of work; two writers racing on one code lose with BAD_USER_INPUT, not a 500."""
    try:
        async with engine.begin() as connection:
            yield connection
    except (IntegrityError, ConcurrentChange):
        raise BadUserInput("The view changed meanwhile; read it again and retry") from None


async def department_plans(
    policy: PolicyStore,
    connection: AsyncConnection,
    department: str,
    purpose: str | None,
    now: datetime,
) -> list[AccessPlan]:
    """One plan for each kind of principal in ``department``: principals with the same rules
    (their own and their roles') and with or without areas of their own see alike, so one of
    each stands for all."""
    await policy.refresh()
    members = await connection.execute(
        select(PrincipalRow.subject, PrincipalRow.kind).where(
            PrincipalRow.department_code == department
        )
    )
    areas: dict[str, list[str]] = {}
    for subject, code in await connection.execute(
        select(PrincipalGrid.subject, PrincipalGrid.grid_code)
        .join(PrincipalRow, PrincipalRow.subject == PrincipalGrid.subject)
        .where(PrincipalRow.department_code == department)
    ):
        areas.setdefault(subject, []).append(code)
    standing: dict[Any, Principal] = {}
    for subject, kind in members:
        own = tuple(sorted(areas.get(subject, ())))
        key = (await policy.rules_for(subject, department), bool(own))
        standing.setdefault(key, Principal(subject, kind, department, (), own))
    return [await compile_plan(policy, p, purpose, now) for p in standing.values()]


def check_filters(view: ViewDefinition, plans: list[AccessPlan]) -> None:
    """FORBIDDEN unless, for each layer's filter, some plan may filter on all it reads."""
    for layer in view.layers:
        key = layer.filter_key
        resource = layer.filter_resource
        if resource is None or not key:
            continue
        refusal: GridhubError | None = None
        for plan in plans:
            try:
                filters.checked(plan, RESOURCES[resource], key)
            except GridhubError as error:
                refusal = error
                continue
            break
        else:
            message = str(refusal) if refusal else "Nobody may filter on it"
            purpose = f" under the purpose {view.purpose}" if view.purpose else ""
            raise Forbidden(
                f"Layer {layer.code}: nobody in {view.department} may filter like this"
                f"{purpose} ({message})",
                layer=layer.code,
            )


async def _checked(
    connection: AsyncConnection,
    policy: PolicyStore,
    raw: Mapping[str, Any],
    at: datetime,
) -> ViewDefinition:
    view = parse_view(raw, await store.department_codes(connection))
    plans = await department_plans(policy, connection, view.department, view.purpose, at)
    check_filters(view, plans)
    return view


async def define(
    engine: AsyncEngine, policy: PolicyStore, officer: Officer, raw: Mapping[str, Any], at: datetime
) -> StoredView:
    """Save a new view (its first version, or the next after a deleted one of that code)."""
    department = raw.get("department") or officer.department
    async with transaction(engine) as connection:
        known = await store.department_codes(connection)
        # Another existing department is refused before the details are looked at; one that
        # does not exist is a mistake in the input (parse_view says so).
        if officer.department is None or department in known:
            own(officer, str(department), f"Defining {raw.get('code')}", "views")
        view = await _checked(connection, policy, {**raw, "department": department}, at)
        if await store.get(connection, view.code) is not None:
            raise BadUserInput(
                f"There is a view {view.code} already; change it with updateView", view=view.code
            )
        await store.save(connection, view, by=officer.subject, at=at, replacing=None)
        saved = await store.get(connection, view.code)
    assert saved is not None
    return saved


async def update(
    engine: AsyncEngine,
    policy: PolicyStore,
    officer: Officer,
    code: str,
    changes: Mapping[str, Any],
    at: datetime,
    expected_version: int | None = None,
) -> tuple[StoredView, bool]:
    """Apply ``changes`` (JSON names → new values: name, description, purpose, layers) to a
    view; the view and whether a new version was written (none if nothing changed)."""
    async with transaction(engine) as connection:
        current = await _current(connection, code)
        own(officer, current.definition.department, f"Updating {code}", "views")
        if expected_version is not None and expected_version != current.version:
            raise BadUserInput(
                f"{code} is at version {current.version}, not {expected_version}: read it "
                "again before changing it",
                view=code,
                version=current.version,
            )
        view = await _checked(connection, policy, {**view_json(current.definition), **changes}, at)
        if view == current.definition:
            return current, False
        await store.save(connection, view, by=officer.subject, at=at, replacing=current)
        saved = await store.get(connection, code)
    assert saved is not None
    return saved, True


async def delete(engine: AsyncEngine, officer: Officer, code: str, at: datetime) -> int:
    """Delete a view; the number of the ``deleted`` version that records it."""
    async with transaction(engine) as connection:
        current = await _current(connection, code)
        own(officer, current.definition.department, f"Deleting {code}", "views")
        return await store.remove(connection, current, by=officer.subject, at=at)


async def _current(connection: AsyncConnection, code: str) -> StoredView:
    current = await store.get(connection, code)
    if current is None:
        raise BadUserInput(f"There is no view {code}", view=code)
    return current
