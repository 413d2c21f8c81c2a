"""Every filter a user would reach for, checked against the district it was seeded from."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from demo import District
from resolvers.filters import age_on
from resolvers.ids import to_global_id
from tests.conftest import GraphQL
from tests.support import data_of

KEYS = {"houses": "code", "people": "id", "entities": "creditCode", "events": "id"}
ROW_KEYS = {"houses": "code", "people": "id", "entities": "credit_code", "events": "id"}
FILTER_TYPES = {
    "houses": "HouseFilter",
    "people": "PersonFilter",
    "entities": "EntityFilter",
    "events": "EventFilter",
}
NODE_NAMES = {"people": "Person", "events": "Event"}
TODAY = datetime.now(ZoneInfo("Asia/Shanghai")).date()


async def _keys(gql: GraphQL, resource: str, filter_: dict[str, Any]) -> tuple[int, list[Any]]:
    """All keys of a filtered root list (walking its pages) and its totalCount."""
    query = f"""query($f: {FILTER_TYPES[resource]}, $after: String) {{
        {resource}(filter: $f, first: 500, after: $after) {{
          totalCount pageInfo {{ hasNextPage endCursor }} edges {{ node {{ {KEYS[resource]} }} }}
        }} }}"""
    keys: list[Any] = []
    after = None
    while True:
        page = data_of(await gql(query, {"f": filter_, "after": after}))[resource]
        keys += [edge["node"][KEYS[resource]] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return page["totalCount"], keys
        after = page["pageInfo"]["endCursor"]


def _expected(
    district: District, resource: str, keep: Callable[[dict[str, Any]], bool]
) -> list[Any]:
    rows = sorted(
        (r for r in getattr(district, resource) if keep(r)), key=lambda r: r[ROW_KEYS[resource]]
    )
    if resource in NODE_NAMES:
        return [to_global_id(NODE_NAMES[resource], r["id"]) for r in rows]
    return [r[ROW_KEYS[resource]] for r in rows]


def _first(district: District, resource: str, column: str) -> Any:
    return next(r[column] for r in getattr(district, resource) if r[column])


def _cases(
    district: District,
) -> list[tuple[str, dict[str, Any], Callable[[dict[str, Any]], bool]]]:
    house = next(
        h for h in district.houses if any(p["house_code"] == h["code"] for p in district.people)
    )
    firm_house = next(
        h for h in district.houses if any(e["house_code"] == h["code"] for e in district.entities)
    )
    employer = _first(district, "people", "employer_code")
    industry = district.entities[0]["industry"]
    category = district.events[0]["category_code"]
    department = district.events[0]["handling_department_code"]
    middle = sorted(e["reported_at"] for e in district.events)[len(district.events) // 2]
    return [
        ("houses", {"use": "URBAN_VILLAGE"}, lambda r: r["use"] == "urban_village"),
        ("houses", {"minFloors": 8, "maxFloors": 20}, lambda r: 8 <= r["floors"] <= 20),
        ("houses", {"addressContains": "社区"}, lambda r: "社区" in r["address"]),
        ("houses", {"addressContains": "%"}, lambda r: "%" in r["address"]),
        ("people", {"houseCode": house["code"]}, lambda r: r["house_code"] == house["code"]),
        ("people", {"gender": "FEMALE"}, lambda r: r["gender"] == "female"),
        ("people", {"registration": "LOCAL"}, lambda r: r["registration"] == "local"),
        ("people", {"residenceKind": "DORMITORY"}, lambda r: r["residence_kind"] == "dormitory"),
        ("people", {"employerCode": employer}, lambda r: r["employer_code"] == employer),
        ("people", {"careTag": "ELDERLY_80"}, lambda r: "elderly_80" in r["care_tags"].split(",")),
        ("people", {"careTag": "DISABLED"}, lambda r: "disabled" in r["care_tags"].split(",")),
        ("people", {"minAge": 60}, lambda r: age_on(r["birth_date"], TODAY) >= 60),
        ("people", {"maxAge": 17}, lambda r: age_on(r["birth_date"], TODAY) <= 17),
        (
            "people",
            {"minAge": 30, "maxAge": 30},
            lambda r: age_on(r["birth_date"], TODAY) == 30,
        ),
        (
            "people",
            {"bornFrom": "1956-12-01", "bornTo": "1956-12-31"},
            lambda r: date(1956, 12, 1) <= r["birth_date"] <= date(1956, 12, 31),
        ),
        ("entities", {"status": "ABNORMAL"}, lambda r: r["status"] == "abnormal"),
        ("entities", {"type": "INDIVIDUAL"}, lambda r: r["type"] == "individual"),
        ("entities", {"industry": industry}, lambda r: r["industry"] == industry),
        ("entities", {"nameContains": "有限公司"}, lambda r: "有限公司" in r["name"]),
        (
            "entities",
            {"houseCode": firm_house["code"]},
            lambda r: r["house_code"] == firm_house["code"],
        ),
        ("events", {"status": "CLOSED"}, lambda r: r["status"] == "closed"),
        ("events", {"open": True}, lambda r: r["status"] not in ("resolved", "closed")),
        ("events", {"open": False}, lambda r: r["status"] in ("resolved", "closed")),
        ("events", {"source": "HOTLINE_12345"}, lambda r: r["source"] == "hotline_12345"),
        ("events", {"categoryCode": category}, lambda r: r["category_code"] == category),
        (
            "events",
            {"handlingDepartmentCode": department},
            lambda r: r["handling_department_code"] == department,
        ),
        (
            "events",
            {"reportedFrom": middle.isoformat()},
            lambda r: r["reported_at"] >= middle,
        ),
        (
            "events",
            {"reportedBefore": middle.astimezone(ZoneInfo("Asia/Shanghai")).isoformat()},
            lambda r: r["reported_at"] < middle,
        ),
        (
            "events",
            {
                "reportedFrom": (middle - timedelta(days=30)).isoformat(),
                "reportedBefore": middle.isoformat(),
                "open": False,
            },
            lambda r: (
                middle - timedelta(days=30) <= r["reported_at"] < middle
                and r["status"] in ("resolved", "closed")
            ),
        ),
    ]


@pytest.mark.parametrize("case", range(29))
async def test_filter_returns_exactly_the_matching_rows(
    gql: GraphQL, district: District, case: int
) -> None:
    cases = _cases(district)
    assert len(cases) == 29, "keep the parametrisation in step with the cases"
    resource, filter_, keep = cases[case]
    total, keys = await _keys(gql, resource, filter_)
    expected = _expected(district, resource, keep)
    assert keys == expected, (resource, filter_)
    assert total == len(expected)


def test_the_filter_cases_are_not_trivial(district: District) -> None:
    """A filter test that matches nothing (or everything) proves little."""
    for resource, filter_, keep in _cases(district):
        matched = sum(keep(r) for r in getattr(district, resource))
        if filter_ == {"addressContains": "%"}:
            assert matched == 0
            continue
        assert 0 < matched, (resource, filter_)


def _area_codes(district: District) -> st.SearchStrategy[str]:
    """Known codes, invented codes of every length, and prefixes padded past every child."""
    known = st.sampled_from(sorted(g["code"] for g in district.grids))
    invented = st.sampled_from([6, 9, 12, 15]).flatmap(
        lambda n: st.text("0123456789", min_size=n, max_size=n)
    )
    padded = known.flatmap(
        lambda code: st.sampled_from([code[:n] + "9" * (len(code) - n) for n in (6, 9, 12)])
    )
    return st.one_of(known, invented, padded)


@pytest.mark.parametrize("resource", ["houses", "people", "entities", "events"])
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
async def test_no_row_outside_the_asked_area(
    gql: GraphQL, district: District, resource: str, data: st.DataObject
) -> None:
    """For any area code, the list holds exactly the rows whose grid code starts with it."""
    code = data.draw(_area_codes(district), label="areaCode")
    query = f"""query($f: {FILTER_TYPES[resource]}) {{ {resource}(filter: $f, first: 500) {{
        totalCount edges {{ node {{ gridCode }} }} }} }}"""
    got = data_of(await gql(query, {"f": {"areaCode": code}}))[resource]
    assert all(e["node"]["gridCode"].startswith(code) for e in got["edges"])
    expected = sum(r["grid_code"].startswith(code) for r in getattr(district, resource))
    assert got["totalCount"] == expected
