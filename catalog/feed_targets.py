"""What a feed can fill: for each target, its natural key and the hub fields a source column
can be mapped to, with the kind of value each takes.

Field names are the GraphQL names of the shared type (``idNumber``, ``birthDate``), the names
``row_history`` and ``feed_conflicts`` record, so the plan's decision on a field also cuts its
history. The address column of a feed is not a field here: the matcher places it, and the
house, room and grid it finds fill ``house``, ``room`` and ``gridCode``.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from sqlalchemy import Column, Table

from store.models import (
    CareTag,
    Entity,
    EntityStatus,
    EntityType,
    Gender,
    Person,
    Registration,
    ResidenceKind,
)


class Kind(enum.StrEnum):
    """How a source value is read and checked."""

    TEXT = "text"
    ID_NUMBER = "id_number"  # GB 11643, with its check digit
    CREDIT_CODE = "credit_code"  # GB 32100, with its check characters
    PHONE = "phone"
    DATE = "date"
    ENUM = "enum"
    CARE_TAGS = "care_tags"


@dataclass(frozen=True, slots=True)
class TargetField:
    """A hub field a feed column fills: its column, kind, and what it accepts."""

    name: str
    column: str
    kind: Kind
    max_length: int | None = None
    #: For ENUM: the stored values (lower case), by the upper-case names the API shows.
    values: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Target:
    """A shared table a feed fills."""

    name: str
    graphql_type: str
    table: Table
    #: The natural key's hub field (its column is unique in the table).
    key: str
    #: The table's own primary key column, when it is not the natural key (people: ``id``);
    #: ``row_history``, ``removed_rows`` and ``feed_conflicts`` name rows by it.
    row_key_column: str
    fields: Mapping[str, TargetField]
    #: Fields a new row can not go without (``derived`` ones excepted).
    required: frozenset[str]
    #: Fields read from another field when not mapped (a person's gender and birth date from
    #: the ID number).
    derived: Mapping[str, str]
    #: The columns the matched address fills: house, room (None: the table has no room) and
    #: grid. A new row needs a placed address (its grid).
    house_column: str
    room_column: str | None
    grid_column: str

    def column(self, field: str) -> Column[object]:
        return self.table.c[self.fields[field].column]

    @property
    def key_column(self) -> Column[object]:
        return self.column(self.key)


def _values(kind: type[enum.StrEnum]) -> tuple[str, ...]:
    return tuple(member.value for member in kind)


def _fields(*fields: TargetField) -> Mapping[str, TargetField]:
    return MappingProxyType({f.name: f for f in fields})


PEOPLE = Target(
    name="people",
    graphql_type="Person",
    table=Person.__table__,
    key="idNumber",
    row_key_column="id",
    fields=_fields(
        TargetField("idNumber", "id_number", Kind.ID_NUMBER),
        TargetField("name", "name", Kind.TEXT, 32),
        TargetField("phone", "phone", Kind.PHONE),
        TargetField("gender", "gender", Kind.ENUM, values=_values(Gender)),
        TargetField("birthDate", "birth_date", Kind.DATE),
        TargetField("registration", "registration", Kind.ENUM, values=_values(Registration)),
        TargetField("residenceKind", "residence_kind", Kind.ENUM, values=_values(ResidenceKind)),
        TargetField("careTags", "care_tags", Kind.CARE_TAGS, values=_values(CareTag)),
        TargetField("employer", "employer_code", Kind.CREDIT_CODE),
    ),
    required=frozenset(
        {"idNumber", "name", "gender", "birthDate", "registration", "residenceKind"}
    ),
    derived=MappingProxyType({"gender": "idNumber", "birthDate": "idNumber"}),
    house_column="house_code",
    room_column="room_code",
    grid_column="grid_code",
)

ENTITIES = Target(
    name="entities",
    graphql_type="Entity",
    table=Entity.__table__,
    key="creditCode",
    row_key_column="credit_code",
    fields=_fields(
        TargetField("creditCode", "credit_code", Kind.CREDIT_CODE),
        TargetField("name", "name", Kind.TEXT, 128),
        TargetField("type", "type", Kind.ENUM, values=_values(EntityType)),
        TargetField("industry", "industry", Kind.TEXT, 32),
        TargetField("status", "status", Kind.ENUM, values=_values(EntityStatus)),
        TargetField("establishedOn", "established_on", Kind.DATE),
        TargetField("registeredAddress", "registered_address", Kind.TEXT, 160),
    ),
    required=frozenset(
        {"creditCode", "name", "type", "industry", "status", "establishedOn", "registeredAddress"}
    ),
    derived=MappingProxyType({}),
    house_column="house_code",
    room_column=None,
    grid_column="grid_code",
)

#: The targets feeds fill now, by name.
TARGETS: Mapping[str, Target] = MappingProxyType({t.name: t for t in (PEOPLE, ENTITIES)})

#: Values a new row takes in columns its feed does not map (a resident without care tags).
INSERT_DEFAULTS: Mapping[str, Mapping[str, object]] = MappingProxyType(
    {"people": {"care_tags": ""}, "entities": {}}
)
