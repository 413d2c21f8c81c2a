"""The schema and resolvers apply whatever plan the request carries: rows in SQL, fields per row.

These tests use a small hand-made plan (one street's rows; some person fields refused), so
they pin the mechanism independently of how policies are compiled.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import ColumnElement

from demo import District
from policies.areas import under_area
from policies.field_rules import Decision, FieldRules
from policies.fields import FIELDS
from policies.plan import AccessPlan
from policies.principal import Principal
from policies.rules import Act, Rule
from resolvers.ids import to_global_id
from tests.conftest import GraphQL, StatementCounter
from tests.support import data_of, error_codes, nodes

STREET = "440306001"
PERSON = {
    "name": Decision.ALLOW,
    "gender": Decision.MASK,  # no masked form: null, no error
    "phone": Decision.DENY,
    "birthDate": Decision.PURPOSE_REQUIRED,
    "careTags": Decision.ALLOW,
    "house": Decision.DENY,
}


class StreetPlan:
    """Rows of one street only; on people, the decisions above (the rest ALLOW)."""

    def __init__(self, person: dict[str, Decision], care_reach: int | None = None) -> None:
        self._rules = {
            type_name: FieldRules(type_name, dict.fromkeys(fields, Decision.ALLOW))
            for type_name, fields in FIELDS.items()
        }
        decisions = {**dict.fromkeys(FIELDS["Person"], Decision.ALLOW), **person}
        reach = {} if care_reach is None else {"careTags": care_reach}
        self._rules["Person"] = FieldRules("Person", decisions, reach)

    def rows(self, resource: str, column: ColumnElement[str]) -> ColumnElement[bool] | None:
        return (
            None if resource in ("grids", "matters", "departments") else under_area(column, STREET)
        )

    def rules(self, type_name: str, grid_code: str | None) -> FieldRules:
        return self._rules[type_name]

    def filterable(self, type_name: str, field_name: str, value_tier: int | None = None) -> bool:
        rules = self._rules[type_name]
        reach = rules.reach.get(field_name)
        within = value_tier is None or reach is None or value_tier <= reach
        return rules.of(field_name) is Decision.ALLOW and within

    def needs_purpose(self, type_name: str, field_name: str) -> bool:
        return self._rules[type_name].of(field_name) is Decision.PURPOSE_REQUIRED


@pytest.fixture(scope="module")
def plan() -> StreetPlan:
    return StreetPlan(PERSON)


def _in_street(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rows if r["grid_code"].startswith(STREET)]


async def test_lists_and_counts_hold_only_the_plans_rows(
    gql: GraphQL, district: District, plan: StreetPlan
) -> None:
    body = await gql(
        """{ people(first: 500) { totalCount edges { node { gridCode } } }
             houses(first: 500) { totalCount } events(first: 500) { totalCount }
             grid(code: "440306") { stats { people houses entities events } } }""",
        plan=plan,
    )
    data = data_of(body)
    assert data["people"]["totalCount"] == len(_in_street(district.people))
    assert {n["gridCode"][:9] for n in nodes(data["people"])} == {STREET}
    assert data["houses"]["totalCount"] == len(_in_street(district.houses))
    assert data["events"]["totalCount"] == len(_in_street(district.events))
    assert data["grid"]["stats"] == {
        "people": len(_in_street(district.people)),
        "houses": len(_in_street(district.houses)),
        "entities": len(_in_street(district.entities)),
        "events": len(_in_street(district.events)),
    }


async def test_a_row_outside_the_plan_answers_as_one_that_does_not_exist(
    gql: GraphQL, district: District, plan: StreetPlan
) -> None:
    outside = next(p for p in district.people if not p["grid_code"].startswith(STREET))
    house = next(h for h in district.houses if not h["grid_code"].startswith(STREET))
    body = await gql(
        """query($p: ID!, $h: String!, $n: ID!) { person(id: $p) { name }
            house(code: $h) { code } node(id: $n) { id } }""",
        {
            "p": to_global_id("Person", outside["id"]),
            "h": house["code"],
            "n": to_global_id("Person", outside["id"]),
        },
        plan=plan,
    )
    assert data_of(body) == {"person": None, "house": None, "node": None}


async def test_refused_fields_are_null_with_their_codes_at_their_paths(
    gql: GraphQL, district: District, plan: StreetPlan
) -> None:
    person = next(p for p in _in_street(district.people) if p["phone"])
    body = await gql(
        """query($id: ID!) { person(id: $id) { name gender phone birthDate house { code } } }""",
        {"id": to_global_id("Person", person["id"])},
        plan=plan,
    )
    assert body["data"]["person"] == {
        "name": person["name"],
        "gender": None,
        "phone": None,
        "birthDate": None,
        "house": None,
    }
    by_path = {tuple(e["path"]): e["extensions"]["code"] for e in body["errors"]}
    assert by_path == {
        ("person", "phone"): "FORBIDDEN",
        ("person", "birthDate"): "PURPOSE_REQUIRED",
        ("person", "house"): "FORBIDDEN",
    }
    assert person["phone"] not in str(body)
    assert person["birth_date"].isoformat() not in str(body)


async def test_following_links_never_leaves_the_plan(
    gql_without_limits: GraphQL, district: District
) -> None:
    """house → residents → employer → house → residents: an employer in another street is
    simply not there."""
    plan = StreetPlan({})
    people = {p["id"]: p for p in district.people}
    entities = {e["credit_code"]: e for e in district.entities}
    body = await gql_without_limits(
        """{ houses(first: 500) { edges { node { residents(first: 50) { edges { node {
            gridCode employer { gridCode house { gridCode residents(first: 50) {
              edges { node { gridCode } } } } } } } } } } } }""",
        plan=plan,
    )
    data = data_of(body)
    seen: list[str] = []
    employers_outside = 0
    for house in nodes(data["houses"]):
        for resident in nodes(house["residents"]):
            seen.append(resident["gridCode"])
            employer = resident["employer"]
            if employer is not None:
                seen.append(employer["gridCode"])
                seen += [n["gridCode"] for n in nodes(employer["house"]["residents"])]
    for person in _in_street(list(people.values())):
        code = person["employer_code"]
        if code and not entities[code]["grid_code"].startswith(STREET):
            employers_outside += 1
    assert seen
    assert all(code.startswith(STREET) for code in seen)
    assert employers_outside > 0, "the district must have links that cross the street"


async def test_an_area_carved_out_of_the_plan_is_not_among_its_parents_children(
    gql: GraphQL,
) -> None:
    """A plan that shows a street but carves out one of its communities (and the grids under
    it): the street's children are its other communities, the district's children the street
    alone, and the carved community is not there, not even as an error at its place."""
    rules = (
        Rule.make("p", "*", "*", "*", STREET, Act.READ),
        Rule.make("p", "*", "grids", "*", f"{STREET}001", Act.DENY),
    )
    plan = AccessPlan(Principal("p", "person", None, (), ()), None, 0, (), rules)
    body = await gql(
        """{ street: grid(code: "440306001") { children { code children { code } } }
             carved: grid(code: "440306001001") { code }
             grids(first: 100) { edges { node { code children { code } } } } }""",
        plan=plan,
    )
    data = data_of(body)
    assert data["street"]["children"] == [
        {
            "code": f"{STREET}002",
            "children": [{"code": f"{STREET}002001"}, {"code": f"{STREET}002002"}],
        }
    ]
    assert data["carved"] is None
    shown = {n["code"] for n in nodes(data["grids"])}
    assert shown == {STREET, f"{STREET}002", f"{STREET}002001", f"{STREET}002002"}
    listed = {c["code"] for n in nodes(data["grids"]) for c in n["children"]}
    assert listed == shown - {STREET}


async def test_filtering_on_a_field_not_allowed_is_refused_before_any_sql(
    gql: GraphQL, plan: StreetPlan, statements: StatementCounter
) -> None:
    with statements:
        body = await gql('{ people(filter: {bornFrom: "1950-01-01"}) { totalCount } }', plan=plan)
    assert error_codes(body) == ["PURPOSE_REQUIRED"]  # birthDate: a purpose would allow it
    assert statements.statements == []
    for filter_, code in (
        ("{minAge: 70}", "PURPOSE_REQUIRED"),  # reads birthDate too
        ("{gender: FEMALE}", "FORBIDDEN"),  # masked: no purpose unmasks it
        ('{houseCode: "x"}', "FORBIDDEN"),  # denied
    ):
        body = await gql(f"{{ people(filter: {filter_}) {{ totalCount }} }}", plan=plan)
        assert error_codes(body) == [code], filter_


async def test_care_tags_beyond_the_reach_are_left_out(gql: GraphQL, district: District) -> None:
    tagged = [p for p in _in_street(district.people) if "key_person" in p["care_tags"]]
    assert tagged, "the district has a key person in the street"
    query = """query($id: ID!) { person(id: $id) { careTags } }"""
    variables = {"id": to_global_id("Person", tagged[0]["id"])}
    reach_3 = data_of(await gql(query, variables, plan=StreetPlan({}, care_reach=3)))
    reach_4 = data_of(await gql(query, variables, plan=StreetPlan({}, care_reach=4)))
    assert "KEY_PERSON" not in reach_3["person"]["careTags"]
    assert "KEY_PERSON" in reach_4["person"]["careTags"]


def test_every_filter_names_the_declared_fields_it_reads() -> None:
    """A filter the plan check does not know would let a refused field be bisected."""
    from graphql import GraphQLInputObjectType

    from resolvers.filters import CHANGED_SINCE, CLAUSES, FILTERED_FIELDS, TYPE_OF_RESOURCE
    from schema import build_schema
    from schema.guard import python_name

    schema = build_schema()._schema
    for resource, type_name in TYPE_OF_RESOURCE.items():
        filter_type = schema.type_map[f"{type_name}Filter"]
        assert isinstance(filter_type, GraphQLInputObjectType)
        names = {python_name(field) for field in filter_type.fields}
        # and the root list's ``changedSince``, checked and frozen like a filter field
        names.add(CHANGED_SINCE)
        assert names == set(FILTERED_FIELDS[resource])
        assert names <= set(CLAUSES[resource])
        for read in FILTERED_FIELDS[resource].values():
            assert set(read) <= set(FIELDS[type_name]), (resource, read)
