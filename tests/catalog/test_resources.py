"""Definitions and the storage map, without a database: what compares equal, what a version
records, and that the map of stored fields keeps up with the declarations and the schema."""

from __future__ import annotations

import dataclasses

from graphql import GraphQLList, GraphQLNonNull, GraphQLObjectType, get_named_type

from catalog.columns import STORED
from catalog.resources import (
    Definition,
    FieldEntry,
    Sharing,
    UpdateFrequency,
    cataloguable_types,
    field_tiers,
    highest_tier,
    problems,
)
from policies.fields import CARE_TAG_TIERS, FIELDS, Tier
from schema import build_schema

PHONES = Definition(
    code="RK-LX-003",
    name="居民联系电话",
    summary="手机号码。",
    department="public_security",
    graphql_type="Person",
    fields=(FieldEntry("id", "人员标识"), FieldEntry("phone", "手机号码")),
    sharing=Sharing.CONDITIONAL,
    sharing_condition="用于紧急联络。",
    update_frequency=UpdateFrequency.DAILY,
)


def test_definitions_that_read_the_same_are_equal() -> None:
    spaced = dataclasses.replace(
        PHONES,
        name=" 居民联系电话\n",
        fields=(FieldEntry(" id", "人员标识 "), FieldEntry("phone", "手机号码")),
    )
    assert spaced == PHONES
    unconditional = dataclasses.replace(
        PHONES, sharing=Sharing.UNCONDITIONAL, sharing_condition="  "
    )
    assert unconditional.sharing_condition is None
    assert dataclasses.replace(PHONES, fields=PHONES.fields[::-1]) != PHONES  # order counts


def test_a_version_records_the_definition_in_the_apis_spelling() -> None:
    assert PHONES.snapshot() == {
        "code": "RK-LX-003",
        "name": "居民联系电话",
        "summary": "手机号码。",
        "department": "public_security",
        "graphqlType": "Person",
        "fields": [
            {"name": "id", "description": "人员标识"},
            {"name": "phone", "description": "手机号码"},
        ],
        "sharing": "CONDITIONAL",
        "sharingCondition": "用于紧急联络。",
        "updateFrequency": "DAILY",
    }


def test_a_field_with_per_value_tiers_holds_each_of_them() -> None:
    assert field_tiers("Person", "careTags") == frozenset(CARE_TAG_TIERS.values())
    assert highest_tier("Person", ["id", "careTags"]) == Tier.CORE
    assert highest_tier("Person", ["id", "phone"]) == Tier.SENSITIVE
    assert highest_tier("Grid", ["code", "name"]) == Tier.PUBLIC


def test_a_good_definition_has_no_problems() -> None:
    assert problems(PHONES, {"public_security"}) == []


def _list_of_rows(field_type: object) -> bool:
    inner = field_type.of_type if isinstance(field_type, GraphQLNonNull) else field_type
    return isinstance(inner, GraphQLList) or get_named_type(inner).name.endswith("Connection")  # type: ignore[arg-type]


def test_every_declared_field_is_stored_or_a_list_of_other_rows() -> None:
    """A new field on a catalogued type must be mapped in catalog/columns.py (or be a list)."""
    schema = build_schema()._schema
    unmapped = []
    for type_name, stored in STORED.items():
        graphql_type = schema.get_type(type_name)
        assert isinstance(graphql_type, GraphQLObjectType)
        assert set(stored.items) <= set(FIELDS[type_name]), type_name
        for name in FIELDS[type_name]:
            if name in stored.items or (type_name, name) == ("Grid", "stats"):  # counts
                continue
            if not _list_of_rows(graphql_type.fields[name].type):
                unmapped.append(f"{type_name}.{name}")
        assert set(stored.changed_at) <= set(stored.items)
    assert not unmapped, f"map these in catalog/columns.py: {unmapped}"


def test_every_stored_type_is_declared() -> None:
    assert set(cataloguable_types()) == set(STORED)
