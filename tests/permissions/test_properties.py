"""Properties that must hold for any principal and any query: no row outside the principal's
areas, no unmasked value of a field the principal may not read.

Principals are drawn at random (a few rules over random resources, field selections, areas at
every level, ``own`` with random assigned areas, and acts), compiled into a plan, and asked
random queries drawn from the schema's lists, filters, single look-ups and nested paths. The
answers are checked against an oracle written here from the rule language's definition, not
from the plan compiler.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from demo import District, Profile, generate
from policies.fields import FIELDS, RESOURCE_OF_TYPE, Tier
from policies.masking import id_number, name, phone
from policies.plan import AccessPlan
from policies.principal import Principal
from policies.rules import Act, Rule
from resolvers.ids import from_global_id, to_global_id
from tests.conftest import AS_OF, SEED, GraphQL

RESOURCES = ["people", "houses", "entities", "events", "grids", "*"]
TIERS = ["*", "tier:1", "tier:2", "tier:3", "tier:4"]
#: Field selections by resource: tiers everywhere; names only where the resource has them.
FIELD_CHOICES = {
    "people": [*TIERS, "name", "idNumber|phone", "id|name"],
    "*": [*TIERS, "name", "idNumber|phone", "id|name"],
}
PERSON = "id name idNumber phone"
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
]
MASKS = {"name": name, "idNumber": id_number, "phone": phone}
RAW = {"name": "name", "idNumber": "id_number", "phone": "phone"}


@dataclass(frozen=True)
class Drawn:
    rules: tuple[Rule, ...]
    areas: tuple[str, ...]
    purpose: str | None


def _area_codes(district: District) -> list[str]:
    return [str(g["code"]) for g in district.grids]


def _principals(district: District) -> st.SearchStrategy[Drawn]:
    codes = _area_codes(district)
    area = st.sampled_from([*codes, "own", "*"])
    selection = st.sampled_from(RESOURCES).flatmap(
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
        st.lists(rule, min_size=1, max_size=4).map(tuple),
        st.lists(st.sampled_from(codes), max_size=3, unique=True).map(tuple),
        st.sampled_from([None, "elderly_care"]),
    )


def _variables(district: District, query: str) -> st.SearchStrategy[dict[str, Any]]:
    codes = _area_codes(district)
    if "$code" in query:
        return st.fixed_dictionaries({"code": st.sampled_from(codes)})
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


#: The district the session database holds (generation is deterministic), for the strategies.
DISTRICT = generate(SEED, Profile.small(), AS_OF)


def _cases() -> st.SearchStrategy[tuple[Drawn, str, dict[str, Any]]]:
    """A principal, a query and its variables (over :data:`DISTRICT`; no argument, so the
    strategy's description stays short)."""
    district = DISTRICT
    queries = [template.replace("%P", PERSON) for template in TEMPLATES]
    return st.tuples(
        _principals(district),
        st.sampled_from(queries).flatmap(
            lambda query: st.tuples(st.just(query), _variables(district, query))
        ),
    ).map(lambda case: (case[0], *case[1]))


class Oracle:
    """The rule language's meaning, written out plainly for one drawn principal."""

    def __init__(self, drawn: Drawn) -> None:
        self.drawn = drawn

    def _covers(self, area: str, grid_code: str | None) -> bool:
        if area == "*":
            return True
        if grid_code is None:
            return False
        areas = self.drawn.areas if area == "own" else (area,)
        return any(grid_code.startswith(a) for a in areas)

    def _rules(self, resource: str, grid_code: str | None) -> list[Rule]:
        return [
            r
            for r in self.drawn.rules
            if r.resource in (resource, "*") and self._covers(r.area, grid_code)
        ]

    def visible(self, resource: str, grid_code: str | None) -> bool:
        rules = self._rules(resource, grid_code)
        removed = any(r.act is Act.DENY and r.fields == "*" for r in rules)
        return not removed and any(r.act is not Act.DENY for r in rules)

    @staticmethod
    def _selects(rule: Rule, type_name: str, field_name: str) -> bool:
        if rule.fields == "*":
            return True
        if rule.fields.startswith("tier:"):
            return FIELDS[type_name][field_name].tier <= int(rule.fields[5:])
        names = rule.fields.split("|")
        return field_name in names or f"{type_name}.{field_name}" in names

    def readable(self, type_name: str, field_name: str, grid_code: str | None) -> bool:
        """Whether the value itself may be shown (ALLOW)."""
        resource = RESOURCE_OF_TYPE[type_name]
        rules = [
            r for r in self._rules(resource, grid_code) if self._selects(r, type_name, field_name)
        ]
        if any(r.act is Act.DENY for r in rules) or not any(r.act is Act.READ for r in rules):
            return False
        return FIELDS[type_name][field_name].tier < Tier.SENSITIVE or self.drawn.purpose is not None


def _objects(value: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(value, dict):
        if value.get("id") is not None:
            found.append(value)
        for item in value.values():
            found.extend(_objects(item))
    elif isinstance(value, list):
        for item in value:
            found.extend(_objects(item))
    return found


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(case=_cases())
async def test_no_row_outside_the_plan_and_no_unmasked_value(
    gql: GraphQL, case: tuple[Drawn, str, dict[str, Any]]
) -> None:
    """(The district comes from :data:`DISTRICT`, not the fixture: a failing example's report
    prints the test's arguments.)"""
    district = DISTRICT
    drawn, query, variables = case
    plan = AccessPlan(
        Principal("p", "person", None, (), drawn.areas), drawn.purpose, 0, (), drawn.rules
    )
    body = await gql(query, variables, plan=plan)
    oracle = Oracle(drawn)
    rows = {
        "Person": {p["id"]: p for p in district.people},
        "House": {h["code"]: h for h in district.houses},
        "Entity": {e["credit_code"]: e for e in district.entities},
        "Event": {e["id"]: e for e in district.events},
    }
    for obj in _objects(body.get("data")):
        type_name, key = from_global_id(obj["id"])
        row = rows[type_name][key]
        resource = RESOURCE_OF_TYPE[type_name]
        assert oracle.visible(resource, row["grid_code"]), (type_name, key, row["grid_code"])
        if type_name != "Person":
            continue
        for field_name, mask in MASKS.items():
            raw = row[RAW[field_name]]
            value = obj.get(field_name)
            if value is None or raw is None or value != raw or mask(raw) == raw:
                continue
            assert oracle.readable("Person", field_name, row["grid_code"]), (field_name, raw)


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
