"""Houses (一楼一码) and their rooms (一房一码)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from strawberry.scalars import JSON

from resolvers.context import RequestContext
from schema import grids, guard, provenance
from schema.base import GridRef, Info, Rules, described, one, point
from schema.enums import HouseUse
from schema.history import RecordChange, record_changes
from schema.relay import Node, connection, node_id


@strawberry.type(description="A room of a house (一房一码).")
class Room:
    code: str | None
    number: str | None
    floor: int | None
    area_m2: float | None
    updated_at: datetime | None = strawberry.field(description=provenance.UPDATED_AT)
    sources: list[provenance.Source] | None = strawberry.field(description=provenance.SOURCES)
    _key: strawberry.Private[str]
    _rules: Rules

    @classmethod
    def from_row(cls, row: Any, context: RequestContext) -> Room:
        rules = context.rules_for("Room", row.grid_code)
        values = guard.apply(
            rules,
            {
                "code": row.code,
                "number": row.number,
                "floor": row.floor,
                "area_m2": row.area_m2,
                **provenance.tracked(row),
            },
        )
        return cls(**values, _key=row.code, _rules=rules)

    @described(
        "What changed on this room, field by field, newest first (feeds, accepted "
        "corrections): each change as your plan shows its field (masked where you see it "
        "masked, left out where you may not read it)."
    )
    async def history(self, info: Info, first: int | None = None) -> list[RecordChange] | None:
        return await record_changes(info, self._rules, "history", self._key, first)

    residents = connection("Person", "People who live in this room.", under="room_code")


@strawberry.type(description="A building with its unified address (一楼一码).")
class House(Node):
    id: strawberry.ID = node_id("House")
    code: str = strawberry.field(description="The building code.")
    address: str | None = strawberry.field(description="The unified address (统一地址).")
    use: HouseUse | None
    floors: int | None
    built_year: int | None
    grid_code: str
    updated_at: datetime | None = strawberry.field(description=provenance.UPDATED_AT)
    sources: list[provenance.Source] | None = strawberry.field(description=provenance.SOURCES)
    _key: strawberry.Private[str]
    _grid: strawberry.Private[str]
    _lon: strawberry.Private[float]
    _lat: strawberry.Private[float]
    _rules: Rules

    @classmethod
    def from_row(cls, row: Any, context: RequestContext) -> House:
        rules = context.rules_for("House", row.grid_code)
        values = guard.apply(
            rules,
            {
                "code": row.code,
                "address": row.address,
                "use": row.use,
                "floors": row.floors,
                "built_year": row.built_year,
                "grid_code": row.grid_code,
                **provenance.tracked(row),
            },
        )
        return cls(
            **values,
            _key=row.code,
            _grid=row.grid_code,
            _lon=row.lon,
            _lat=row.lat,
            _rules=rules,
        )

    @described("A GeoJSON Point, WGS 84 lon/lat.")
    def location(self) -> JSON | None:
        return point(self._lon, self._lat) if guard.allowed(self._rules, "location") else None

    @strawberry.field
    async def grid(self, info: Info) -> GridRef | None:
        if not guard.allowed(self._rules, "grid"):
            return None
        return await one(info, grids.Grid.from_row, info.context.loaders.grid.load(self._grid))

    @strawberry.field
    async def rooms(self, info: Info) -> list[Room] | None:
        if not guard.allowed(self._rules, "rooms"):
            return None
        rows = await info.context.loaders.rooms_of_house.load(self._key)
        return [Room.from_row(row, info.context) for row in rows]

    @described(
        "What changed on this house, field by field, newest first (feeds, accepted "
        "corrections): each change as your plan shows its field (masked where you see it "
        "masked, left out where you may not read it)."
    )
    async def history(self, info: Info, first: int | None = None) -> list[RecordChange] | None:
        return await record_changes(info, self._rules, "history", self._key, first)

    residents = connection("Person", "People who live in this house.", under="house_code")
    entities = connection("Entity", "Legal entities operating in this house.", under="house_code")
    events = connection("Event", "Events reported at this house, oldest first.", under="house_code")
