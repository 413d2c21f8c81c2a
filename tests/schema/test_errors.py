"""Bad input gets a clear error with a stable code; unknown keys are simply null."""

from __future__ import annotations

import base64

import pytest

from demo import District
from resolvers.ids import to_global_id
from tests.conftest import GraphQL
from tests.support import data_of, error_codes


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        ('{ grid(code: "440306999") { code } }', {}),
        ('{ grid(code: "not a code") { code } }', {}),
        ('{ house(code: "0000") { code } }', {}),
        ('{ entity(creditCode: "91440300MA5XXXXXXX") { name } }', {}),
        ("query($id: ID!) { person(id: $id) { name } }", {"id": to_global_id("Person", 10**9)}),
        ("query($id: ID!) { event(id: $id) { id } }", {"id": to_global_id("Event", 10**9)}),
        ("query($id: ID!) { node(id: $id) { id } }", {"id": to_global_id("House", "nope")}),
    ],
)
async def test_an_unknown_key_is_null(gql: GraphQL, query: str, variables: dict[str, str]) -> None:
    data = data_of(await gql(query, variables))
    assert list(data.values()) == [None]


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        # malformed ids
        ("query($id: ID!) { person(id: $id) { name } }", {"id": "42"}),
        ("query($id: ID!) { person(id: $id) { name } }", {"id": "!!!"}),
        (
            "query($id: ID!) { person(id: $id) { name } }",
            {"id": base64.b64encode(b"Person:abc").decode()},
        ),
        (
            "query($id: ID!) { node(id: $id) { id } }",
            {"id": base64.b64encode(b"Secret:1").decode()},
        ),
        # the id of another type
        ("query($id: ID!) { person(id: $id) { name } }", {"id": to_global_id("Event", 1)}),
        # unknown enum values, as a literal and as a variable
        ("{ grids(level: PROVINCE) { totalCount } }", {}),
        ("query($l: AreaLevel) { grids(level: $l) { totalCount } }", {"l": "PROVINCE"}),
        ('{ houses(filter: {use: "castle"}) { totalCount } }', {}),
        # values of the wrong type
        ('{ people(first: "ten") { totalCount } }', {}),
        ("query($f: Int) { people(first: $f) { totalCount } }", {"f": "ten"}),
        ('{ people(filter: {bornFrom: "yesterday"}) { totalCount } }', {}),
        # area codes that cannot be one
        ('{ houses(filter: {areaCode: "4403"}) { totalCount } }', {}),
        ('{ houses(filter: {areaCode: "440306%"}) { totalCount } }', {}),
        ('{ grids(parentCode: "abc") { totalCount } }', {}),
        # times without a zone, negative ages
        ('{ events(filter: {reportedFrom: "2026-01-01T00:00:00"}) { totalCount } }', {}),
        ("{ people(filter: {minAge: -1}) { totalCount } }", {}),
    ],
)
async def test_bad_input_is_bad_user_input(
    gql: GraphQL, query: str, variables: dict[str, str]
) -> None:
    body = await gql(query, variables)
    assert error_codes(body) == ["BAD_USER_INPUT"], body
    assert not body.get("data") or list(body["data"].values()) == [None]
    assert "Traceback" not in str(body)


async def test_a_syntax_error_is_a_parse_failure(gql: GraphQL) -> None:
    body = await gql("{ grid(code: ")
    assert error_codes(body) == ["GRAPHQL_PARSE_FAILED"]
    assert "data" not in body


async def test_an_unknown_field_is_a_validation_failure(gql: GraphQL) -> None:
    body = await gql('{ grid(code: "440306") { secret } }')
    assert error_codes(body) == ["GRAPHQL_VALIDATION_FAILED"]
    assert "data" not in body


async def test_an_unknown_operation_name_is_a_bad_request(gql: GraphQL) -> None:
    body = await gql("query A { departments { code } }", operation_name="B")
    assert error_codes(body) == ["BAD_REQUEST"]


async def test_one_bad_field_does_not_lose_the_rest(gql: GraphQL, district: District) -> None:
    body = await gql(
        """query($c: String!) { grid(code: $c) { name } people(first: 9999) { totalCount } }""",
        {"c": district.grids[0]["code"]},
    )
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert body["data"]["grid"]["name"] == district.grids[0]["name"]
    assert body["data"]["people"] is None


@pytest.mark.parametrize("argument", ["reportedFrom", "reportedBefore"])
async def test_an_error_names_the_argument_as_the_client_wrote_it(
    gql: GraphQL, argument: str
) -> None:
    body = await gql(
        f'{{ events(filter: {{{argument}: "2026-01-01T00:00:00"}}) {{ totalCount }} }}'
    )
    assert error_codes(body) == ["BAD_USER_INPUT"]
    message = body["errors"][0]["message"]
    assert f"`{argument}`" in message
    assert "_" not in message.split("(")[0], message
