"""The shared data's object types: areas, houses and rooms, people, entities, events.

They live in one module because they refer to one another in a cycle (a grid's houses, a
house's grid). Each type is built from a database row by ``from_row`` with the field rules the
request's access plan gives for that row's area (:mod:`schema.guard`): plain fields are
attributes (refused ones hold a sentinel), and every link, list or computed field checks its
rule and then goes through the request's loaders, which put the plan's row predicate in SQL.

Every data field is nullable in the schema, though the data has values: a field the caller's
access plan denies answers null with a ``FORBIDDEN`` error at its path, and a non-null field
would instead wipe out the whole object around it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, datetime
from typing import Any, TypeVar

import orjson
import strawberry
from strawberry.scalars import JSON

from policies.field_rules import FieldRules
from resolvers import lists
from resolvers.context import RequestContext
from resolvers.filter_inputs import EntityFilter, EventFilter, HouseFilter, PersonFilter
from resolvers.filters import age_on, is_overdue
from resolvers.ids import to_global_id
from resolvers.loaders import AREA
from schema import guard
from schema.enums import (
    AreaLevel,
    CareTag,
    EntityStatus,
    EntityType,
    EventSource,
    EventStatus,
    Gender,
    HouseUse,
    Registration,
    ResidenceKind,
)
from schema.relay import Connection, Node
from store.models import decode_care_tags

Info = strawberry.Info[RequestContext, None]
T = TypeVar("T")
Rules = strawberry.Private[FieldRules]


def _point(lon: float, lat: float) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [lon, lat]}


async def _one(
    info: Info, factory: Callable[[Any, RequestContext], T], row: Awaitable[Any]
) -> T | None:
    found = await row
    return None if found is None else factory(found, info.context)


async def _children(
    info: Info,
    rules: FieldRules,
    field: str,
    node: Any,
    resource: str,
    relation: str,
    parent: str,
    filter: object | None,
    first: int | None,
    after: str | None,
) -> Any:
    """A connection field: its rule first, then one batched page of ``resource`` rows under
    ``parent`` (by ``relation``: a column, or AREA for "under this area code")."""
    if not guard.allowed(rules, field):
        return None
    page, count = await lists.child_page(
        info.context, resource, relation, parent, filter, first, after
    )
    return Connection.build(page, count, node.from_row, info.context)


@strawberry.type(description="A matter-list item: an event category, who handles it, how fast.")
class Matter:
    code: str
    name: str
    department_code: str
    time_limit_hours: int
    level: int

    @classmethod
    def from_row(cls, row: Any, context: RequestContext) -> Matter:
        return cls(
            code=row.code,
            name=row.name,
            department_code=row.department_code,
            time_limit_hours=row.time_limit_hours,
            level=row.level,
        )

    @strawberry.field
    async def department(self, info: Info) -> Department | None:
        return await _one(
            info, Department.from_row, info.context.loaders.department.load(self.department_code)
        )


@strawberry.type(description="A department of the district government.")
class Department:
    code: str
    name: str
    short_name: str

    @classmethod
    def from_row(cls, row: Any, context: RequestContext) -> Department:
        return cls(code=row.code, name=row.name, short_name=row.short_name)


@strawberry.type(description="Counts of what lies in an area (only rows the caller may see).")
class GridStats:
    _code: strawberry.Private[str]
    _rules: Rules

    async def _count(self, info: Info, field: str, resource: str, filter: Any = None) -> int | None:
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

    @strawberry.field(description="Events not yet resolved or closed.")
    async def open_events(self, info: Info) -> int | None:
        return await self._count(info, "openEvents", "events", EventFilter(open=True))


@strawberry.type(description="An area: the district, a street, a community or a grid.")
class Grid(Node):
    code: str = strawberry.field(
        description="Hierarchical: a child's code starts with its parent's."
    )
    name: str | None
    level: AreaLevel | None
    _key: strawberry.Private[str]
    _parent_code: strawberry.Private[str | None]
    _geometry: strawberry.Private[str]
    _rules: Rules

    @strawberry.field
    def id(self) -> strawberry.ID:
        guard.allowed(self._rules, "id")
        return strawberry.ID(to_global_id("Grid", self._key))

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

    @strawberry.field(description="The area's boundary: a GeoJSON Polygon, WGS 84 lon/lat.")
    def geometry(self) -> JSON | None:
        return orjson.loads(self._geometry) if guard.allowed(self._rules, "geometry") else None

    @strawberry.field
    async def parent(self, info: Info) -> Grid | None:
        if self._parent_code is None or not guard.allowed(self._rules, "parent"):
            return None
        return await _one(info, Grid.from_row, info.context.loaders.grid.load(self._parent_code))

    @strawberry.field(description="The areas one level down (a few dozen at most).")
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

    @strawberry.field(description="Houses in this area.")
    async def houses(
        self,
        info: Info,
        filter: HouseFilter | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[House] | None:
        return await _children(
            info, self._rules, "houses", House, "houses", AREA, self._key, filter, first, after
        )

    @strawberry.field(description="People living in this area.")
    async def people(
        self,
        info: Info,
        filter: PersonFilter | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[Person] | None:
        return await _children(
            info, self._rules, "people", Person, "people", AREA, self._key, filter, first, after
        )

    @strawberry.field(description="Legal entities operating in this area.")
    async def entities(
        self,
        info: Info,
        filter: EntityFilter | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[Entity] | None:
        return await _children(
            info, self._rules, "entities", Entity, "entities", AREA, self._key, filter, first, after
        )

    @strawberry.field(description="Events located in this area, oldest first.")
    async def events(
        self,
        info: Info,
        filter: EventFilter | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[Event] | None:
        return await _children(
            info, self._rules, "events", Event, "events", AREA, self._key, filter, first, after
        )


@strawberry.type(description="A room of a house (一房一码).")
class Room:
    code: str | None
    number: str | None
    floor: int | None
    area_m2: float | None
    _code: strawberry.Private[str]
    _rules: Rules

    @classmethod
    def from_row(cls, row: Any, context: RequestContext) -> Room:
        rules = context.rules_for("Room", row.grid_code)
        values = guard.apply(
            rules,
            {"code": row.code, "number": row.number, "floor": row.floor, "area_m2": row.area_m2},
        )
        return cls(**values, _code=row.code, _rules=rules)

    @strawberry.field(description="People who live in this room.")
    async def residents(
        self,
        info: Info,
        filter: PersonFilter | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[Person] | None:
        return await _children(
            info,
            self._rules,
            "residents",
            Person,
            "people",
            "room_code",
            self._code,
            filter,
            first,
            after,
        )


@strawberry.type(description="A building with its unified address (一楼一码).")
class House(Node):
    code: str = strawberry.field(description="The building code.")
    address: str | None = strawberry.field(description="The unified address (统一地址).")
    use: HouseUse | None
    floors: int | None
    built_year: int | None
    grid_code: str
    _key: strawberry.Private[str]
    _grid: strawberry.Private[str]
    _lon: strawberry.Private[float]
    _lat: strawberry.Private[float]
    _rules: Rules

    @strawberry.field
    def id(self) -> strawberry.ID:
        guard.allowed(self._rules, "id")
        return strawberry.ID(to_global_id("House", self._key))

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

    @strawberry.field(description="A GeoJSON Point, WGS 84 lon/lat.")
    def location(self) -> JSON | None:
        return _point(self._lon, self._lat) if guard.allowed(self._rules, "location") else None

    @strawberry.field
    async def grid(self, info: Info) -> Grid | None:
        if not guard.allowed(self._rules, "grid"):
            return None
        return await _one(info, Grid.from_row, info.context.loaders.grid.load(self._grid))

    @strawberry.field
    async def rooms(self, info: Info) -> list[Room] | None:
        if not guard.allowed(self._rules, "rooms"):
            return None
        rows = await info.context.loaders.rooms_of_house.load(self._key)
        return [Room.from_row(row, info.context) for row in rows]

    @strawberry.field(description="People who live in this house.")
    async def residents(
        self,
        info: Info,
        filter: PersonFilter | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[Person] | None:
        return await _children(
            info,
            self._rules,
            "residents",
            Person,
            "people",
            "house_code",
            self._key,
            filter,
            first,
            after,
        )

    @strawberry.field(description="Legal entities operating in this house.")
    async def entities(
        self,
        info: Info,
        filter: EntityFilter | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[Entity] | None:
        return await _children(
            info,
            self._rules,
            "entities",
            Entity,
            "entities",
            "house_code",
            self._key,
            filter,
            first,
            after,
        )

    @strawberry.field(description="Events reported at this house, oldest first.")
    async def events(
        self,
        info: Info,
        filter: EventFilter | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[Event] | None:
        return await _children(
            info,
            self._rules,
            "events",
            Event,
            "events",
            "house_code",
            self._key,
            filter,
            first,
            after,
        )


@strawberry.type(description="A person living in the district (实有人口).")
class Person(Node):
    name: str | None
    id_number: str | None = strawberry.field(description="Resident ID number (GB 11643).")
    phone: str | None
    gender: Gender | None
    birth_date: date | None
    registration: Registration | None
    residence_kind: ResidenceKind | None
    care_tags: list[CareTag] | None
    grid_code: str
    _pk: strawberry.Private[int]
    _grid: strawberry.Private[str]
    _born: strawberry.Private[date]
    _house_code: strawberry.Private[str | None]
    _room_code: strawberry.Private[str | None]
    _employer_code: strawberry.Private[str | None]
    _rules: Rules

    @strawberry.field
    def id(self) -> strawberry.ID:
        guard.allowed(self._rules, "id")
        return strawberry.ID(to_global_id("Person", self._pk))

    @classmethod
    def from_row(cls, row: Any, context: RequestContext) -> Person:
        rules = context.rules_for("Person", row.grid_code)
        context.person_ids.add(row.id)
        values = guard.apply(
            rules,
            {
                "name": row.name,
                "id_number": row.id_number,
                "phone": row.phone,
                "gender": row.gender,
                "birth_date": row.birth_date,
                "registration": row.registration,
                "residence_kind": row.residence_kind,
                "care_tags": guard.visible_care_tags(rules, decode_care_tags(row.care_tags)),
                "grid_code": row.grid_code,
            },
        )
        return cls(
            **values,
            _pk=row.id,
            _grid=row.grid_code,
            _born=row.birth_date,
            _house_code=row.house_code,
            _room_code=row.room_code,
            _employer_code=row.employer_code,
            _rules=rules,
        )

    @strawberry.field(description="Age in whole years, today in the district's time zone.")
    def age(self, info: Info) -> int | None:
        return age_on(self._born, info.context.today) if guard.allowed(self._rules, "age") else None

    @strawberry.field
    async def house(self, info: Info) -> House | None:
        if self._house_code is None or not guard.allowed(self._rules, "house"):
            return None
        return await _one(info, House.from_row, info.context.loaders.house.load(self._house_code))

    @strawberry.field
    async def grid(self, info: Info) -> Grid | None:
        if not guard.allowed(self._rules, "grid"):
            return None
        return await _one(info, Grid.from_row, info.context.loaders.grid.load(self._grid))

    @strawberry.field
    async def room(self, info: Info) -> Room | None:
        if self._room_code is None or not guard.allowed(self._rules, "room"):
            return None
        return await _one(info, Room.from_row, info.context.loaders.room.load(self._room_code))

    @strawberry.field
    async def employer(self, info: Info) -> Entity | None:
        if self._employer_code is None or not guard.allowed(self._rules, "employer"):
            return None
        loader = info.context.loaders.entity
        return await _one(info, Entity.from_row, loader.load(self._employer_code))


@strawberry.type(description="A legal entity: a company or an individual business (商事主体).")
class Entity(Node):
    credit_code: str = strawberry.field(description="Unified social credit code (GB 32100).")
    name: str | None
    type: EntityType | None
    industry: str | None
    status: EntityStatus | None
    established_on: date | None
    registered_address: str | None
    grid_code: str
    _key: strawberry.Private[str]
    _grid: strawberry.Private[str]
    _legal_representative_id: strawberry.Private[int | None]
    _house_code: strawberry.Private[str | None]
    _rules: Rules

    @strawberry.field
    def id(self) -> strawberry.ID:
        guard.allowed(self._rules, "id")
        return strawberry.ID(to_global_id("Entity", self._key))

    @classmethod
    def from_row(cls, row: Any, context: RequestContext) -> Entity:
        rules = context.rules_for("Entity", row.grid_code)
        values = guard.apply(
            rules,
            {
                "credit_code": row.credit_code,
                "name": row.name,
                "type": row.type,
                "industry": row.industry,
                "status": row.status,
                "established_on": row.established_on,
                "registered_address": row.registered_address,
                "grid_code": row.grid_code,
            },
        )
        return cls(
            **values,
            _key=row.credit_code,
            _grid=row.grid_code,
            _legal_representative_id=row.legal_representative_id,
            _house_code=row.house_code,
            _rules=rules,
        )

    @strawberry.field
    async def legal_representative(self, info: Info) -> Person | None:
        representative = self._legal_representative_id
        if representative is None or not guard.allowed(self._rules, "legalRepresentative"):
            return None
        return await _one(info, Person.from_row, info.context.loaders.person.load(representative))

    @strawberry.field(description="The house the entity actually operates in.")
    async def house(self, info: Info) -> House | None:
        if self._house_code is None or not guard.allowed(self._rules, "house"):
            return None
        return await _one(info, House.from_row, info.context.loaders.house.load(self._house_code))

    @strawberry.field
    async def grid(self, info: Info) -> Grid | None:
        if not guard.allowed(self._rules, "grid"):
            return None
        return await _one(info, Grid.from_row, info.context.loaders.grid.load(self._grid))

    @strawberry.field(description="People whose employer this entity is.")
    async def employees(
        self,
        info: Info,
        filter: PersonFilter | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[Person] | None:
        return await _children(
            info,
            self._rules,
            "employees",
            Person,
            "people",
            "employer_code",
            self._key,
            filter,
            first,
            after,
        )


@strawberry.type(description="A reported incident or hazard (事件) and its handling.")
class Event(Node):
    source: EventSource | None
    category_code: str | None
    description: str | None
    status: EventStatus | None
    reporter: str | None
    grid_code: str
    handling_department_code: str | None
    reported_at: datetime | None
    dispatched_at: datetime | None
    closed_at: datetime | None
    deadline: datetime | None
    _pk: strawberry.Private[int]
    _grid: strawberry.Private[str]
    _lon: strawberry.Private[float]
    _lat: strawberry.Private[float]
    _house_code: strawberry.Private[str | None]
    _category_code: strawberry.Private[str]
    _department_code: strawberry.Private[str]
    _deadline: strawberry.Private[datetime]
    _closed_at: strawberry.Private[datetime | None]
    _rules: Rules

    @strawberry.field
    def id(self) -> strawberry.ID:
        guard.allowed(self._rules, "id")
        return strawberry.ID(to_global_id("Event", self._pk))

    @classmethod
    def from_row(cls, row: Any, context: RequestContext) -> Event:
        rules = context.rules_for("Event", row.grid_code)
        values = guard.apply(
            rules,
            {
                "source": row.source,
                "category_code": row.category_code,
                "description": row.description,
                "status": row.status,
                "reporter": row.reporter,
                "grid_code": row.grid_code,
                "handling_department_code": row.handling_department_code,
                "reported_at": row.reported_at,
                "dispatched_at": row.dispatched_at,
                "closed_at": row.closed_at,
                "deadline": row.deadline,
            },
        )
        return cls(
            **values,
            _pk=row.id,
            _grid=row.grid_code,
            _lon=row.lon,
            _lat=row.lat,
            _house_code=row.house_code,
            _category_code=row.category_code,
            _department_code=row.handling_department_code,
            _deadline=row.deadline,
            _closed_at=row.closed_at,
            _rules=rules,
        )

    @strawberry.field(description="A GeoJSON Point, WGS 84 lon/lat.")
    def location(self) -> JSON | None:
        return _point(self._lon, self._lat) if guard.allowed(self._rules, "location") else None

    @strawberry.field(
        description="Closed after its deadline, or not yet closed and past it: the time limit "
        "runs until the event is closed (办结)."
    )
    def overdue(self, info: Info) -> bool | None:
        if not guard.allowed(self._rules, "overdue"):
            return None
        return is_overdue(self._deadline, self._closed_at, info.context.now)

    @strawberry.field(description="The matter-list item this event was filed under.")
    async def category(self, info: Info) -> Matter | None:
        if not guard.allowed(self._rules, "category"):
            return None
        loader = info.context.loaders.matter
        return await _one(info, Matter.from_row, loader.load(self._category_code))

    @strawberry.field
    async def handling_department(self, info: Info) -> Department | None:
        if not guard.allowed(self._rules, "handlingDepartment"):
            return None
        loader = info.context.loaders.department
        return await _one(info, Department.from_row, loader.load(self._department_code))

    @strawberry.field
    async def grid(self, info: Info) -> Grid | None:
        if not guard.allowed(self._rules, "grid"):
            return None
        return await _one(info, Grid.from_row, info.context.loaders.grid.load(self._grid))

    @strawberry.field
    async def house(self, info: Info) -> House | None:
        if self._house_code is None or not guard.allowed(self._rules, "house"):
            return None
        return await _one(info, House.from_row, info.context.loaders.house.load(self._house_code))


NODE_TYPES: dict[str, Any] = {
    "Grid": Grid,
    "House": House,
    "Person": Person,
    "Entity": Entity,
    "Event": Event,
}
