"""A filter on a link tests only what the caller can read of it.

``people(filter: {employerCode: X})`` reads ``Person.employer``; for a grid worker an employer
in another grid does not exist (``employer`` and ``entity(...)`` answer null), so the filter
must not find the residents it employs — or it would confirm the link the worker cannot see.
"""

from __future__ import annotations

from demo import District
from tests.conftest import GraphQL
from tests.support import data_of

GRID = "440306001001001"
WORKER = f"worker-{GRID}"
PEOPLE = """query($f: PersonFilter) { people(filter: $f, first: 100) {
    totalCount edges { node { gridCode employer { creditCode } } } } }"""


def _employed_elsewhere(district: District) -> tuple[str, str]:
    """A resident of the worker's grid and the credit code of their employer in another grid."""
    grid_of = {e["credit_code"]: e["grid_code"] for e in district.entities}
    person = next(
        p
        for p in district.people
        if p["grid_code"] == GRID
        and p["employer_code"]
        and not grid_of[p["employer_code"]].startswith(GRID)
    )
    return person["id"], person["employer_code"]


async def test_an_employer_code_outside_the_workers_grid_finds_nobody(
    gql: GraphQL, district: District
) -> None:
    _, code = _employed_elsewhere(district)
    entity = await gql(
        "query($c: String!) { entity(creditCode: $c) { name } }", {"c": code}, as_=WORKER
    )
    assert data_of(entity) == {"entity": None}
    body = await gql(PEOPLE, {"f": {"employerCode": code}}, as_=WORKER)
    assert data_of(body)["people"] == {"totalCount": 0, "edges": []}
    # the same resident is there for an unfiltered list, with no employer shown
    everyone = data_of(await gql(PEOPLE, as_=WORKER))["people"]
    assert everyone["totalCount"] > 0


async def test_an_employer_code_inside_the_grid_still_finds_its_employees(
    gql: GraphQL, district: District
) -> None:
    inside = {e["credit_code"] for e in district.entities if e["grid_code"] == GRID}
    employees = [
        p for p in district.people if p["grid_code"] == GRID and p["employer_code"] in inside
    ]
    assert employees, "the district must give the worker's residents employers in the grid"
    code = employees[0]["employer_code"]
    expected = sum(1 for p in employees if p["employer_code"] == code)
    body = await gql(PEOPLE, {"f": {"employerCode": code}}, as_=WORKER)
    people = data_of(body)["people"]
    assert people["totalCount"] == expected
    assert {n["node"]["employer"]["creditCode"] for n in people["edges"]} == {code}


async def test_a_nested_list_filtered_on_an_unseen_employer_is_empty_too(
    gql: GraphQL, district: District
) -> None:
    _, code = _employed_elsewhere(district)
    query = """query($g: String!, $f: PersonFilter) { grid(code: $g) {
        people(filter: $f) { totalCount } } }"""
    body = await gql(query, {"g": GRID, "f": {"employerCode": code}}, as_=WORKER)
    assert data_of(body)["grid"]["people"]["totalCount"] == 0


async def test_an_app_without_houses_finds_nobody_by_house_code(
    gql: GraphQL, district: District
) -> None:
    """Civil affairs holds people but no houses: ``house`` answers null, and so the filter on
    it finds nobody rather than confirming who lives where."""
    person = next(p for p in district.people if p["house_code"])
    query = """query($f: PersonFilter) { people(filter: $f, first: 5) {
        totalCount edges { node { house { code } } } } }"""
    app = "civil-affairs-app"
    everyone = data_of(await gql(query, as_=app, purpose="elderly_care"))["people"]
    assert everyone["totalCount"] > 0
    assert all(edge["node"]["house"] is None for edge in everyone["edges"])
    filtered = await gql(query, {"f": {"houseCode": person["house_code"]}}, as_=app)
    assert data_of(filtered)["people"] == {"totalCount": 0, "edges": []}
