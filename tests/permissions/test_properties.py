"""Properties that must hold for any principal and any query: no row outside the principal's
areas, no unmasked value of a field the principal may not read.

Principals are drawn at random (a few rules over random resources, field selections, areas at
every level, ``own`` with random assigned areas, and acts), compiled into a plan, and asked
random queries drawn from the schema's lists, filters, single look-ups and nested paths. The
answers are checked against an oracle written from the rule language's definition, not from
the plan compiler (``tests/permissions/oracle.py``), on the compiled plan with every id shown
(``Traced``: a row outside the plan has every field refused, so only its id can name it).
Principals often carve a sub-area out of what their other rules show, and the queries read
every link and list, so every statement that applies a row predicate runs under such plans.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from demo import District
from policies.masking import id_number, name, phone
from policies.plan import AccessPlan
from policies.principal import Principal
from policies.rules import Act, Rule
from resolvers.ids import from_global_id, to_global_id
from tests.conftest import GraphQL
from tests.permissions.oracle import (
    DISTRICT,
    ROWS,
    Drawn,
    Oracle,
    Traced,
    assert_no_row_outside,
    objects,
)

RESOURCES = [
    "people",
    "houses",
    "rooms",
    "entities",
    "events",
    "grids",
    "departments",
    "matters",
    "*",
]
TIERS = ["*", "tier:1", "tier:2", "tier:3", "tier:4"]
#: Field selections by resource: tiers everywhere; names only where the resource has them.
FIELD_CHOICES = {
    "people": [*TIERS, "name", "idNumber|phone", "id|name"],
    "*": [*TIERS, "name", "idNumber|phone", "id|name"],
    "rooms": [*TIERS, "floor"],
    "departments": [*TIERS, "code"],
    "matters": [*TIERS, "code"],
}
PERSON = "id name idNumber phone"
#: A room's selection: rooms have no id; the oracle places them by the object they hang from.
ROOM = "__typename floor residents(first: 5) { totalCount edges { node { %P } } }"
#: Between them the templates read every link and every list of the shared data: each root
#: list, each single look-up, ``Grid.children``, ``Grid.parent``, ``House.rooms``,
#: ``Person.room``, ``Room.residents``, ``Entity.employees`` and every connection, with their
#: counts, and the reference rows (departments, matters) an event links to.
TEMPLATES = [
    "query($f: PersonFilter) { people(first: 100, filter: $f) { edges { node { %P } } } }",
    """query($f: HouseFilter) { houses(first: 60, filter: $f) { edges { node { id
        residents(first: 20) { edges { node { %P employer { id
          house { id residents(first: 5) { edges { node { %P } } } } } } } } } } } }""",
    """query($code: String!) { grid(code: $code) {
        houses(first: 50) { edges { node { id residents(first: 20) { edges { node { %P } } } } } }
        people(first: 50) { edges { node { %P house { id } } } } } }""",
    """query($id: ID!) { node(id: $id) { ... on Person { %P house { id
        residents(first: 10) { edges { node { %P } } } } employer { id } } } }""",
    """query($f: EntityFilter) { entities(first: 50, filter: $f) { edges { node { id
        legalRepresentative { %P } employees(first: 20) { edges { node { %P } } } } } } }""",
    """query($f: EventFilter) { events(first: 50, filter: $f) { edges { node { id
        house { id residents(first: 10) { edges { node { %P } } } } } } } }""",
    """query($code: String!) { grid(code: $code) { id parent { id }
        children { id children { id children { id } } }
        stats { houses people entities events openEvents } } }""",
    """query { grids(first: 50) { totalCount edges { node { id parent { id }
        children { id houses(first: 5) { totalCount edges { node { id } } } } } } } }""",
    """query($code: String!) { grid(code: $code) {
        houses(first: 20) { totalCount edges { node { id rooms { %R }
          entities(first: 5) { totalCount edges { node { id } } }
          events(first: 5) { totalCount edges { node { id } } } } } }
        entities(first: 20) { totalCount edges { node { id
          employees(first: 10) { totalCount edges { node { %P } } } } } }
        events(first: 20) { totalCount edges { node { id
          handlingDepartment { __typename } category { __typename
            department { __typename } } } } } } }""",
    """query($f: HouseFilter) { houses(first: 40, filter: $f) { totalCount edges { node { id
        grid { id } rooms { %R } residents(first: 10) { totalCount edges { node { %P
          room { %R } grid { id } } } } } } } }""",
    """query($f: PersonFilter) { people(first: 60, filter: $f) { totalCount edges { node { %P
        room { %R } house { id rooms { %R } } employer { id house { id } grid { id } } } } } }""",
    "query { departments { __typename } matters { __typename } }",
]
MASKS = {"name": name, "idNumber": id_number, "phone": phone}
RAW = {"name": "name", "idNumber": "id_number", "phone": "phone"}


def _area_codes(district: District) -> list[str]:
    return [str(g["code"]) for g in district.grids]


def _principals(district: District) -> st.SearchStrategy[Drawn]:
    codes = _area_codes(district)
    area = st.sampled_from([*codes, "own", "*", "*", *codes[:3]])
    # Rules over every resource ("*") more often: they show the rows the links lead to.
    selection = st.sampled_from([*RESOURCES, "*", "*"]).flatmap(
        lambda resource: st.tuples(
            st.just(resource), st.sampled_from(FIELD_CHOICES.get(resource, [*TIERS, "id"]))
        )
    )
    rule = st.builds(
        lambda chosen, where, act: Rule.make("p", "*", chosen[0], chosen[1], where, act),
        selection,
        area,
        st.sampled_from([Act.READ, Act.READ, Act.MASK, Act.DENY]),
    )
    return st.builds(
        Drawn,
        st.lists(rule, min_size=1, max_size=4).flatmap(lambda rules: _carved(rules, codes)),
        st.lists(st.sampled_from(codes), max_size=3, unique=True).map(tuple),
        st.sampled_from([None, "elderly_care"]),
    )


def _carved(rules: list[Rule], codes: list[str]) -> st.SearchStrategy[tuple[Rule, ...]]:
    """``rules`` and one or two carve-outs: a sub-area of a showing rule's area taken out of
    that rule's resource (a DENY of every field removes the rows), so that a statement without
    the row predicate would show rows under an area the answer does show."""
    showing = [r for r in rules if r.act is not Act.DENY]
    if not showing:
        return st.just(tuple(rules))

    def carve(rule: Rule) -> st.SearchStrategy[Rule]:
        inner = [c for c in codes if rule.area in ("*", "own") or c.startswith(rule.area)]
        inner = [c for c in inner if c != rule.area] or inner
        return st.sampled_from(inner).map(
            lambda where: Rule.make("p", "*", rule.resource, "*", where, Act.DENY)
        )

    carves = st.lists(st.sampled_from(showing).flatmap(carve), min_size=1, max_size=2)
    return carves.map(lambda extra: (*rules, *extra))


def _variables(district: District, query: str) -> st.SearchStrategy[dict[str, Any]]:
    codes = _area_codes(district)
    if "$code" in query:
        # Areas with areas under them, more often: their children and lists are longer.
        parents = [c for c in codes if any(o.startswith(c) and o != c for o in codes)]
        return st.fixed_dictionaries({"code": st.sampled_from([*codes, *parents, *parents])})
    if "$id" in query:
        people = district.people
        return st.fixed_dictionaries(
            {
                "id": st.integers(0, len(people) - 1).map(
                    lambda i: to_global_id("Person", people[i]["id"])
                )
            }
        )
    filters: list[dict[str, Any] | None] = [None, *({"areaCode": code} for code in codes)]
    if "PersonFilter" in query:
        filters += [{"gender": "FEMALE"}, {"minAge": 60}, {"careTag": "ELDERLY_ALONE"}]
    return st.fixed_dictionaries({"f": st.sampled_from(filters)})


def _cases() -> st.SearchStrategy[tuple[Drawn, str, dict[str, Any]]]:
    """A principal, a query and its variables (over :data:`DISTRICT`; no argument, so the
    strategy's description stays short)."""
    district = DISTRICT
    queries = [template.replace("%R", ROOM).replace("%P", PERSON) for template in TEMPLATES]
    return st.tuples(
        _principals(district),
        st.sampled_from(queries).flatmap(
            lambda query: st.tuples(st.just(query), _variables(district, query))
        ),
    ).map(lambda case: (case[0], *case[1]))


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(case=_cases())
async def test_no_row_outside_the_plan_and_no_unmasked_value(
    gql: GraphQL, case: tuple[Drawn, str, dict[str, Any]]
) -> None:
    """(The district comes from :data:`DISTRICT`, not the fixture: a failing example's report
    prints the test's arguments.)"""
    drawn, query, variables = case
    plan = AccessPlan(
        Principal("p", "person", None, (), drawn.areas), drawn.purpose, 0, (), drawn.rules
    )
    body = await gql(query, variables, plan=Traced(plan))
    oracle = Oracle(drawn)
    assert_no_row_outside(oracle, body)
    for type_name, key, grid, obj in objects(body.get("data")):
        if type_name != "Person":
            continue
        row = ROWS["Person"][key]
        for field_name, mask in MASKS.items():
            raw = row[RAW[field_name]]
            value = obj.get(field_name)
            if value is None or raw is None or value != raw or mask(raw) == raw:
                continue
            assert oracle.readable("Person", field_name, grid), (field_name, raw)


async def test_an_id_allowed_without_its_key_field_still_names_the_row(gql: GraphQL) -> None:
    """Found by the property test: a plan allowing ``House.id`` but refusing ``House.code``
    (or a room code masked) must give the row's own id, not one built from the refusal."""
    rules = (
        Rule.make("p", "*", "houses", "id|address|residents", "*"),
        Rule.make("p", "*", "entities", "id|name", "*"),
        Rule.make("p", "*", "people", "id|name", "*"),
    )
    plan = AccessPlan(Principal("p", "person", None, (), ()), None, 0, (), rules)
    body = await gql(
        """{ houses(first: 1) { edges { node { id address
               residents(first: 1) { edges { node { id } } } } } }
             entities(first: 1) { edges { node { id name } } } }""",
        plan=plan,
    )
    house = body["data"]["houses"]["edges"][0]["node"]
    entity = body["data"]["entities"]["edges"][0]["node"]
    again = await gql(
        "query($h: ID!, $e: ID!) { h: node(id: $h) { id } e: node(id: $e) { id } }",
        {"h": house["id"], "e": entity["id"]},
        plan=plan,
    )
    assert again["data"] == {"h": {"id": house["id"]}, "e": {"id": entity["id"]}}
    assert "<" not in str(from_global_id(house["id"])) + str(from_global_id(entity["id"]))
    assert house["residents"]["edges"], "the house's residents come from its key, not its code"
