"""Areas: the district, its streets, communities and grids, and what lies in each."""

from __future__ import annotations

from typing import Any

import orjson
import strawberry
from strawberry.scalars import JSON

from resolvers import lists
from resolvers.context import RequestContext
from resolvers.filter_inputs import EventFilter
from resolvers.loaders import AREA
from schema import guard
from schema.base import Info, Rules, described, one
from schema.enums import AreaLevel
from schema.relay import Node, connection, node_id


@strawberry.type(description="Counts of what lies in an area (only rows the caller may see).")
class GridStats:
    _code: strawberry.Private[str]
    _rules: Rules

    async def _count(
        self, info: Info, field: str, resource: str, filter: object | None = None
    ) -> int | None:
        if not guard.allowed(self._rules, field):
            return None
        return await lists.child_count(info.context, resource, AREA, self._code, filter)

    @strawberry.field
    async def houses(self, info: Info) -> int | None:
        return await self._count(info, "houses", "houses")

    @strawberry.field
    async def people(self, info: Info) -> int | None:
        return await self._count(info, "people", "people")

    @strawberry.field
    async def entities(self, info: Info) -> int | None:
        return await self._count(info, "entities", "entities")

    @strawberry.field
    async def events(self, info: Info) -> int | None:
        return await self._count(info, "events", "events")

    @described("Events not yet resolved or closed.")
    async def open_events(self, info: Info) -> int | None:
        return await self._count(info, "openEvents", "events", EventFilter(open=True))


@strawberry.type(description="An area: the district, a street, a community or a grid.")
class Grid(Node):
    id: strawberry.ID = node_id("Grid")
    code: str = strawberry.field(
        description="Hierarchical: a child's code starts with its parent's."
    )
    name: str | None
    level: AreaLevel | None
    _key: strawberry.Private[str]
    _parent_code: strawberry.Private[str | None]
    _geometry: strawberry.Private[str]
    _rules: Rules

    @classmethod
    def from_row(cls, row: Any, context: RequestContext) -> Grid:
        rules = context.rules_for("Grid", row.code)
        values = guard.apply(rules, {"code": row.code, "name": row.name, "level": row.level})
        return cls(
            **values,
            _key=row.code,
            _parent_code=row.parent_code,
            _geometry=row.geometry,
            _rules=rules,
        )

    @described("The area's boundary: a GeoJSON Polygon, WGS 84 lon/lat.")
    def geometry(self) -> JSON | None:
        return orjson.loads(self._geometry) if guard.allowed(self._rules, "geometry") else None

    @strawberry.field
    async def parent(self, info: Info) -> Grid | None:
        if not guard.allowed(self._rules, "parent") or self._parent_code is None:
            return None
        return await one(info, Grid.from_row, info.context.loaders.grid.load(self._parent_code))

    @described("The areas one level down (a few dozen at most).")
    async def children(self, info: Info) -> list[Grid] | None:
        if not guard.allowed(self._rules, "children"):
            return None
        rows = await info.context.loaders.children.load(self._key)
        return [Grid.from_row(row, info.context) for row in rows]

    @strawberry.field
    async def stats(self, info: Info) -> GridStats | None:
        if not guard.allowed(self._rules, "stats"):
            return None
        return GridStats(_code=self._key, _rules=info.context.plan.rules("GridStats", self._key))

    houses = connection("House", "Houses in this area.", under=AREA)
    people = connection("Person", "People living in this area.", under=AREA)
    entities = connection("Entity", "Legal entities operating in this area.", under=AREA)
    events = connection("Event", "Events located in this area, oldest first.", under=AREA)
