"""Every field the API serves is classified once, and only fields that exist are classified."""

from __future__ import annotations

from graphql import GraphQLObjectType

from policies.fields import CARE_TAG_TIERS, FIELDS, RESOURCE_OF_TYPE, Mask, Tier
from schema import build_schema
from schema.addresses import ADDRESS_TYPES
from schema.audit_log import AUDIT_TYPES
from schema.catalog import METADATA_TYPES
from schema.feeds import FEED_TYPES
from schema.grants import GRANT_TYPES
from schema.history import HISTORY_TYPES
from schema.provenance import PROVENANCE_TYPES
from schema.removals import REMOVAL_TYPES
from schema.tasks import TASK_TYPES
from schema.views import VIEW_TYPES
from store.models import CareTag

#: Types of the API's own machinery (and of the caller's own plan), not of the shared data;
#: the catalogue's types describe the data (any principal may read them), they are not data.
#: Mutations are checked by their duty instead (tests/catalog/test_changes.py).
PLUMBING_SUFFIXES = ("Connection", "Edge")
PLUMBING = {"Query", "Mutation", "PageInfo", "Me", "ResourceAccess", "FieldAccess"}
PLUMBING |= METADATA_TYPES | GRANT_TYPES | VIEW_TYPES | FEED_TYPES
#: The address types carry shared data only through House and Room (declared there).
PLUMBING |= ADDRESS_TYPES | {"TaughtAlias", "StandardAddressConnection"}
#: Tasks and corrections are records of work; a record's history shows each change as the plan
#: shows the field it changed (schema.history).
PLUMBING |= TASK_TYPES | HISTORY_TYPES
#: An event's steps are shared only through ``Event.history`` (declared there).
PLUMBING |= {"EventStep"}
#: Subscriptions deliver Events (declared there); eventStats' rows are counts whose grouping,
#: range and area fields are checked against the plan's decisions on Event (events.stats).
PLUMBING |= {"Subscription", "EventStatsRow"}
#: A row's sources are shared only through ``sources`` on its type (declared there); removals
#: are ids of rows gone, cut as the rows of their type (schema.removals).
PLUMBING |= PROVENANCE_TYPES | REMOVAL_TYPES
#: The audit log is no shared data: only auditors read it, under their role (schema.duties).
NOT_SHARED = PLUMBING | AUDIT_TYPES


def _data_types() -> dict[str, GraphQLObjectType]:
    schema = build_schema()._schema
    return {
        name: type_
        for name, type_ in schema.type_map.items()
        if isinstance(type_, GraphQLObjectType)
        and not name.startswith("__")
        and name not in NOT_SHARED
        and not name.endswith(PLUMBING_SUFFIXES)
    }


def test_the_catalogues_types_are_in_the_schema() -> None:
    """A stale name in METADATA_TYPES would let a data type of that name go unclassified."""
    assert METADATA_TYPES <= set(build_schema()._schema.type_map)


def test_every_schema_field_has_a_declaration() -> None:
    missing = [
        f"{type_name}.{field}"
        for type_name, type_ in _data_types().items()
        for field in type_.fields
        if field not in FIELDS.get(type_name, {})
    ]
    assert not missing, f"classify these fields in catalog/fields.py: {missing}"


def test_every_declaration_names_a_schema_field() -> None:
    types = _data_types()
    stale = [
        f"{type_name}.{field}"
        for type_name, declared in FIELDS.items()
        for field in declared
        if type_name not in types or field not in types[type_name].fields
    ]
    assert not stale, f"declared but not in the schema: {stale}"


def test_sensitive_personal_fields_are_sensitive() -> None:
    person = FIELDS["Person"]
    assert person["idNumber"].tier == Tier.SENSITIVE
    assert person["idNumber"].mask == Mask.ID_NUMBER
    assert person["phone"].mask == Mask.PHONE
    assert person["name"].mask == Mask.NAME
    assert person["birthDate"].tier >= Tier.SENSITIVE


def test_every_care_tag_has_a_tier_and_the_core_ones_are_core() -> None:
    assert set(CARE_TAG_TIERS) == {tag.value for tag in CareTag}
    core = {tag for tag, tier in CARE_TAG_TIERS.items() if tier == Tier.CORE}
    assert core == {"key_person", "community_correction", "severe_mental_disorder"}
    assert FIELDS["Person"]["careTags"].value_tiers == CARE_TAG_TIERS


def test_every_type_maps_to_a_resource() -> None:
    assert set(FIELDS) <= set(RESOURCE_OF_TYPE)
