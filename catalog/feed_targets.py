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
    Event,
    EventSource,
    Gender,
    House,
    HouseUse,
    Person,
    Registration,
    ResidenceKind,
    Room,
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
    DATETIME = "datetime"  # a time of day too; without a zone, China Standard Time
    INTEGER = "integer"
    NUMBER = "number"
    #: A code of a list the hub keeps (an event's matter): checked against it at the run.
    CODE = "code"


@dataclass(frozen=True, slots=True)
class TargetField:
    """A hub field a feed column fills: its column, kind, and what it accepts."""

    name: str
    column: str
    kind: Kind
    max_length: int | None = None
    #: For ENUM: the stored values (lower case), by the upper-case names the API shows.
    values: tuple[str, ...] = ()
    #: For INTEGER and NUMBER: the least and greatest value taken.
    bounds: tuple[float, float] | None = None
    #: The GraphQL field ``row_history`` and ``feed_conflicts`` name it by, when not ``name``
    #: (a house's ``lon`` and ``lat`` are its ``location``).
    shown_as: str | None = None

    @property
    def recorded(self) -> str:
        return self.shown_as or self.name


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
    #: The columns the matched address fills: house, room (None: the table has no such
    #: column, or is that table) and grid. A new row needs a placed address (its grid).
    house_column: str | None
    room_column: str | None
    grid_column: str
    #: How the address places a row: ``address`` (the match's house, room and grid: people,
    #: entities), ``building`` (houses: the match must be the row's own building, or its point
    #: lies in a grid), ``room`` (rooms: the row's own room or its building), ``event`` (the
    #: match's house and grid, and the house's point as the event's location).
    placement: str = "address"
    #: Columns a run sets only when it inserts the row (an event's routing: its status,
    #: handling department and deadline are the event workflow's once it exists).
    insert_only: tuple[str, ...] = ()
    #: Columns the run computes for each row besides the mapped ones (staged and written like
    #: them; an event's routing and point).
    computed: tuple[str, ...] = ()

    @property
    def matched_columns(self) -> list[str]:
        """The columns the placed address sets (an event's point follows its house)."""
        found = [c for c in (self.house_column, self.room_column) if c is not None]
        found.append(self.grid_column)
        if self.placement == "event":
            found += ["lon", "lat"]
        return found

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

HOUSES = Target(
    name="houses",
    graphql_type="House",
    table=House.__table__,
    key="code",
    row_key_column="code",
    fields=_fields(
        TargetField("code", "code", Kind.TEXT, 24),
        TargetField("address", "address", Kind.TEXT, 160),
        TargetField("use", "use", Kind.ENUM, values=_values(HouseUse)),
        TargetField("floors", "floors", Kind.INTEGER, bounds=(1, 200)),
        TargetField("builtYear", "built_year", Kind.INTEGER, bounds=(1900, 2100)),
        TargetField("lon", "lon", Kind.NUMBER, bounds=(-180, 180), shown_as="location"),
        TargetField("lat", "lat", Kind.NUMBER, bounds=(-90, 90), shown_as="location"),
    ),
    required=frozenset({"code", "address", "use", "floors", "lon", "lat"}),
    derived=MappingProxyType({}),
    house_column=None,
    room_column=None,
    grid_column="grid_code",
    placement="building",
)

ROOMS = Target(
    name="rooms",
    graphql_type="Room",
    table=Room.__table__,
    key="code",
    row_key_column="code",
    fields=_fields(
        TargetField("code", "code", Kind.TEXT, 32),
        TargetField("number", "number", Kind.TEXT, 8),
        TargetField("floor", "floor", Kind.INTEGER, bounds=(-5, 200)),
        TargetField("areaM2", "area_m2", Kind.NUMBER, bounds=(1, 10_000)),
    ),
    required=frozenset({"code", "number", "floor", "areaM2"}),
    derived=MappingProxyType({}),
    house_column="house_code",
    room_column=None,
    grid_column="grid_code",
    placement="room",
)

#: An event's routing, set when a feed brings it and the event workflow's afterwards.
EVENT_ROUTING = ("status", "handling_department_code", "dispatched_at", "deadline")

EVENTS = Target(
    name="events",
    graphql_type="Event",
    table=Event.__table__,
    key="sourceEventId",
    row_key_column="id",
    fields=_fields(
        TargetField("sourceEventId", "source_event_id", Kind.TEXT, 64),
        TargetField("source", "source", Kind.ENUM, values=_values(EventSource)),
        TargetField("categoryCode", "category_code", Kind.CODE, 48),
        TargetField("description", "description", Kind.TEXT, 2000),
        TargetField("reporter", "reporter", Kind.TEXT, 64),
        TargetField("reportedAt", "reported_at", Kind.DATETIME),
        TargetField("occurredAt", "occurred_at", Kind.DATETIME),
    ),
    required=frozenset(
        {"sourceEventId", "source", "categoryCode", "description", "reporter", "reportedAt"}
    ),
    derived=MappingProxyType({}),
    house_column="house_code",
    room_column=None,
    grid_column="grid_code",
    placement="event",
    insert_only=("source", "category_code", "reported_at", *EVENT_ROUTING),
    computed=EVENT_ROUTING,
)

#: The targets feeds fill, by name.
TARGETS: Mapping[str, Target] = MappingProxyType(
    {t.name: t for t in (PEOPLE, HOUSES, ROOMS, ENTITIES, EVENTS)}
)

#: Values a new row takes in columns its feed does not map (a resident without care tags).
INSERT_DEFAULTS: Mapping[str, Mapping[str, object]] = MappingProxyType(
    {"people": {"care_tags": ""}, "entities": {}, "houses": {}, "rooms": {}, "events": {}}
)
