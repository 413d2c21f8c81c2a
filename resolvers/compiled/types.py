"""The shared types the compiler builds, as columns: which GraphQL field reads which column,
which lists hang under an object, and the tag its rows carry in the audit facts.

Only what is listed here is compiled; any other field sends its root field the field-by-field
way (``schema/`` is the reference for what each field means).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from resolvers.loaders import AREA
from resolvers.resources import ENTITIES, GRIDS, HOUSES, PEOPLE, Resource


class Kind(enum.Enum):
    RAW = "raw"  # the column as it is (text, integers, ISO dates)
    ENUM = "enum"  # a stored value shown by its GraphQL name (``residential`` → RESIDENTIAL)


@dataclass(frozen=True, slots=True)
class TypeSpec:
    name: str
    resource: Resource
    #: Letter marking the type's rows in the audit facts the statement returns.
    tag: str
    scalars: Mapping[str, tuple[str, Kind]]
    #: Connection fields: GraphQL field → (node type, relation: a column or ``AREA``).
    connections: Mapping[str, tuple[str, str]]
    #: Links to one object: GraphQL field → (its type, the column holding its key).
    links: Mapping[str, tuple[str, str]]


TYPES: Mapping[str, TypeSpec] = MappingProxyType(
    {
        "Grid": TypeSpec(
            "Grid",
            GRIDS,
            "G",
            {"code": ("code", Kind.RAW), "name": ("name", Kind.RAW), "level": ("level", Kind.ENUM)},
            {
                "houses": ("House", AREA),
                "people": ("Person", AREA),
                "entities": ("Entity", AREA),
            },
            {},
        ),
        "House": TypeSpec(
            "House",
            HOUSES,
            "H",
            {
                "code": ("code", Kind.RAW),
                "address": ("address", Kind.RAW),
                "use": ("use", Kind.ENUM),
                "floors": ("floors", Kind.RAW),
                "builtYear": ("built_year", Kind.RAW),
                "gridCode": ("grid_code", Kind.RAW),
            },
            {"residents": ("Person", "house_code"), "entities": ("Entity", "house_code")},
            {"grid": ("Grid", "grid_code")},
        ),
        "Person": TypeSpec(
            "Person",
            PEOPLE,
            "P",
            {
                "name": ("name", Kind.RAW),
                "idNumber": ("id_number", Kind.RAW),
                "phone": ("phone", Kind.RAW),
                "gender": ("gender", Kind.ENUM),
                "birthDate": ("birth_date", Kind.RAW),
                "registration": ("registration", Kind.ENUM),
                "residenceKind": ("residence_kind", Kind.ENUM),
                "gridCode": ("grid_code", Kind.RAW),
            },
            {},
            {
                "house": ("House", "house_code"),
                "grid": ("Grid", "grid_code"),
                "employer": ("Entity", "employer_code"),
            },
        ),
        "Entity": TypeSpec(
            "Entity",
            ENTITIES,
            "E",
            {
                "creditCode": ("credit_code", Kind.RAW),
                "name": ("name", Kind.RAW),
                "type": ("type", Kind.ENUM),
                "industry": ("industry", Kind.RAW),
                "status": ("status", Kind.ENUM),
                "establishedOn": ("established_on", Kind.RAW),
                "registeredAddress": ("registered_address", Kind.RAW),
                "gridCode": ("grid_code", Kind.RAW),
            },
            {"employees": ("Person", "employer_code")},
            {
                "house": ("House", "house_code"),
                "grid": ("Grid", "grid_code"),
                "legalRepresentative": ("Person", "legal_representative_id"),
            },
        ),
    }
)
TYPE_OF_TAG = {spec.tag: spec.name for spec in TYPES.values()}

#: Root fields: connections over a resource, and single look-ups by key argument.
ROOT_LISTS: Mapping[str, str] = MappingProxyType(
    {"houses": "House", "people": "Person", "entities": "Entity"}
)
ROOT_LOOKUPS: Mapping[str, tuple[str, str]] = MappingProxyType(
    {"grid": ("Grid", "code"), "house": ("House", "code"), "entity": ("Entity", "creditCode")}
)
