"""Browsing the catalogue: anyone authenticated may, every filter holds, and every field's tier,
mask and data type are those of its one declaration and of the schema — never a copy."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from catalog.files import packaged_directory, read_directory
from policies import fields
from policies.fields import FIELDS, Tier, declaration
from schema import build_schema
from store.models import CatalogResource
from tests.conftest import GraphQL
from tests.support import data_of, error_codes

#: One principal of each kind: none of them holds a rule that opens the catalogue.
BROWSERS = [
    "worker-440306001001001",
    "street-440306001",
    "housing-app",
    "officer-housing",
    "cdo",
    "auditor-01",
]
EVERYTHING = """query Catalogue($filter: CatalogFilter) { catalog(filter: $filter) {
    code name summary departmentCode departmentName graphqlType policyResource sharing
    sharingCondition updateFrequency highestTier origin source version
    fields { name description tier mask dataType valueTiers { value tier } }
} }"""
FILES = {r.definition.code: r for r in read_directory(packaged_directory())}


async def _all(gql: GraphQL, as_: str = "auditor-01") -> list[dict[str, Any]]:
    return list(data_of(await gql(EVERYTHING, as_=as_))["catalog"])


@pytest.mark.parametrize("subject", BROWSERS)
async def test_any_principal_browses_the_whole_catalogue(
    gql: GraphQL, engine: AsyncEngine, subject: str
) -> None:
    async with engine.connect() as connection:
        stored = set(await connection.scalars(select(CatalogResource.code)))
    listed = [r["code"] for r in await _all(gql, subject)]
    assert listed == sorted(stored)
    assert set(FILES) <= set(listed)


@pytest.mark.parametrize("subject", BROWSERS)
async def test_any_principal_reads_one_resource(gql: GraphQL, subject: str) -> None:
    body = await gql(
        """{ resource(code: "RK-SF-002") { name departmentCode sharing
            fields { name tier mask } statistics { rowCount } } }""",
        as_=subject,
    )
    resource = data_of(body)["resource"]
    assert resource["name"] == "居民身份号码"
    assert resource["departmentCode"] == "public_security"
    assert resource["sharing"] == "CONDITIONAL"
    assert {"name": "idNumber", "tier": 3, "mask": "ID_NUMBER"} in resource["fields"]
    assert resource["statistics"]["rowCount"] > 0


async def test_an_unknown_code_is_null(gql: GraphQL) -> None:
    assert data_of(await gql('{ resource(code: "XX-NO-999") { code } }', as_="cdo")) == {
        "resource": None
    }


async def test_the_files_resources_are_as_the_files_say(gql: GraphQL) -> None:
    listed = {r["code"]: r for r in await _all(gql)}
    for code, resource in FILES.items():
        definition = resource.definition
        shown = listed[code]
        assert shown["origin"] == "FILE"
        assert shown["source"] == resource.source
        assert shown["name"] == definition.name
        assert shown["departmentCode"] == definition.department
        assert shown["graphqlType"] == definition.graphql_type
        assert shown["sharing"] == definition.sharing.name
        assert shown["sharingCondition"] == definition.sharing_condition
        assert shown["updateFrequency"] == definition.update_frequency.name
        assert [(f["name"], f["description"]) for f in shown["fields"]] == [
            (f.name, f.description) for f in definition.fields
        ]


async def test_every_fields_tier_and_mask_are_its_declaration(gql: GraphQL) -> None:
    for resource in await _all(gql):
        for field in resource["fields"]:
            spec = declaration(resource["graphqlType"], field["name"])
            assert field["tier"] == int(spec.tier), (resource["code"], field["name"])
            assert field["mask"] == spec.mask.name
            assert {v["value"]: v["tier"] for v in field["valueTiers"]} == dict(spec.value_tiers)
        tiers = [
            t
            for f in resource["fields"]
            for t in (f["tier"], *(v["tier"] for v in f["valueTiers"]))
        ]
        assert resource["highestTier"] == max(tiers)


async def test_a_changed_declaration_shows_at_once(
    gql: GraphQL, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing of the tier is stored: change the declaration and the catalogue follows."""
    floors = FIELDS["House"]["floors"]
    house = {**FIELDS["House"], "floors": dataclasses.replace(floors, tier=Tier.SENSITIVE)}
    monkeypatch.setattr(fields, "FIELDS", {**FIELDS, "House": house})
    body = await gql(
        '{ resource(code: "FW-JC-001") { highestTier fields { name tier } } }', as_="cdo"
    )
    resource = data_of(body)["resource"]
    assert {f["name"]: f["tier"] for f in resource["fields"]}["floors"] == 3
    assert resource["highestTier"] == 3


async def test_data_types_come_from_the_schema(gql: GraphQL) -> None:
    schema = build_schema()._schema
    for resource in await _all(gql):
        graphql_type = schema.get_type(resource["graphqlType"])
        for field in resource["fields"]:
            assert field["dataType"] == str(graphql_type.fields[field["name"]].type)  # type: ignore[union-attr]
    types = {
        (r["graphqlType"], f["name"]): f["dataType"] for r in await _all(gql) for f in r["fields"]
    }
    assert types[("Person", "careTags")] == "[CareTag!]"
    assert types[("Person", "idNumber")] == "String"
    assert types[("Event", "reportedAt")] == "DateTime"


def _tiers(type_name: str, field: str) -> set[int]:
    spec = FIELDS[type_name][field]
    return {int(spec.tier), *(int(t) for t in spec.value_tiers.values())}


def _text_in(resource: dict[str, Any], text: str) -> bool:
    haystack = [resource["code"], resource["name"], resource["summary"]]
    haystack += [f["name"] for f in resource["fields"]]
    haystack += [f["description"] for f in resource["fields"]]
    return any(text.lower() in item.lower() for item in haystack)


Predicate = Callable[[dict[str, Any]], bool]
FILTERS: list[tuple[dict[str, Any], Predicate]] = [
    ({"department": "public_security"}, lambda r: r["departmentCode"] == "public_security"),
    ({"department": "grid_office"}, lambda r: r["departmentCode"] == "grid_office"),
    ({"graphqlType": "Person"}, lambda r: r["graphqlType"] == "Person"),
    ({"graphqlType": "Room"}, lambda r: r["graphqlType"] == "Room"),
    ({"sharing": "NOT_SHARED"}, lambda r: r["sharing"] == "NOT_SHARED"),
    ({"sharing": "UNCONDITIONAL"}, lambda r: r["sharing"] == "UNCONDITIONAL"),
    (
        {"tier": 3},
        lambda r: any(3 in _tiers(r["graphqlType"], f["name"]) for f in r["fields"]),
    ),
    (
        {"tier": 4},
        lambda r: any(4 in _tiers(r["graphqlType"], f["name"]) for f in r["fields"]),
    ),
    (
        {"maxTier": 1},
        lambda r: all(max(_tiers(r["graphqlType"], f["name"])) <= 1 for f in r["fields"]),
    ),
    (
        {"maxTier": 2},
        lambda r: all(max(_tiers(r["graphqlType"], f["name"])) <= 2 for f in r["fields"]),
    ),
    ({"text": "rk-jc"}, lambda r: _text_in(r, "rk-jc")),  # a code, in any case
    ({"text": "身份"}, lambda r: _text_in(r, "身份")),  # a name, summaries and descriptions
    ({"text": "一房一码"}, lambda r: _text_in(r, "一房一码")),  # a field's description only
    ({"text": "idNumber"}, lambda r: _text_in(r, "idNumber")),  # a field's name
    ({"text": "100%_"}, lambda r: _text_in(r, "100%_")),  # LIKE wildcards are plain text
    (
        {"department": "public_security", "sharing": "CONDITIONAL", "tier": 3},
        lambda r: (
            r["departmentCode"] == "public_security"
            and r["sharing"] == "CONDITIONAL"
            and any(3 in _tiers(r["graphqlType"], f["name"]) for f in r["fields"])
        ),
    ),
]


@pytest.mark.parametrize(
    ("given", "holds"), FILTERS, ids=[str(sorted(f.items())) for f, _ in FILTERS]
)
async def test_a_filter_lists_exactly_the_resources_it_describes(
    gql: GraphQL, given: dict[str, Any], holds: Predicate
) -> None:
    everything = await _all(gql)
    expected = [r["code"] for r in everything if holds(r)]
    body = await gql(EVERYTHING, {"filter": given}, as_="worker-440306001001001")
    assert [r["code"] for r in data_of(body)["catalog"]] == expected
    if "%" not in str(given):
        assert expected, f"the demo catalogue should have something for {given}"


def test_the_demo_catalogue_covers_the_owning_departments() -> None:
    departments = {r.definition.department for r in FILES.values()}
    assert {
        "public_security",
        "civil_affairs",
        "housing",
        "market_regulation",
        "grid_office",
    } <= departments
    sharing = {r.definition.sharing.name for r in FILES.values()}
    assert sharing == {"UNCONDITIONAL", "CONDITIONAL", "NOT_SHARED"}


@pytest.mark.parametrize(
    ("given", "field"),
    [
        ({"graphqlType": "Citizen"}, "graphqlType"),
        ({"department": "nowhere"}, "department"),
        ({"tier": 5}, "tier"),
        ({"maxTier": 0}, "maxTier"),
    ],
)
async def test_a_filter_on_something_that_does_not_exist_is_refused(
    gql: GraphQL, given: dict[str, Any], field: str
) -> None:
    body = await gql(EVERYTHING, {"filter": given}, as_="cdo")
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert body["errors"][0]["extensions"]["field"] == field


async def test_an_unknown_sharing_attribute_is_bad_input(gql: GraphQL) -> None:
    body = await gql("{ catalog(filter: {sharing: SOMETIMES}) { code } }", as_="cdo")
    assert error_codes(body) == ["BAD_USER_INPUT"]
