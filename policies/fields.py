"""The one declaration of every shared field: its resource, data tier and masking rule.

The access-plan compiler, the GraphQL layer, the catalogue and the audit recorder all read this
table; nothing restates a tier or a mask elsewhere, and a test fails when a schema field has no
declaration here (or a declaration names a field the schema does not have).

Tiers follow the Data Security Law's levels (``docs/permissions.md``, "Tiers"): 1 public,
2 internal, 3 sensitive, 4 core. A field's masking rule says what a MASK decision shows instead
of the value. Relations (``Person.house``) and lists (``Grid.houses``) are declared too: their
tier is that of the link itself; the rows at the other end are governed by their own resource's
rules. Global ids are public: they reveal nothing beyond a row the caller can already see.

Provenance (``updatedAt``, ``sources``) is declared like any field. ``updatedAt`` has the tier of
the type's plainest data (public for houses and entities, internal for people, rooms and
events); ``sources`` is internal, and sensitive for people and rooms: the feed that last set a
person can be a register (civil affairs' disability register) that says as much as a care tag.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType


class Tier(enum.IntEnum):
    PUBLIC = 1
    INTERNAL = 2
    SENSITIVE = 3
    CORE = 4


class Mask(enum.StrEnum):
    """What a MASK decision shows (the functions live in ``policies.masking``)."""

    NONE = "none"  # nothing to hide: MASK shows the value (public-tier fields)
    ID_NUMBER = "id_number"  # first 6 and last 4: 440306********1234
    PHONE = "phone"  # first 3 and last 4: 138****5678
    NAME = "name"  # first character: 张*, 欧阳**
    ROOM = "room"  # the room part hidden, the building kept
    CARE_TAGS = "care_tags"  # only the tags of the internal tier (the age tags)
    WITHHOLD = "withhold"  # no masked form (a date, a link): null, without an error


@dataclass(frozen=True, slots=True)
class FieldSpec:
    resource: str
    name: str  # the GraphQL name
    tier: Tier
    mask: Mask = Mask.WITHHOLD
    #: For fields whose values differ in sensitivity (care tags): the tier of each value.
    value_tiers: Mapping[str, Tier] = field(default_factory=lambda: MappingProxyType({}))


#: GraphQL type → resource name (the same names as ``store.models`` tables and ``resolvers``).
RESOURCE_OF_TYPE: Mapping[str, str] = MappingProxyType(
    {
        "Grid": "grids",
        "GridStats": "grids",
        "House": "houses",
        "Room": "rooms",
        "Person": "people",
        "Entity": "entities",
        "Event": "events",
        "Matter": "matters",
        "Department": "departments",
    }
)

T1, T2, T3, T4 = Tier.PUBLIC, Tier.INTERNAL, Tier.SENSITIVE, Tier.CORE

CARE_TAG_TIERS: Mapping[str, Tier] = MappingProxyType(
    {
        "elderly_70": T2,
        "elderly_80": T2,
        "elderly_alone": T3,
        "disabled": T3,
        "low_income": T3,
        "left_behind_child": T3,
        "key_person": T4,
        "community_correction": T4,
        "severe_mental_disorder": T4,
    }
)

_DECLARED: dict[str, dict[str, tuple[Tier, Mask]]] = {
    "Grid": {
        "id": (T1, Mask.NONE),
        "code": (T1, Mask.NONE),
        "name": (T1, Mask.NONE),
        "level": (T1, Mask.NONE),
        "geometry": (T1, Mask.NONE),
        "parent": (T1, Mask.NONE),
        "children": (T1, Mask.NONE),
        "stats": (T1, Mask.NONE),
        "houses": (T1, Mask.NONE),
        "people": (T1, Mask.NONE),
        "entities": (T1, Mask.NONE),
        "events": (T1, Mask.NONE),
    },
    "GridStats": {
        "houses": (T1, Mask.NONE),
        "people": (T2, Mask.WITHHOLD),
        "entities": (T1, Mask.NONE),
        "events": (T2, Mask.WITHHOLD),
        "openEvents": (T2, Mask.WITHHOLD),
    },
    "House": {
        "id": (T1, Mask.NONE),
        "code": (T1, Mask.NONE),
        "address": (T1, Mask.NONE),
        "use": (T2, Mask.WITHHOLD),
        "floors": (T1, Mask.NONE),
        "builtYear": (T1, Mask.NONE),
        "gridCode": (T1, Mask.NONE),
        "location": (T1, Mask.NONE),
        "grid": (T1, Mask.NONE),
        "rooms": (T2, Mask.WITHHOLD),
        "residents": (T2, Mask.WITHHOLD),
        "entities": (T1, Mask.NONE),
        "events": (T2, Mask.WITHHOLD),
        "updatedAt": (T1, Mask.NONE),
        "sources": (T2, Mask.WITHHOLD),
        "history": (T2, Mask.WITHHOLD),
    },
    "Room": {
        "code": (T3, Mask.ROOM),
        "number": (T3, Mask.ROOM),
        "floor": (T2, Mask.WITHHOLD),
        "areaM2": (T2, Mask.WITHHOLD),
        "residents": (T3, Mask.WITHHOLD),
        "updatedAt": (T2, Mask.WITHHOLD),
        "sources": (T3, Mask.WITHHOLD),
        "history": (T2, Mask.WITHHOLD),
    },
    "Person": {
        "id": (T1, Mask.NONE),
        "name": (T2, Mask.NAME),
        "idNumber": (T3, Mask.ID_NUMBER),
        "phone": (T3, Mask.PHONE),
        "gender": (T2, Mask.WITHHOLD),
        "birthDate": (T3, Mask.WITHHOLD),
        "age": (T2, Mask.WITHHOLD),
        "registration": (T2, Mask.WITHHOLD),
        "residenceKind": (T2, Mask.WITHHOLD),
        "careTags": (T3, Mask.CARE_TAGS),
        "gridCode": (T1, Mask.NONE),
        "grid": (T1, Mask.NONE),
        "house": (T2, Mask.WITHHOLD),
        "room": (T3, Mask.WITHHOLD),
        "employer": (T2, Mask.WITHHOLD),
        "updatedAt": (T2, Mask.WITHHOLD),
        "sources": (T3, Mask.WITHHOLD),
        "history": (T2, Mask.WITHHOLD),
    },
    "Entity": {
        "id": (T1, Mask.NONE),
        "creditCode": (T1, Mask.NONE),
        "name": (T1, Mask.NONE),
        "type": (T1, Mask.NONE),
        "industry": (T1, Mask.NONE),
        "status": (T1, Mask.NONE),
        "establishedOn": (T1, Mask.NONE),
        "registeredAddress": (T1, Mask.NONE),
        "gridCode": (T1, Mask.NONE),
        "grid": (T1, Mask.NONE),
        "house": (T1, Mask.NONE),
        "legalRepresentative": (T2, Mask.WITHHOLD),
        "employees": (T2, Mask.WITHHOLD),
        "updatedAt": (T1, Mask.NONE),
        "sources": (T2, Mask.WITHHOLD),
        "history": (T2, Mask.WITHHOLD),
    },
    "Event": {
        "id": (T1, Mask.NONE),
        "source": (T2, Mask.WITHHOLD),
        "categoryCode": (T2, Mask.WITHHOLD),
        "category": (T2, Mask.WITHHOLD),
        "description": (T2, Mask.WITHHOLD),
        "status": (T2, Mask.WITHHOLD),
        "reporter": (T3, Mask.NAME),
        "gridCode": (T1, Mask.NONE),
        "grid": (T1, Mask.NONE),
        "house": (T2, Mask.WITHHOLD),
        "location": (T2, Mask.WITHHOLD),
        "handlingDepartmentCode": (T2, Mask.WITHHOLD),
        "handlingDepartment": (T2, Mask.WITHHOLD),
        "reportedAt": (T2, Mask.WITHHOLD),
        "dispatchedAt": (T2, Mask.WITHHOLD),
        "closedAt": (T2, Mask.WITHHOLD),
        "deadline": (T2, Mask.WITHHOLD),
        "overdue": (T2, Mask.WITHHOLD),
        "occurredAt": (T2, Mask.WITHHOLD),
        "acceptedAt": (T2, Mask.WITHHOLD),
        "resolvedAt": (T2, Mask.WITHHOLD),
        "onTime": (T2, Mask.WITHHOLD),
        "supervisions": (T2, Mask.WITHHOLD),
        "history": (T2, Mask.WITHHOLD),
        "updatedAt": (T2, Mask.WITHHOLD),
        "sources": (T2, Mask.WITHHOLD),
        "changes": (T2, Mask.WITHHOLD),
    },
    "Matter": {
        "code": (T1, Mask.NONE),
        "name": (T1, Mask.NONE),
        "departmentCode": (T1, Mask.NONE),
        "department": (T1, Mask.NONE),
        "timeLimitHours": (T1, Mask.NONE),
        "level": (T1, Mask.NONE),
    },
    "Department": {
        "code": (T1, Mask.NONE),
        "name": (T1, Mask.NONE),
        "shortName": (T1, Mask.NONE),
    },
}


def _build() -> Mapping[str, Mapping[str, FieldSpec]]:
    fields: dict[str, Mapping[str, FieldSpec]] = {}
    for type_name, declared in _DECLARED.items():
        resource = RESOURCE_OF_TYPE[type_name]
        fields[type_name] = MappingProxyType(
            {
                name: FieldSpec(
                    resource,
                    name,
                    tier,
                    mask,
                    CARE_TAG_TIERS if (type_name, name) == ("Person", "careTags") else {},
                )
                for name, (tier, mask) in declared.items()
            }
        )
    return MappingProxyType(fields)


#: GraphQL type name → GraphQL field name → its declaration.
FIELDS: Mapping[str, Mapping[str, FieldSpec]] = _build()


def declaration(type_name: str, field_name: str) -> FieldSpec:
    """The declaration of a field; a KeyError here is a field nobody classified (a bug)."""
    return FIELDS[type_name][field_name]
