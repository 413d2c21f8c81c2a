"""The shared resources as the resolvers see them: table, key column and key type.

The same names are used in every layer (``people`` in ``store.models``, ``schema``, here).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Column, Table

from store.models import Base, Entity, Event, Grid, House, Person, Room


@dataclass(frozen=True, slots=True)
class Resource:
    name: str
    table: Table
    key: Column[str] | Column[int]
    key_type: type[str] | type[int]

    @property
    def area(self) -> Column[str]:
        """The grid code every placed row carries (grids carry their own code)."""
        column = "code" if self.name == "grids" else "grid_code"
        return self.table.c[column]


def _resource(name: str, model: type[Base], key: str, key_type: type[str] | type[int]) -> Resource:
    table = model.__table__
    return Resource(name, table, table.c[key], key_type)


GRIDS = _resource("grids", Grid, "code", str)
HOUSES = _resource("houses", House, "code", str)
ROOMS = _resource("rooms", Room, "code", str)
PEOPLE = _resource("people", Person, "id", int)
ENTITIES = _resource("entities", Entity, "credit_code", str)
EVENTS = _resource("events", Event, "id", int)

RESOURCES: dict[str, Resource] = {
    r.name: r for r in (GRIDS, HOUSES, ROOMS, PEOPLE, ENTITIES, EVENTS)
}
