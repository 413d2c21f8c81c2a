"""Every statement that applies a plan's row predicate is guarded by a test that notices when it
stops applying it.

A site is a call of :func:`policies.row_scope.row_scope` (directly, or through
``RequestContext.row_scope``), named by a string literal. :data:`SITES` lists every site with
the probes that must notice its loss; the tests here

- run every probe as it is: each passes, and each sees rows (so none passes by seeing nothing);
- remove one site's predicate at a time (the helper is replaced by one that returns no clause
  for that site) and require at least one of the site's probes to fail;
- read the code of every package and require the sites found there to be exactly those listed,
  each named once, with no statement taking a plan's predicate by another way (``Plan.rows``
  with a column, or a resource's plan's ``rows``): a new statement with a predicate is listed
  here with a probe, or this test fails.

Probes are fixed queries under one plan with carved-out areas (:data:`RULES`), checked against
the rule language's oracle (``tests/permissions/oracle.py``); the random permission property
test (``test_properties.py``) runs the same oracle over drawn plans and queries, but only a
fixed probe can be required to fail every time.

The views' statements also keep only rows whose location the viewer is shown
(``ResourcePlan.shown_rows``), which for a row outside the plan is never true: the row
predicate is a second guard there. The map probe lifts that first guard, so that each row
predicate is tested on its own.

The compiled read path (``resolvers/compiled/``, one SQL statement per root field) comes under
this test the same way: its statement builder takes each predicate from
``row_scope.row_scope(plan, "compiled.<statement>", resource, column)``, so the scan below finds
its sites, listed in :data:`SITES` with probes of their own (:data:`COMPILED`). Each path's
sites are tested on their own: the compiled probes run on an executor that requires every root
field to have been compiled (so removing a site cannot pass through the resolvers' statements
instead), and every other probe runs field by field (so a document the compiler now accepts
cannot carry a resolver's site off its probe).
"""

from __future__ import annotations

import ast
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import ColumnElement, delete, insert, true
from sqlalchemy.ext.asyncio import AsyncEngine

from events import stream
from hub.execution import Executor
from hub.settings import Settings
from policies import row_scope as scoping
from policies.field_rules import Plan
from policies.fields import RESOURCE_OF_TYPE
from policies.plan import AccessPlan
from policies.principal import Principal
from policies.resource_plan import ResourcePlan
from policies.rules import Act, Rule
from policies.store import PolicyStore
from resolvers.context import RequestContext
from resolvers.ids import from_global_id, to_global_id
from schema import addresses as schema_addresses
from schema import build_schema
from store.models import RemovedRow, Task, View, ViewVersion
from tests.conftest import GraphQL
from tests.permissions.oracle import (
    DISTRICT,
    ROWS,
    Drawn,
    Oracle,
    Traced,
    assert_no_row_outside,
    grid_of,
    objects,
)
from tests.support import data_of, error_codes, nodes
from views import changes
from views.definition import COUNT

ROOT = Path(__file__).resolve().parents[2]
#: The project's packages (``tests`` excluded): where sites are looked for.
PACKAGES = ["cli", "demo", "hub", "schema", "views", "tasks", "events", "feeds", "resolvers"]
PACKAGES += ["catalog", "addresses", "policies"]
PACKAGES += ["audit", "auth", "store"]

STREET = "440306001"
#: Street 440306001 shown, with areas carved out of it: a whole grid, and in the other
#: community's grids a resource or two each (so that a statement reading one resource through
#: another, a house's rooms, an entity's house, a house's count of people, has a row to leak);
#: and one grid of the other street whose people are carved out. Departments and matters are
#: not shown (no rule covers rows of no place).
RULES = (
    Rule.make("p", "*", "*", "*", STREET, Act.READ),
    Rule.make("p", "*", "*", "*", "440306001001001", Act.DENY),
    Rule.make("p", "*", "rooms", "*", "440306001002001", Act.DENY),
    Rule.make("p", "*", "entities", "*", "440306001002001", Act.DENY),
    Rule.make("p", "*", "houses", "*", "440306001002002", Act.DENY),
    Rule.make("p", "*", "grids", "*", "440306001002002", Act.DENY),
    Rule.make("p", "*", "*", "*", "440306002001001", Act.READ),
    Rule.make("p", "*", "people", "*", "440306002001001", Act.DENY),
)
#: Declared, so that a room (a sensitive field of a person) is shown where the plan shows it.
PURPOSE = "elderly_care"
ORACLE = Oracle(Drawn(RULES, (), PURPOSE))


def _plan() -> AccessPlan:
    return AccessPlan(Principal("p", "person", "grid_office", (), ()), PURPOSE, 0, (), RULES)


def _hidden(type_name: str, resource: str) -> Any:
    """A row of ``type_name`` the plan does not show, in the carved-out grid."""
    return next(
        key
        for key in ROWS[type_name]
        if grid_of(type_name, key) == "440306001001001"
        and not ORACLE.visible(resource, grid_of(type_name, key))
    )


def _person_in(grid: str, *, roomed: bool = False) -> dict[str, Any]:
    return next(
        p for p in DISTRICT.people if p["grid_code"] == grid and (p["room_code"] or not roomed)
    )


def _counted(body: dict[str, Any], expected: dict[str, int], first: int = 100) -> None:
    """Each connection's ``totalCount`` is what the oracle counts, and its page holds as many
    nodes as that allows (pages of ``first``)."""
    for path, count in expected.items():
        found: Any = body["data"]
        for part in path.split("."):
            found = found[part]
        assert found["totalCount"] == count, (path, found["totalCount"], count)
        if "edges" in found:
            assert len(nodes(found)) == min(count, first), (path, len(nodes(found)), count)


Probe = Callable[[GraphQL], Awaitable[None]]


async def _ask(
    gql: GraphQL, query: str, variables: dict[str, Any] | None = None, *, traced: bool = True
) -> Any:
    """The answer under the carved plan (every id shown: see ``Traced``; or as it is),
    holding no row outside the plan and at least one row."""
    plan = _plan()
    body = await gql(query, variables, plan=Traced(plan) if traced else plan)
    data_of(body)
    assert_no_row_outside(ORACLE, body)
    assert objects(body["data"]), "the probe saw nothing: it would pass whatever the plan"
    return body


async def look_ups(gql: GraphQL) -> None:
    """Single look-ups of rows outside the plan answer null; inside it, the row."""
    roomed = _person_in("440306001002001", roomed=True)  # their room is carved out
    shown = _person_in("440306001002002", roomed=True)  # their room is shown
    body = await _ask(
        gql,
        """query($g: String!, $h: String!, $p: ID!, $e: String!, $v: ID!, $r: ID!, $s: ID!) {
          grid(code: $g) { id } house(code: $h) { id } person(id: $p) { id }
          entity(creditCode: $e) { id } event(id: $v) { id }
          roomed: person(id: $r) { id room { __typename } }
          shown: person(id: $s) { id room { __typename } grid { id } } }""",
        {
            "g": "440306001001001",
            "h": _hidden("House", "houses"),
            "p": to_global_id("Person", _hidden("Person", "people")),
            "e": _hidden("Entity", "entities"),
            "v": to_global_id("Event", _hidden("Event", "events")),
            "r": to_global_id("Person", roomed["id"]),
            "s": to_global_id("Person", shown["id"]),
        },
    )
    data = body["data"]
    assert [data[k] for k in ("grid", "house", "person", "entity", "event")] == [None] * 5
    assert data["roomed"]["room"] is None
    assert data["shown"]["room"] == {"__typename": "Room"}


async def children(gql: GraphQL) -> None:
    """An area's children are the areas under it that the plan shows."""
    body = await _ask(gql, '{ grid(code: "440306001") { id children { id children { id } } } }')
    found = {
        from_global_id(community["id"])[1]: [
            from_global_id(g["id"])[1] for g in community["children"]
        ]
        for community in body["data"]["grid"]["children"]
    }
    assert found == {"440306001001": ["440306001001002"], "440306001002": ["440306001002001"]}


async def rooms(gql: GraphQL) -> None:
    """A house whose rooms are carved out lists none."""
    house = next(h for h in DISTRICT.houses if h["grid_code"] == "440306001002001")
    body = await _ask(
        gql,
        "query($h: String!) { house(code: $h) { id rooms { __typename } } }",
        {"h": house["code"]},
    )
    assert body["data"]["house"]["rooms"] == []


async def root_lists(gql: GraphQL) -> None:
    """Root lists hold the plan's rows, and their counts count only those."""
    body = await _ask(
        gql,
        """{ grids(first: 100) { totalCount edges { node { id } } }
             houses(first: 100) { totalCount edges { node { id } } }
             people(first: 100) { totalCount edges { node { id } } }
             entities(first: 100) { totalCount edges { node { id } } }
             events(first: 100) { totalCount edges { node { id } } } }""",
    )
    _counted(
        body,
        {name: ORACLE.visible_rows(name) for name in ("grids", "houses", "people", "entities")}
        | {"events": ORACLE.visible_rows("events")},
    )


async def connections(gql: GraphQL) -> None:
    """An area's connections, a house's residents, an entity's employees and an area's
    statistics hold and count only the plan's rows."""
    house = next(h for h in DISTRICT.houses if h["grid_code"] == "440306002001001")
    entity = next(e for e in DISTRICT.entities if e["grid_code"] == "440306001002002")
    body = await _ask(
        gql,
        """query($h: String!, $e: String!) {
          grid(code: "440306001") { id
            houses(first: 200) { totalCount edges { node { id } } }
            people(first: 200) { totalCount edges { node { id } } }
            entities(first: 200) { totalCount edges { node { id } } }
            events(first: 200) { totalCount edges { node { id } } }
            stats { houses people entities events } }
          house(code: $h) { id residents(first: 50) { totalCount edges { node { id } } }
            rooms { __typename } }
          entity(creditCode: $e) { id employees(first: 50) { totalCount } } }""",
        {"h": house["code"], "e": entity["credit_code"]},
    )
    counts = {r: ORACLE.visible_rows(r, STREET) for r in ("houses", "people", "entities")}
    counts["events"] = ORACLE.visible_rows("events", STREET)
    _counted(body, {f"grid.{r}": n for r, n in counts.items()}, first=200)
    assert body["data"]["grid"]["stats"] == counts
    employees = sum(
        1
        for p in DISTRICT.people
        if p["employer_code"] == entity["credit_code"] and ORACLE.visible("people", p["grid_code"])
    )
    _counted(body, {"house.residents": 0, "entity.employees": employees})


async def references(gql: GraphQL) -> None:
    """Departments and matters the plan does not show: not listed, and null where linked."""
    body = await _ask(
        gql,
        """{ departments { __typename } matters { __typename }
             events(first: 20) { edges { node { id handlingDepartment { __typename }
               category { __typename department { __typename } } } } } }""",
    )
    data = body["data"]
    assert data["departments"] == []
    assert data["matters"] == []
    links = [(e["handlingDepartment"], e["category"]) for e in nodes(data["events"])]
    assert links
    assert set(links) == {(None, None)}


async def link_filters(gql: GraphQL) -> None:
    """A filter on a link finds nobody through a row the plan does not show: not the residents
    of a carved-out house, nor the employees of a carved-out entity (the people themselves are
    shown)."""
    house = _house_in("440306001002002")  # houses carved out; its people shown
    hidden = {e["credit_code"] for e in DISTRICT.entities if e["grid_code"] == "440306001002001"}
    employer = next(
        p["employer_code"]
        for p in DISTRICT.people
        if p["employer_code"] in hidden and ORACLE.visible("people", p["grid_code"])
    )
    assert any(p["house_code"] == house["code"] for p in DISTRICT.people)
    body = await _ask(
        gql,
        """query($h: String!, $e: String!) {
          residents: people(filter: {houseCode: $h}, first: 5) { totalCount }
          employees: people(filter: {employerCode: $e}, first: 5) { totalCount }
          grid(code: "440306001002001") { id } }""",
        {"h": house["code"], "e": employer},
    )
    assert body["data"]["residents"]["totalCount"] == 0
    assert body["data"]["employees"]["totalCount"] == 0


# -- the address base ---------------------------------------------------------------------------
#
# The address API guards twice: the matcher and the search are offered only the grids where the
# caller reads houses (``addresses.grids``, ``addresses.standard``), and the houses and rooms a
# candidate names are read through the plan again (``addresses.houses``, ``addresses.rooms``).
# Each probe lifts one guard so that the other is tested on its own, as the map probe does.

MATCH = """query($h: String!, $v: String!, $r: String!) {
  hidden: matchAddress(text: $h) { candidates { house { id } room { __typename } } }
  shown: matchAddress(text: $v) { candidates { house { id } room { __typename } } }
  roomed: matchAddress(text: $r) { candidates { house { id } room { __typename } } } }"""
LISTING = """query($h: String!, $v: String!) {
  hidden: addresses(search: $h, first: 20) { edges { node { house { id } room { __typename } } } }
  shown: addresses(search: $v, first: 20) {
    edges { node { house { id } room { __typename } } } } }"""


def _house_in(grid: str) -> dict[str, Any]:
    return next(h for h in DISTRICT.houses if h["grid_code"] == grid)


def _address_texts() -> dict[str, str]:
    """A house whose houses are carved out, a house shown, and a room of a shown house in the
    grid whose rooms are carved out (its standard text: the house's and the room's number)."""
    roomed = _house_in("440306001002001")
    room = next(r for r in DISTRICT.rooms if r["house_code"] == roomed["code"])
    return {
        "h": _house_in("440306001002002")["address"],
        "v": _house_in("440306002001001")["address"],
        "r": f"{roomed['address']}{room['number']}室",
    }


class _Lifted:
    """Sites of the address API whose predicate a probe lifts (the test's own removal of a
    site, if any, still applies: the helper in place is wrapped, not replaced)."""

    def __init__(self, patch: pytest.MonkeyPatch, *names: str) -> None:
        kept = scoping.row_scope

        def lifted(
            plan: Plan, named: str, resource: str, column: ColumnElement[str] | None
        ) -> list[ColumnElement[bool]]:
            return [] if named in names else kept(plan, named, resource, column)

        patch.setattr(scoping, "row_scope", lifted)


async def address_candidates(gql: GraphQL) -> None:
    """With every grid offered to the matcher, a candidate's house or room outside the plan is
    still held back when it is read: no hidden house, and no room where rooms are carved out."""
    grids = set(ROWS["Grid"])

    async def everywhere(_context: Any, _area: str | None) -> tuple[set[str], set[str]]:
        return grids, grids

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(schema_addresses, "_scope", everywhere)
        body = await _ask(gql, MATCH, _address_texts())
    data = body["data"]
    assert [c["house"] for c in data["hidden"]["candidates"]] == []
    assert data["shown"]["candidates"], "the shown house was not matched"
    assert data["roomed"]["candidates"], "the shown house of the carved room was not matched"
    assert {c["room"] is None for c in data["roomed"]["candidates"]} == {True}


async def address_grids(gql: GraphQL) -> None:
    """With the houses read back unguarded, the matcher itself never offers a house outside
    the plan."""
    with pytest.MonkeyPatch.context() as patch:
        _Lifted(patch, "addresses.houses", "addresses.rooms")
        body = await _ask(gql, MATCH, _address_texts())
    assert body["data"]["hidden"]["candidates"] == []


async def address_listing(gql: GraphQL) -> None:
    """With the houses read back unguarded, the address search itself lists no address of a
    house outside the plan."""
    texts = _address_texts()
    with pytest.MonkeyPatch.context() as patch:
        _Lifted(patch, "addresses.houses", "addresses.rooms")
        body = await _ask(gql, LISTING, {"h": texts["h"], "v": texts["v"]})
    assert body["data"]["hidden"]["edges"] == []
    assert body["data"]["shown"]["edges"]


# -- the map --------------------------------------------------------------------------------------

VIEW = "row-scope-probe"
LAYERS = [
    ("communities", "COMMUNITY", ["name"], None),
    ("houses", "HOUSES", ["address"], None),
    ("events", "EVENTS", ["status"], None),
    ("entities", "ENTITIES", ["name"], None),
    ("residents", "PEOPLE", ["address"], {"by": "HOUSE", "minCount": 3}),
    ("population", "PEOPLE", ["name"], {"by": "GRID", "minCount": 3}),
]
MAP = """query($code: String!) { mapView(code: $code) { layers { code geojson } } }"""


@pytest.fixture(scope="module")
async def _probe_view(engine: AsyncEngine) -> AsyncIterator[None]:
    officer = changes.Officer("officer-grid-office", "grid_office")
    layers = [
        {"code": code, "name": code, "source": source, "fields": fields}
        | {"style": {"colour": "#000000"}}
        | ({} if aggregate is None else {"aggregate": aggregate})
        for code, source, fields, aggregate in LAYERS
    ]
    definition = {"code": VIEW, "name": "行范围探针", "department": "grid_office", "layers": layers}
    await changes.define(engine, PolicyStore(engine), officer, definition, datetime.now(UTC))
    yield
    async with engine.begin() as connection:
        await connection.execute(delete(View).where(View.code == VIEW))
        await connection.execute(delete(ViewVersion).where(ViewVersion.view_code == VIEW))


#: Tasks the probe raises: (target, row key, grid), on records inside and outside the plan.
PROBE_TASKS = (
    ("people", "900001", "440306001002002"),  # shown
    ("people", "900002", "440306001001001"),  # carved out: every resource
    ("houses", "H-PROBE-3", "440306002001001"),  # shown: only people are carved out there
    ("people", "900004", "440306002001001"),  # carved out: people
    ("houses", "H-PROBE-5", "440306001002002"),  # carved out: houses
    ("entities", "E-PROBE-6", "440306001002002"),  # shown: only houses and grids carved out
)


@pytest.fixture
async def _probe_tasks(engine: AsyncEngine) -> AsyncIterator[None]:
    table = Task.__table__
    now = datetime.now(UTC)
    rows = [
        {"kind": "request", "target": target, "row_key": key, "reason": "request:probe"}
        | {"grid_code": grid, "raised_by": "probe", "why": "probe", "created_at": now}
        | {"due_at": now, "status": "open", "updated_at": now}
        for target, key, grid in PROBE_TASKS
    ]
    async with engine.begin() as connection:
        await connection.execute(insert(table), rows)
    yield
    async with engine.begin() as connection:
        await connection.execute(delete(table).where(table.c.raised_by == "probe"))


async def task_lists(gql: GraphQL) -> None:
    """A worker's tasks are those about records the plan shows, and the count counts them."""
    plan = AccessPlan(
        Principal("p", "person", "grid_office", (), ()), PURPOSE, 0, ("grid_worker",), RULES
    )
    body = await gql(
        "{ tasks(first: 50) { totalCount edges { node { recordType recordId } } } }", plan=plan
    )
    data_of(body)
    found = {from_global_id(e["node"]["recordId"])[1] for e in body["data"]["tasks"]["edges"]}
    found = {str(key) for key in found} & {key for _, key, _ in PROBE_TASKS}
    assert found == {"900001", "H-PROBE-3", "E-PROBE-6"}
    assert body["data"]["tasks"]["totalCount"] == len(body["data"]["tasks"]["edges"])


#: Tombstones the removals probe lays: (target, row key, grid), inside and outside the plan.
PROBE_REMOVALS = (
    ("people", "900101", "440306001002002"),  # shown
    ("people", "900102", "440306001001001"),  # carved out: every resource
    ("people", "900103", "440306002001001"),  # carved out: people
    ("people", "900104", None),  # of no place: no rule covers it
    ("houses", "H-PROBE-R5", "440306002001001"),  # shown: only people are carved out there
    ("houses", "H-PROBE-R6", "440306001002002"),  # carved out: houses
)
REMOVED_AT = datetime(2099, 1, 1, tzinfo=UTC)


@pytest.fixture
async def _probe_removals(engine: AsyncEngine) -> AsyncIterator[None]:
    table = RemovedRow.__table__
    rows = [
        {"target": target, "row_key": key, "grid_code": grid, "removed_at": REMOVED_AT}
        | {"removed_by": "probe", "source_ref": "probe"}
        for target, key, grid in PROBE_REMOVALS
    ]
    async with engine.begin() as connection:
        await connection.execute(insert(table), rows)
    yield
    async with engine.begin() as connection:
        await connection.execute(delete(table).where(table.c.removed_by == "probe"))


async def removals(gql: GraphQL) -> None:
    """Rows removed are listed only where the plan shows their type's rows, and counted so."""
    body = await gql(
        """query($since: DateTime!) {
             people: removed(type: PERSON, since: $since) { totalCount edges { node { id } } }
             houses: removed(type: HOUSE, since: $since) { totalCount edges { node { id } } } }""",
        {"since": REMOVED_AT.isoformat()},
        plan=_plan(),
    )
    data = data_of(body)
    found = {
        name: [from_global_id(e["node"]["id"])[1] for e in data[name]["edges"]]
        for name in ("people", "houses")
    }
    assert found["people"] or found["houses"], "the probe saw nothing"
    assert found == {"people": [900101], "houses": ["H-PROBE-R5"]}
    assert [data[name]["totalCount"] for name in ("people", "houses")] == [1, 1]


async def task_stats(gql: GraphQL) -> None:
    """Tasks are counted only about the records the plan shows: the probe's three."""
    plan = AccessPlan(
        Principal("p", "person", "grid_office", (), ()), PURPOSE, 0, ("grid_worker",), RULES
    )
    now = datetime.now(UTC)
    body = await gql(
        """query($from: DateTime!, $to: DateTime!) {
             taskStats(areaCode: "440306", from: $from, to: $to, groupBy: [], minCount: 3) {
               count } }""",
        {
            "from": (now - timedelta(days=1)).isoformat(),
            "to": (now + timedelta(days=1)).isoformat(),
        },
        plan=plan,
    )
    assert data_of(body)["taskStats"] == [{"count": 3}]


def _people(unit: str, key: str) -> int:
    """How many people of the unit (house or grid) the plan shows."""
    return sum(
        1 for p in DISTRICT.people if p[unit] == key and ORACLE.visible("people", p["grid_code"])
    )


async def map_layers(gql: GraphQL) -> None:
    """Each layer of a map holds only features of rows the plan shows (an entity only where
    its house is shown too), and counts only the people it shows; with the shown-rows guard
    lifted (see the module's docstring)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ResourcePlan, "shown_rows", lambda *_: true())
        body = await gql(MAP, {"code": VIEW}, plan=_plan())
    found = {
        layer["code"]: layer["geojson"]["features"] for layer in data_of(body)["mapView"]["layers"]
    }
    for code, features in found.items():
        assert features, f"the {code} layer is empty: it would pass whatever the plan"
        for feature in features:
            type_name, key = from_global_id(feature["id"])
            grid = grid_of(type_name, key)
            assert ORACLE.visible(RESOURCE_OF_TYPE[type_name], grid), (code, key)
            if type_name == "Entity":
                house = ROWS["Entity"][key]["house_code"]
                assert ORACLE.visible("houses", grid_of("House", house)), (code, key)
            if code == "residents":
                assert feature["properties"][COUNT] == _people("house_code", key), key
            if code == "population":
                assert feature["properties"][COUNT] == _people("grid_code", key), key


# -- the compiled read path -----------------------------------------------------------------------
#
# These probes run through :func:`gql_compiled`, which requires every root field of the answer
# to have been answered by the compiled path; the probes above run field by field, so that each
# path's sites are tested on their own. The compiled path answers a root field only when no
# field under it is refused in an area the plan shows, so these ask for ids, counts and links;
# and it reads those areas from the plan itself, which ``Traced`` does not expose (under it
# only ids would compile), so these run on the plan as it is. Its ids are shown wherever it
# shows rows, so a row let through shows itself here too.


async def compiled_look_ups(gql: GraphQL) -> None:
    """Compiled look-ups of rows outside the plan answer null; inside it, the row."""
    shown_person = _person_in("440306001002002")
    body = await _ask(
        gql,
        """query($g: String!, $h: String!, $p: ID!, $e: String!, $sp: ID!) {
          grid(code: $g) { id } house(code: $h) { id } person(id: $p) { id }
          entity(creditCode: $e) { id }
          shownGrid: grid(code: "440306001002001") { id } shownPerson: person(id: $sp) { id } }""",
        {
            "g": "440306001001001",
            "h": _hidden("House", "houses"),
            "p": to_global_id("Person", _hidden("Person", "people")),
            "e": _hidden("Entity", "entities"),
            "sp": to_global_id("Person", shown_person["id"]),
        },
        traced=False,
    )
    data = body["data"]
    assert [data[k] for k in ("grid", "house", "person", "entity")] == [None] * 4
    assert data["shownGrid"] is not None
    assert data["shownPerson"] is not None


async def compiled_connections(gql: GraphQL) -> None:
    """Compiled root lists, an area's connections and statistics, a house's residents and an
    entity's employees hold and count only the plan's rows."""
    house = next(h for h in DISTRICT.houses if h["grid_code"] == "440306002001001")
    entity = next(e for e in DISTRICT.entities if e["grid_code"] == "440306001002002")
    body = await _ask(
        gql,
        """query($h: String!, $e: String!) {
          houses(first: 100) { totalCount edges { node { id } } }
          people(first: 100) { totalCount edges { node { id } } }
          entities(first: 100) { totalCount edges { node { id } } }
          grid(code: "440306001") { id
            houses(first: 200) { totalCount edges { node { id } } }
            people(first: 200) { totalCount edges { node { id } } }
            entities(first: 200) { totalCount edges { node { id } } }
            stats { houses people entities } }
          house(code: $h) { id residents(first: 50) { totalCount edges { node { id } } } }
          entity(creditCode: $e) { id employees(first: 50) { totalCount } } }""",
        {"h": house["code"], "e": entity["credit_code"]},
        traced=False,
    )
    _counted(body, {name: ORACLE.visible_rows(name) for name in ("houses", "people", "entities")})
    counts = {r: ORACLE.visible_rows(r, STREET) for r in ("houses", "people", "entities")}
    _counted(body, {f"grid.{r}": n for r, n in counts.items()}, first=200)
    assert body["data"]["grid"]["stats"] == counts
    employees = sum(
        1
        for p in DISTRICT.people
        if p["employer_code"] == entity["credit_code"] and ORACLE.visible("people", p["grid_code"])
    )
    _counted(body, {"house.residents": 0, "entity.employees": employees})


async def compiled_links(gql: GraphQL) -> None:
    """A compiled link to a row outside the plan answers null: a shown person's carved-out
    house, grid and employer, a shown entity's carved-out house; a link to a shown row
    answers it."""
    hidden_employers = {
        e["credit_code"] for e in DISTRICT.entities if e["grid_code"] == "440306001002001"
    }
    housed = _person_in("440306001002002")  # houses and grids carved out; people shown
    shown = _person_in("440306001002001")  # houses and grids shown
    employed = next(
        p
        for p in DISTRICT.people
        if p["employer_code"] in hidden_employers and ORACLE.visible("people", p["grid_code"])
    )
    entity = next(
        e
        for e in DISTRICT.entities
        if ORACLE.visible("entities", e["grid_code"])
        and not ORACLE.visible("houses", grid_of("House", e["house_code"]))
    )
    body = await _ask(
        gql,
        """query($p: ID!, $s: ID!, $q: ID!, $e: String!) {
          housed: person(id: $p) { id house { id } grid { id } }
          shown: person(id: $s) { id house { id } grid { id } }
          employed: person(id: $q) { id employer { id } }
          entity(creditCode: $e) { id house { id } } }""",
        {
            "p": to_global_id("Person", housed["id"]),
            "s": to_global_id("Person", shown["id"]),
            "q": to_global_id("Person", employed["id"]),
            "e": entity["credit_code"],
        },
        traced=False,
    )
    data = body["data"]
    assert data["housed"]["house"] is None
    assert data["housed"]["grid"] is None
    assert data["shown"]["house"] is not None
    assert data["shown"]["grid"] is not None
    assert data["employed"]["employer"] is None
    assert data["entity"]["house"] is None


async def event_actions(gql: GraphQL) -> None:
    """An action on an event outside the plan is refused as an unknown event would be, before
    anyone asks who may act; on an event inside it, for the missing role (nothing is written:
    the plan's principal holds no role)."""
    hidden = _hidden("Event", "events")
    shown = next(k for k in ROWS["Event"] if ORACLE.visible("events", grid_of("Event", k)))
    query = 'mutation($id: ID!) { superviseEvent(id: $id, note: "probe") { id } }'
    for key, code in ((hidden, "BAD_USER_INPUT"), (shown, "FORBIDDEN")):
        body = await gql(query, {"id": to_global_id("Event", key)}, plan=_plan())
        assert error_codes(body) == [code], body


# -- the event streams ----------------------------------------------------------------------
#
# A stream's delivery reads the changed events it follows under the subscriber's plan
# (``events.stream.deliverable``); the probe hands it every event of the district as changed,
# following the whole district, and requires exactly the events the plan shows.

_ENGINES: list[AsyncEngine] = []


@pytest.fixture(autouse=True)
def _engine_for_probes(engine: AsyncEngine) -> Iterator[None]:
    """The probes that call a statement's function themselves (not a query) use this one."""
    _ENGINES.append(engine)
    yield
    _ENGINES.remove(engine)


async def stream_deliveries(_: GraphQL) -> None:
    """A delivery of every event in the district holds exactly the events the plan shows."""
    keys = set(ROWS["Event"])
    async with _ENGINES[-1].connect() as connection:
        rows = await stream.deliverable(connection, _plan(), stream.Scope(areas=("440306",)), keys)
    assert rows, "the probe saw nothing: it would pass whatever the plan"
    for row in rows:
        assert ORACLE.visible("events", row.grid_code), row.id
    assert len(rows) == ORACLE.visible_rows("events")


async def event_stats(gql: GraphQL) -> None:
    """Events counted per grid are the plan's only: every grid it shows, with its count."""
    body = await gql(
        """{ eventStats(areaCode: "440306", from: "2026-01-01T00:00:00+08:00",
                        to: "2027-01-01T00:00:00+08:00", groupBy: [GRID], minCount: 3) {
               gridCode count } }""",
        plan=_plan(),
    )
    found = {row["gridCode"]: row["count"] for row in data_of(body)["eventStats"]}
    expected: dict[str, int] = {}
    for event in DISTRICT.events:
        if ORACLE.visible("events", event["grid_code"]):
            expected[event["grid_code"]] = expected.get(event["grid_code"], 0) + 1
    assert found, "the probe saw nothing: it would pass whatever the plan"
    assert found == {grid: n for grid, n in expected.items() if n >= 3}


#: Probes that run on the compiled path (see :func:`gql_compiled`).
COMPILED: set[Probe] = {compiled_look_ups, compiled_connections, compiled_links}


@pytest.fixture(scope="module")
def gql_compiled(settings: Settings, engine: AsyncEngine) -> GraphQL:
    """Run a query on the compiled path, requiring that every root field was compiled: a probe
    that fell back to the resolvers would test their statements, not the compiler's."""
    executor = Executor(build_schema(), 0, compiled=True)

    async def run(
        query: str, variables: dict[str, Any] | None = None, *, plan: Plan
    ) -> dict[str, Any]:
        context = RequestContext.build(settings, engine, plan)
        try:
            body = await executor.run(executor.prepare(query), variables, None, context)
            answer: dict[str, Any] = orjson.loads(orjson.dumps(body))
            assert sorted(context.compiled_fields) == sorted(answer.get("data") or {}), (
                "not every root field was compiled",
                context.compiled_fields,
            )
            return answer
        finally:
            await context.close()

    return run


@pytest.fixture
def runner(gql_field_by_field: GraphQL, gql_compiled: GraphQL) -> Callable[[Probe], GraphQL]:
    """The path a probe runs on: compiled for :data:`COMPILED`, field by field otherwise."""
    return lambda probe: gql_compiled if probe in COMPILED else gql_field_by_field


#: Every site, and the probes that must notice when it drops its predicate.
SITES: dict[str, list[Probe]] = {
    "loaders.by_key": [look_ups],
    "loaders.by_reference": [references],
    "loaders.grouped": [children, rooms],
    "loaders.pages": [connections],
    "loaders.counts": [connections],
    "lists.root_page": [root_lists],
    "query.reference_list": [references],
    "addresses.grids": [address_grids],
    "filters.linked": [link_filters],
    "events.target": [event_actions],
    "addresses.houses": [address_candidates],
    "addresses.rooms": [address_candidates],
    "addresses.standard": [address_listing],
    "features.areas": [map_layers],
    "features.houses": [map_layers],
    "features.events": [map_layers],
    "features.entities": [map_layers],
    "features.entity_houses": [map_layers],
    "features.people": [map_layers],
    "features.people_houses": [map_layers],
    "features.people_grids": [map_layers],
    "compiled.lookup": [compiled_look_ups],
    "compiled.connection": [compiled_connections],
    "compiled.stats": [compiled_connections],
    "compiled.link": [compiled_links],
    "tasks.list": [task_lists],
    "stats.tasks": [task_stats],
    "stream.events": [stream_deliveries],
    "stats.events": [event_stats],
    "removals.since": [removals],
}
PROBES = sorted({probe for probes in SITES.values() for probe in probes}, key=lambda p: p.__name__)


@pytest.mark.usefixtures("_probe_view", "_probe_tasks", "_probe_removals")
@pytest.mark.parametrize("probe", PROBES, ids=lambda p: p.__name__)
async def test_every_probe_passes_with_every_predicate(
    runner: Callable[[Probe], GraphQL], probe: Probe
) -> None:
    await probe(runner(probe))


@pytest.mark.usefixtures("_probe_view", "_probe_tasks", "_probe_removals")
@pytest.mark.parametrize("site", sorted(SITES))
async def test_removing_one_sites_predicate_fails_a_probe(
    runner: Callable[[Probe], GraphQL], monkeypatch: pytest.MonkeyPatch, site: str
) -> None:
    kept = scoping.row_scope
    removed: list[str] = []

    def without(
        plan: Plan, named: str, resource: str, column: ColumnElement[str] | None
    ) -> list[ColumnElement[bool]]:
        if named == site:
            removed.append(resource)
            return []
        return kept(plan, named, resource, column)

    monkeypatch.setattr(scoping, "row_scope", without)
    failed = []
    for probe in SITES[site]:
        try:
            await probe(runner(probe))
        except AssertionError as error:
            failed.append((probe.__name__, error))
    assert removed, f"no probe of {site} reached it"
    assert failed, f"no probe noticed that {site} dropped its row predicate"


# -- the list is complete -----------------------------------------------------------------------


def _calls(root: Path = ROOT) -> tuple[Counter[str], list[str]]:
    """Every site named in the code under ``root`` (with how often), and every call that
    takes a plan's predicate some other way.

    A site is the second argument of a ``row_scope`` call, a string literal: of the helper,
    ``row_scope(plan, site, resource, column)``, and of ``RequestContext.row_scope(resource,
    site)``, which alone may pass its own ``site`` on. A plan's predicate is taken some other
    way by ``X.rows(resource, column)`` (the ``Plan`` method) or by ``rows`` of one resource's
    plan (``plan.resource(...)``, ``plan.resources[...]``, ``plan.of_type(...)``), anywhere
    outside ``policies``.
    """
    sites: Counter[str] = Counter()
    stray: list[str] = []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            where = path.relative_to(root).as_posix()
            for node in ast.walk(ast.parse(path.read_text(), where)):
                if not isinstance(node, ast.Call) or not isinstance(
                    node.func, ast.Attribute | ast.Name
                ):
                    continue
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else func.id
                if name == "row_scope":
                    site = node.args[1] if len(node.args) > 1 else None
                    if isinstance(site, ast.Constant) and isinstance(site.value, str):
                        sites[site.value] += 1
                    elif not (
                        isinstance(site, ast.Name)
                        and site.id == "site"
                        and where == "resolvers/context.py"
                    ):
                        stray.append(f"{where}:{node.lineno} names no site: {ast.unparse(node)}")
                elif name == "rows" and isinstance(func, ast.Attribute):
                    owner = ast.unparse(func.value)
                    of_plan = len(node.args) == 2 or any(
                        part in owner for part in ("resource(", "resources[", "of_type(")
                    )
                    if of_plan and not where.startswith("policies/"):
                        stray.append(f"{where}:{node.lineno} {ast.unparse(node)}")
    return sites, stray


def test_every_site_in_the_code_is_listed_once_and_none_bypasses_the_helper() -> None:
    sites, stray = _calls()
    assert stray == []
    assert sorted(sites) == sorted(SITES)
    assert [site for site, n in sites.items() if n > 1] == []


def test_the_scan_finds_a_new_site_and_every_bypass(tmp_path: Path) -> None:
    """The scan is not blind: in a copy of a package with a new loader added, it finds the
    loader's site, a site that is not a literal, and predicates taken around the helper."""
    for package in PACKAGES:
        (tmp_path / package).mkdir()
    (tmp_path / "resolvers" / "new.py").write_text(
        """
async def load(context, plan, resource, name):
    a = context.row_scope(resource, "loaders.new")
    b = scoping.row_scope(plan, "compiled.people", "people", column)
    c = context.row_scope(resource, name)
    d = plan.rows("people", column)
    e = plan.of_type("Person").rows(column)
    f = await context.rows(statement)
"""
    )
    sites, stray = _calls(tmp_path)
    assert sites == Counter({"loaders.new": 1, "compiled.people": 1})
    assert [line.split(" ", 1)[0] for line in stray] == [
        "resolvers/new.py:5",
        "resolvers/new.py:6",
        "resolvers/new.py:7",
    ]
