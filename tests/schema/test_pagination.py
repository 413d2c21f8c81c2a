"""Cursor pagination: pages join up, edges are right, bad arguments are refused clearly."""

from __future__ import annotations

import pytest

from demo import District
from resolvers.ids import to_global_id
from resolvers.pagination import encode_cursor
from resolvers.resources import EVENTS, HOUSES
from resolvers.resources import PEOPLE as PEOPLE_LIST
from tests.conftest import GraphQL
from tests.support import data_of, error_codes, nodes

PEOPLE = """query($first: Int, $after: String) { people(first: $first, after: $after) {
    totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { id } } } }"""


@pytest.mark.parametrize("size", [1, 37, 500])
async def test_walking_the_pages_visits_every_row_once(
    gql: GraphQL, district: District, size: int
) -> None:
    expected = [
        to_global_id("Person", p["id"]) for p in sorted(district.people, key=lambda p: p["id"])
    ]
    seen: list[str] = []
    after = None
    pages = 0
    while True:
        page = data_of(await gql(PEOPLE, {"first": size, "after": after}))["people"]
        pages += 1
        info = page["pageInfo"]
        assert info["hasPreviousPage"] is (after is not None)
        assert page["totalCount"] == len(expected)
        if page["edges"]:
            assert info["startCursor"] == page["edges"][0]["cursor"]
            assert info["endCursor"] == page["edges"][-1]["cursor"]
        seen += [n["id"] for n in nodes(page)]
        if not info["hasNextPage"]:
            break
        after = info["endCursor"]
        if size == 1 and pages == 50:  # one row a page: fifty pages show the walk joins up
            expected = expected[:50]
            break
    assert seen == expected


async def test_default_page_is_twenty(gql: GraphQL) -> None:
    page = data_of(await gql(PEOPLE))["people"]
    assert len(page["edges"]) == 20
    assert page["pageInfo"]["hasNextPage"] is True


async def test_first_zero_gives_no_edges_but_the_count(gql: GraphQL, district: District) -> None:
    page = data_of(await gql(PEOPLE, {"first": 0}))["people"]
    assert page["edges"] == []
    assert page["pageInfo"] == {
        "hasNextPage": True,
        "hasPreviousPage": False,
        "startCursor": None,
        "endCursor": None,
    }
    assert page["totalCount"] == len(district.people)


async def test_after_the_last_row_is_an_empty_page(gql: GraphQL, district: District) -> None:
    last = max(p["id"] for p in district.people)
    page = data_of(await gql(PEOPLE, {"after": encode_cursor(PEOPLE_LIST, last)}))["people"]
    assert page["edges"] == []
    assert page["pageInfo"]["hasNextPage"] is False


@pytest.mark.parametrize("first", [501, 2_000, -1])
async def test_first_outside_the_limits_is_bad_user_input(gql: GraphQL, first: int) -> None:
    body = await gql(PEOPLE, {"first": first})
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert body["data"] == {"people": None}


async def test_a_first_past_the_cost_limit_is_refused_before_the_list_runs(gql: GraphQL) -> None:
    body = await gql(PEOPLE, {"first": 100_000})
    assert body == {
        "errors": [
            {
                "message": "The query may return more than 10000 objects; ask for smaller pages "
                "(`first`) or fewer nested lists",
                "extensions": {"code": "QUERY_TOO_COSTLY", "maximum": 10000},
            }
        ]
    }


@pytest.mark.parametrize(
    "cursor",
    [
        "not-a-cursor",
        "",
        "YWJj",  # base64 of "abc"
        encode_cursor(EVENTS, 1),  # an events cursor, for the people list
        encode_cursor(PEOPLE_LIST, 1.5),  # type: ignore[arg-type]
    ],
)
async def test_a_bad_cursor_is_bad_user_input(gql: GraphQL, cursor: str) -> None:
    body = await gql(PEOPLE, {"after": cursor})
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert "cursor" in body["errors"][0]["message"]


async def test_nested_connections_paginate_per_parent(gql: GraphQL, district: District) -> None:
    # given the house with the most residents
    counts: dict[str, list[int]] = {}
    for person in district.people:
        counts.setdefault(person["house_code"], []).append(person["id"])
    code, ids = max(counts.items(), key=lambda item: len(item[1]))
    ids.sort()
    assert len(ids) >= 3
    query = """query($code: String!, $after: String) { house(code: $code) {
        residents(first: 2, after: $after) {
          totalCount pageInfo { hasNextPage endCursor } edges { node { id } } } } }"""
    # when its residents are walked two at a time
    seen: list[str] = []
    after = None
    while True:
        page = data_of(await gql(query, {"code": code, "after": after}))["house"]["residents"]
        assert page["totalCount"] == len(ids)
        seen += [n["id"] for n in nodes(page)]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    # then every resident appears once, in id order
    assert seen == [to_global_id("Person", i) for i in ids]


async def test_nested_first_over_the_cap_is_refused(gql: GraphQL, district: District) -> None:
    body = await gql(
        """query($c: String!) { grid(code: $c) { houses(first: 501) { totalCount } } }""",
        {"c": district.grids[0]["code"]},
    )
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert body["errors"][0]["path"] == ["grid", "houses"]


async def test_a_cursor_of_another_list_is_refused(gql: GraphQL, district: District) -> None:
    """Houses and entities both have string keys: the cursor still knows which list it is."""
    houses = data_of(await gql("{ houses(first: 1) { pageInfo { endCursor } } }"))["houses"]
    body = await gql(
        "query($a: String) { entities(after: $a) { totalCount } }",
        {"a": houses["pageInfo"]["endCursor"]},
    )
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert encode_cursor(HOUSES, district.houses[0]["code"]) == houses["pageInfo"]["endCursor"]
