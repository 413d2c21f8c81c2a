"""The shared records a task can be about: per target table, its key and grid-code columns.

A task names its record as ``(target, row_key)``, the way ``row_history`` does: the table name
and the key as text (a person's id, a house or room code, an entity's credit code). Events are
handled through their own workflow, not verified as records.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from sqlalchemy import ColumnElement, String, cast

from store.models import Base, Entity, House, Person, Room


@dataclass(frozen=True, slots=True)
class Record:
    """One kind of shared record: its model, GraphQL type and resource, and key column."""

    target: str
    model: type[Base]
    graphql_type: str
    resource: str
    key_name: str

    @property
    def key(self) -> ColumnElement[str]:
        """The key as text, as tasks and ``row_history`` store it."""
        column = self.model.__table__.c[self.key_name]
        return column if isinstance(column.type, String) else cast(column, String)

    @property
    def grid_code(self) -> ColumnElement[str]:
        return self.model.__table__.c.grid_code

    def key_value(self, row_key: str) -> str | int:
        """``row_key`` as the key column takes it (people's ids are integers)."""
        return int(row_key) if self.target == "people" else row_key


RECORDS: Mapping[str, Record] = MappingProxyType(
    {
        "people": Record("people", Person, "Person", "people", "id"),
        "houses": Record("houses", House, "House", "houses", "code"),
        "rooms": Record("rooms", Room, "Room", "rooms", "code"),
        "entities": Record("entities", Entity, "Entity", "entities", "credit_code"),
    }
)

#: The record kind of each GraphQL type a catalogue resource maps to.
RECORD_OF_TYPE: Mapping[str, Record] = MappingProxyType(
    {record.graphql_type: record for record in RECORDS.values()}
)
