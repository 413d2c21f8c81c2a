"""Nested fields are batched: the statement count does not grow with the number of rows.

These are the field-by-field path's tests (its loaders), so they run with compiled reads off;
the compiled path answers a root field with one statement (``tests/resolvers``)."""

from __future__ import annotations

import pytest

from demo import District
from tests.conftest import GraphQL, StatementCounter
from tests.support import data_of, nodes

NESTED = """query($code: String!, $houses: Int!, $residents: Int!) { grid(code: $code) {
    houses(first: $houses) { totalCount edges { node { code
      residents(first: $residents) { totalCount edges { node { name
        employer { name house { code } } } } } } } } } }"""


async def _count(
    gql_field_by_field: GraphQL,
    statements: StatementCounter,
    code: str,
    houses: int,
    residents: int,
) -> tuple[int, int]:
    with statements:
        data = data_of(
            await gql_field_by_field(
                NESTED, {"code": code, "houses": houses, "residents": residents}
            )
        )
    people = sum(len(nodes(h["residents"])) for h in nodes(data["grid"]["houses"]))
    return len(statements.statements), people


@pytest.mark.parametrize("level", ["street", "grid"])
async def test_statement_count_does_not_grow_with_rows(
    gql_field_by_field: GraphQL, statements: StatementCounter, district: District, level: str
) -> None:
    code = next(g["code"] for g in district.grids if g["level"] == level)
    small, few_people = await _count(gql_field_by_field, statements, code, 2, 1)
    large, many_people = await _count(gql_field_by_field, statements, code, 60, 20)
    assert many_people > 10 * few_people
    # grid, houses, house count, residents, resident counts, employers, employers' houses
    assert small == large == 7


async def test_siblings_share_one_statement(
    gql_field_by_field: GraphQL, statements: StatementCounter, district: District
) -> None:
    streets = [g["code"] for g in district.grids if g["level"] == "street"]
    query = " ".join(
        f'g{i}: grid(code: "{code}") {{ stats {{ houses people }} children {{ code }} }}'
        for i, code in enumerate(streets)
    )
    with statements:
        data_of(await gql_field_by_field("{ " + query + " }"))
    # grids by code, children, house counts, people counts
    assert len(statements.statements) == 4
