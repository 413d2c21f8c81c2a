"""Every seeded role, through the API: what it sees, what it must not see, and the masked forms.

Each principal runs on the plan a server compiles for it from the rules in the database (the
demo's defaults), so these tests pin the defaults the documentation describes as much as the
mechanism.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import pytest
from casbin import AsyncEnforcer

from demo import District
from policies.access import Access
from policies.masking import id_number, name, phone
from resolvers.ids import to_global_id
from tests.conftest import GraphQL
from tests.support import data_of, error_codes, nodes

GRID = "440306001001001"
COMMUNITY = "440306001001"
STREET = "440306001"
EVERYWHERE = ""
NOWHERE = None

PEOPLE = """query People($filter: PersonFilter) {
  people(first: 500, filter: $filter) { totalCount edges { node {
    id gridCode name idNumber phone gender age birthDate careTags } } } }"""
COUNTS = """{ houses(first: 1) { totalCount } people(first: 1) { totalCount }
  entities(first: 1) { totalCount } events(first: 1) { totalCount } }"""


@dataclass(frozen=True)
class Role:
    """A seeded principal and what it must see: the areas of each resource's rows (a code
    prefix, ``""`` everywhere, None nothing) and the decision on each person field."""

    subject: str
    purpose: str | None
    areas: dict[str, str | None]
    person: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.subject}+{self.purpose}" if self.purpose else self.subject


def _same(area: str | None) -> dict[str, str | None]:
    return dict.fromkeys(("houses", "people", "entities", "events"), area)


WORKER_FIELDS = {
    "name": "allow",
    "gender": "allow",
    "age": "allow",
    "idNumber": "mask",
    "phone": "mask",
    "careTags": "mask",
    "birthDate": "deny",
}
NO_DATA = Role("x", None, _same(NOWHERE))

ROLES = [
    Role(f"worker-{GRID}", None, _same(GRID), WORKER_FIELDS),
    Role(
        f"community-{COMMUNITY}", None, _same(COMMUNITY), {**WORKER_FIELDS, "birthDate": "purpose"}
    ),
    Role(
        f"community-{COMMUNITY}",
        "elderly_care",
        _same(COMMUNITY),
        {**WORKER_FIELDS, "birthDate": "allow"},
    ),
    Role(f"street-{STREET}", None, _same(STREET), {**WORKER_FIELDS, "birthDate": "purpose"}),
    Role(
        "housing-app",
        None,
        # events: the whole district, for the rental-house hazards the matter list sends it
        {"houses": EVERYWHERE, "people": EVERYWHERE, "entities": NOWHERE, "events": EVERYWHERE},
        {"name": "allow", "idNumber": "mask", "phone": "deny", "gender": "deny", "age": "deny"},
    ),
    Role(
        "civil-affairs-app",
        None,
        {"houses": NOWHERE, "people": EVERYWHERE, "entities": NOWHERE, "events": EVERYWHERE},
        {"name": "allow", "age": "allow", "idNumber": "purpose", "careTags": "purpose"},
    ),
    Role(
        "civil-affairs-app",
        "elderly_care",
        {"houses": NOWHERE, "people": EVERYWHERE, "entities": NOWHERE, "events": EVERYWHERE},
        {"name": "allow", "idNumber": "allow", "phone": "allow", "birthDate": "allow"},
    ),
    Role(
        "public-security-app",
        None,
        {"houses": NOWHERE, "people": EVERYWHERE, "entities": NOWHERE, "events": NOWHERE},
        {"name": "allow", "gender": "allow", "idNumber": "purpose", "phone": "deny"},
    ),
    Role(
        "public-security-app",
        "case_handling",
        {"houses": NOWHERE, "people": EVERYWHERE, "entities": NOWHERE, "events": NOWHERE},
        {"idNumber": "allow", "phone": "deny", "careTags": "deny"},
    ),
    Role(
        "emergency-app",
        None,
        {"houses": EVERYWHERE, "people": NOWHERE, "entities": EVERYWHERE, "events": EVERYWHERE},
    ),
    *(
        Role(subject, None, _same(NOWHERE))
        for subject in ("officer-housing", "officer-civil-affairs", "cdo", "auditor-01")
    ),
]


def _under(area: str | None, grid_code: str | None) -> bool:
    return area is not None and grid_code is not None and grid_code.startswith(area)


def _field_errors(body: dict[str, Any]) -> dict[str, set[str]]:
    """Error codes by the field (last path element) they were raised at."""
    found: dict[str, set[str]] = {}
    for error in body.get("errors", []):
        found.setdefault(str(error["path"][-1]), set()).add(error["extensions"]["code"])
    return found


@pytest.mark.parametrize("role", ROLES, ids=str)
async def test_rows_seen_are_exactly_the_roles_areas(
    gql: GraphQL, district: District, role: Role
) -> None:
    data = data_of(await gql(COUNTS, as_=role.subject, purpose=role.purpose))
    for resource, area in role.areas.items():
        expected = sum(1 for row in getattr(district, resource) if _under(area, row["grid_code"]))
        assert data[resource]["totalCount"] == expected, resource
    assert any(v is not None for v in role.areas.values()) or all(
        data[r]["totalCount"] == 0 for r in role.areas
    )


@pytest.mark.parametrize("role", [r for r in ROLES if r.person], ids=str)
async def test_person_fields_are_allowed_masked_or_refused(
    gql: GraphQL, district: District, role: Role
) -> None:
    body = await gql(PEOPLE, as_=role.subject, purpose=role.purpose)
    people = nodes(body["data"]["people"])
    assert people
    raw = {to_global_id("Person", p["id"]): p for p in district.people}
    errors = _field_errors(body)
    for person in people:
        assert _under(role.areas["people"], person["gridCode"])
        source = raw[person["id"]]
        for field_name, decision in role.person.items():
            value = person[field_name]
            if decision in ("deny", "purpose"):
                assert value is None, field_name
                code = "FORBIDDEN" if decision == "deny" else "PURPOSE_REQUIRED"
                assert errors.get(field_name) == {code}, field_name
                continue
            assert field_name not in errors, (field_name, errors.get(field_name))
            if field_name == "name":
                assert value == (source["name"] if decision == "allow" else name(source["name"]))
            elif field_name == "idNumber":
                shown = (
                    source["id_number"] if decision == "allow" else id_number(source["id_number"])
                )
                assert value == shown
            elif field_name == "phone" and source["phone"]:
                assert value == (source["phone"] if decision == "allow" else phone(source["phone"]))
            elif field_name in ("gender", "age", "birthDate"):
                assert value is not None, field_name


async def test_a_grid_worker_sees_masked_forms_in_the_house_style(gql: GraphQL) -> None:
    people = nodes(
        data_of(await gql(PEOPLE.replace("birthDate ", ""), as_=f"worker-{GRID}"))["people"]
    )
    assert people
    for person in people:
        assert re.fullmatch(r"\d{6}\*{8}\d{3}[\dX]", person["idNumber"])
        assert person["phone"] is None or re.fullmatch(r"1\d{2}\*{4}\d{4}", person["phone"])
        assert not person["name"].endswith("*")  # names are tier 2: a worker reads them


async def test_the_core_care_tags_stay_hidden_from_a_masked_reader(
    gql: GraphQL, district: District
) -> None:
    """Care tags are masked to their internal tier for grid workers: the sensitive and core
    tags (disability, special groups) never reach them, the others do."""
    query = (
        "{ people(first: 500, filter: {careTag: ELDERLY_ALONE}) { edges { node { careTags } } } }"
    )
    body = await gql(query, as_=f"street-{STREET}")
    assert error_codes(body) == ["FORBIDDEN"]  # filtering on a masked field is refused
    body = await gql(PEOPLE.replace("birthDate ", ""), as_=f"street-{STREET}")
    shown = {tag for p in nodes(data_of(body)["people"]) for tag in p["careTags"]}
    from policies.fields import CARE_TAG_TIERS, Tier

    stored = {
        tag
        for p in district.people
        if p["grid_code"].startswith(STREET)
        for tag in p["care_tags"].strip(",").split(",")
        if tag
    }
    assert shown <= {t.upper() for t, tier in CARE_TAG_TIERS.items() if tier <= Tier.INTERNAL}
    assert any(CARE_TAG_TIERS[t] > Tier.INTERNAL for t in stored), "the test needs core tags"


async def test_another_grids_person_does_not_exist_for_a_worker(
    gql: GraphQL, district: District
) -> None:
    outside = next(p for p in district.people if not p["grid_code"].startswith(GRID))
    inside = next(p for p in district.people if p["grid_code"] == GRID)
    query = "query($id: ID!) { node(id: $id) { id } }"
    answers = [
        data_of(await gql(query, {"id": to_global_id("Person", p)}, as_=f"worker-{GRID}"))
        for p in (outside["id"], 10_000_000, inside["id"])
    ]
    # Outside the plan answers exactly as a record that does not exist.
    assert answers[0] == answers[1] == {"node": None}
    assert answers[2] == {"node": {"id": to_global_id("Person", inside["id"])}}


async def test_following_links_out_of_the_grid_shows_nothing_there(
    gql_without_limits: GraphQL, district: District
) -> None:
    """house → residents → employer → house → residents: an employer in another grid is not
    there for the worker, so neither are its house and residents."""
    query = """query($code: String!) { grid(code: $code) { houses(first: 500) { edges { node {
        residents(first: 50) { edges { node { gridCode employer {
          gridCode house { gridCode residents(first: 50) { edges { node { gridCode } } } } } } } }
    } } } } }"""
    body = await gql_without_limits(query, {"code": GRID}, as_=f"worker-{GRID}")
    codes: list[str] = []

    def collect(value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if key == "gridCode" and item is not None:
                    codes.append(item)
                collect(item)
        elif isinstance(value, list):
            for item in value:
                collect(item)

    collect(body["data"])
    assert codes
    assert all(code.startswith(GRID) for code in codes)
    employers = {
        p["employer_code"] for p in district.people if p["grid_code"] == GRID and p["employer_code"]
    }
    elsewhere = [
        e for e in district.entities if e["credit_code"] in employers and e["grid_code"] != GRID
    ]
    assert elsewhere, "the district must give the worker's residents employers elsewhere"


async def test_no_shared_data_for_officers_and_the_auditor(gql: GraphQL) -> None:
    query = '{ grid(code: "440306") { name } departments { code } matters { code } }'
    for subject in ("officer-housing", "cdo", "auditor-01"):
        assert data_of(await gql(query, as_=subject)) == {
            "grid": None,
            "departments": [],
            "matters": [],
        }


async def test_me_says_who_and_why(gql: GraphQL) -> None:
    query = """{ me { subject kind department roles areas purpose
        access { resource areas excludedAreas fields { area type field decision } } } }"""
    me = data_of(await gql(query, as_=f"worker-{GRID}"))["me"]
    assert me["subject"] == f"worker-{GRID}"
    assert me["kind"] == "PERSON"
    assert me["department"] == "grid_office"
    assert set(me["roles"]) == {"grid_worker", "reference_reader"}
    assert me["areas"] == [GRID]
    people = next(a for a in me["access"] if a["resource"] == "people")
    assert people["areas"] == [GRID]
    decisions = {f["field"]: f["decision"] for f in people["fields"] if f["type"] == "Person"}
    assert decisions["name"] == "ALLOW"
    assert decisions["idNumber"] == "MASK"
    assert "birthDate" not in decisions  # DENY is not listed


async def test_me_of_an_app_names_its_purpose_and_purpose_bound_fields(gql: GraphQL) -> None:
    query = "{ me { kind purpose access { resource fields { field decision } } } }"
    without = data_of(await gql(query, as_="civil-affairs-app"))["me"]
    with_purpose = data_of(await gql(query, as_="civil-affairs-app", purpose="elderly_care"))["me"]
    assert without["kind"] == "CLIENT"
    assert without["purpose"] is None
    assert with_purpose["purpose"] == "elderly_care"

    def person(me: dict[str, Any]) -> dict[str, str]:
        people = next(a for a in me["access"] if a["resource"] == "people")
        return {f["field"]: f["decision"] for f in people["fields"]}

    assert person(without)["idNumber"] == "PURPOSE_REQUIRED"
    assert person(with_purpose)["idNumber"] == "ALLOW"


async def test_an_unknown_purpose_unlocks_nothing(gql: GraphQL, district: District) -> None:
    body = await gql(PEOPLE, as_="public-security-app", purpose="elderly_care")
    assert _field_errors(body)["idNumber"] == {"PURPOSE_REQUIRED"}


async def test_filtering_on_a_purpose_bound_field_asks_for_the_purpose(gql: GraphQL) -> None:
    """The civil affairs app may filter on a tier-3 care tag for its purpose: without it, the
    refusal says what is missing (PURPOSE_REQUIRED), and declaring it unlocks the filter."""
    query = "{ people(first: 5, filter: {careTag: ELDERLY_ALONE}) { totalCount } }"
    without = await gql(query, as_="civil-affairs-app")
    assert error_codes(without) == ["PURPOSE_REQUIRED"]
    assert without["data"] == {"people": None}
    assert without["errors"][0]["extensions"]["field"] == "careTags"
    with_purpose = await gql(query, as_="civil-affairs-app", purpose="elderly_care")
    assert data_of(with_purpose)["people"]["totalCount"] > 0
    # A purpose unlocks nothing for an app whose access has no purpose-bound care tags.
    refused = await gql(query, as_="public-security-app", purpose="case_handling")
    assert error_codes(refused) == ["FORBIDDEN"]


@pytest.mark.parametrize("tag", ["KEY_PERSON", "COMMUNITY_CORRECTION", "SEVERE_MENTAL_DISORDER"])
async def test_a_core_care_tag_can_not_be_found_by_filtering(gql: GraphQL, tag: str) -> None:
    """The civil affairs app reads care tags up to tier 3: it may not list the holders of a
    core (tier 4) tag by filtering on it, though it never sees the tag itself."""
    query = f"{{ people(first: 5, filter: {{careTag: {tag}}}) {{ totalCount }} }}"
    body = await gql(query, as_="civil-affairs-app", purpose="elderly_care")
    assert error_codes(body) == ["FORBIDDEN"]
    assert body["data"] == {"people": None}


async def test_a_care_tag_within_reach_can_be_filtered_on(gql: GraphQL, district: District) -> None:
    query = "{ people(first: 1, filter: {careTag: ELDERLY_ALONE}) { totalCount } }"
    body = await gql(query, as_="civil-affairs-app", purpose="elderly_care")
    expected = sum(1 for p in district.people if ",elderly_alone," in f",{p['care_tags']},")
    assert expected
    assert data_of(body)["people"]["totalCount"] == expected


async def test_me_lists_each_areas_decisions_once(gql: GraphQL) -> None:
    query = "{ me { access { resource fields { area type field } } } }"
    me = data_of(await gql(query, as_=f"worker-{GRID}"))["me"]
    for resource in me["access"]:
        keys = [(f["area"], f["type"], f["field"]) for f in resource["fields"]]
        assert len(keys) == len(set(keys)), resource["resource"]
        fields = [(f["type"], f["field"]) for f in resource["fields"]]
        if resource["resource"] in ("matters", "departments"):
            assert len(fields) == len(set(fields)), resource["resource"]


async def test_a_cached_plan_asks_the_policy_store_nothing(
    gql: GraphQL, access: Access, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Casbin is asked when a plan is compiled (once per principal and policy version), never
    per request, row or field."""
    query = """{ people(first: 200) { edges { node { name idNumber careTags
        house { address } } } } }"""
    await gql(query, as_=f"street-{STREET}")

    async def refuse(*_: object, **__: object) -> None:
        raise AssertionError("the policy store was asked during a request with a cached plan")

    monkeypatch.setattr(access.store, "rules_for", refuse)
    monkeypatch.setattr(access.store, "roles_of", refuse)
    monkeypatch.setattr(AsyncEnforcer, "enforce", refuse)
    body = await gql(query, as_=f"street-{STREET}")
    assert len(nodes(data_of(body)["people"])) == 200


async def test_me_lists_no_type_twice_for_one_decision(gql: GraphQL) -> None:
    """A grid worker sees area names everywhere and their own grid's statistics: ``Grid`` is
    listed once (under ``*``), and the own grid lists only the statistics it adds."""
    query = "{ me { access { resource fields { area type field decision } } } }"
    me = data_of(await gql(query, as_=f"worker-{GRID}"))["me"]
    grids = next(a for a in me["access"] if a["resource"] == "grids")
    listed = [(f["type"], f["field"], f["decision"]) for f in grids["fields"]]
    assert len(listed) == len(set(listed))
    own = {(f["type"], f["field"]): f["decision"] for f in grids["fields"] if f["area"] == GRID}
    assert own == {
        ("GridStats", "people"): "ALLOW",
        ("GridStats", "events"): "ALLOW",
        ("GridStats", "openEvents"): "ALLOW",
    }
    everywhere = {(f["type"], f["field"]) for f in grids["fields"] if f["area"] == "*"}
    assert ("Grid", "name") in everywhere
    assert ("GridStats", "people") not in everywhere
