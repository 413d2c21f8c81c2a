"""A denied link answers the same whatever it points at: FORBIDDEN on every row.

If a denied link answered FORBIDDEN only where it had a target and a silent null elsewhere, the
errors alone would tell which people have an employer, a house or a room — the very fact the
rule denies."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import ColumnElement

from demo import District
from policies.field_rules import Decision, FieldRules
from policies.fields import FIELDS
from tests.conftest import GraphQL

#: Every link that may be empty on some rows, by type.
LINKS = {
    "Person": ("employer", "house", "room"),
    "Entity": ("legalRepresentative", "house"),
    "Event": ("house",),
    "Grid": ("parent",),
}


class DeniedLinks:
    """Every row; every field allowed but the links above."""

    def __init__(self) -> None:
        self._rules = {
            type_name: FieldRules(
                type_name,
                {
                    name: Decision.DENY if name in LINKS.get(type_name, ()) else Decision.ALLOW
                    for name in fields
                },
            )
            for type_name, fields in FIELDS.items()
        }

    def rows(self, resource: str, column: ColumnElement[str] | None) -> None:
        return None

    def rules(self, type_name: str, grid_code: str | None) -> FieldRules:
        return self._rules[type_name]

    def filterable(self, type_name: str, field_name: str, value_tier: int | None = None) -> bool:
        return self._rules[type_name].of(field_name) is Decision.ALLOW

    def needs_purpose(self, type_name: str, field_name: str) -> bool:
        return False


QUERIES = {
    "people": "{ people(first: 500) { edges { node { employer { name } house { code }"
    " room { code } } } } }",
    "entities": "{ entities(first: 500) { edges { node { legalRepresentative { name }"
    " house { code } } } } }",
    "events": "{ events(first: 500) { edges { node { house { code } } } } }",
    "grids": '{ grid(code: "440306") { parent { code } children { parent { code } } } }',
}


def _forbidden_paths(body: dict[str, Any]) -> set[tuple[str | int, ...]]:
    return {
        tuple(error["path"])
        for error in body.get("errors", [])
        if error["extensions"]["code"] == "FORBIDDEN"
    }


@pytest.mark.parametrize("list_name", ["people", "entities", "events"])
async def test_a_denied_link_is_forbidden_on_every_row_empty_or_not(
    gql: GraphQL, district: District, list_name: str
) -> None:
    body = await gql(QUERIES[list_name], plan=DeniedLinks())
    edges = body["data"][list_name]["edges"]
    type_name = {"people": "Person", "entities": "Entity", "events": "Event"}[list_name]
    expected = {
        (list_name, "edges", index, "node", link)
        for index in range(len(edges))
        for link in LINKS[type_name]
    }
    assert len(edges) > 50
    assert all(value is None for edge in edges for value in edge["node"].values())
    assert _forbidden_paths(body) == expected


async def test_the_districts_denied_parent_is_forbidden_like_its_childrens(gql: GraphQL) -> None:
    body = await gql(QUERIES["grids"], plan=DeniedLinks())
    children = body["data"]["grid"]["children"]
    expected = {("grid", "parent")} | {
        ("grid", "children", index, "parent") for index in range(len(children))
    }
    assert _forbidden_paths(body) == expected
