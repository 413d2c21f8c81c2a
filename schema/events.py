"""Events (事件) and what they are filed under: the matter list and the departments."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from strawberry.scalars import JSON

from resolvers.context import RequestContext
from resolvers.filters import is_overdue
from schema import grids, guard, houses, provenance
from schema.base import GridRef, HouseRef, Info, Rules, described, one, point
from schema.enums import EventAction, EventSource, EventStatus
from schema.history import RecordChange, record_changes
from schema.relay import Node, node_id


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
        loader = info.context.loaders.department
        return await one(info, Department.from_row, loader.load(self.department_code))


@strawberry.type(description="A department of the district government.")
class Department:
    code: str
    name: str
    short_name: str

    @classmethod
    def from_row(cls, row: Any, context: RequestContext) -> Department:
        return cls(code=row.code, name=row.name, short_name=row.short_name)


@strawberry.type(description="One step of an event's handling, as its history keeps it.")
class EventStep:
    action: EventAction
    from_status: EventStatus | None = strawberry.field(
        description="The status before the step (null for the report)."
    )
    to_status: EventStatus = strawberry.field(description="The status after the step.")
    by: str = strawberry.field(
        description="The subject who took the step (`hub`: the matter list's routing)."
    )
    by_kind: str = strawberry.field(description="`person`, `client` or `hub`.")
    by_department: str | None = strawberry.field(description="The department of who took it.")
    department_code: str | None = strawberry.field(
        description="For a dispatch, the department it was sent to."
    )
    note: str | None = strawberry.field(
        description="A return's reason, a resolution's result, a supervision's note."
    )
    at: datetime

    @classmethod
    def from_row(cls, row: Any) -> EventStep:
        return cls(
            action=EventAction(row.action),
            from_status=None if row.from_status is None else EventStatus(row.from_status),
            to_status=EventStatus(row.to_status),
            by=row.actor,
            by_kind=row.actor_kind,
            by_department=row.actor_department,
            department_code=row.department_code,
            note=row.note,
            at=row.at,
        )


@strawberry.type(description="A reported incident or hazard (事件) and its handling.")
class Event(Node):
    id: strawberry.ID = node_id("Event")
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
    occurred_at: datetime | None = strawberry.field(
        description="When it happened, as the reporter said."
    )
    accepted_at: datetime | None = strawberry.field(
        description="When the handling department last accepted it."
    )
    resolved_at: datetime | None = strawberry.field(
        description="When the handling department last resolved it."
    )
    on_time: bool | None = strawberry.field(
        description="Closed by its deadline: true or false once closed, null while open."
    )
    supervisions: int | None = strawberry.field(
        description="How often street staff or the district supervised it (督办); when and "
        "why: `history`."
    )
    updated_at: datetime | None = strawberry.field(description=provenance.UPDATED_AT)
    sources: list[provenance.Source] | None = strawberry.field(description=provenance.SOURCES)
    _key: strawberry.Private[int]
    _grid: strawberry.Private[str]
    _lon: strawberry.Private[float]
    _lat: strawberry.Private[float]
    _house_code: strawberry.Private[str | None]
    _category_code: strawberry.Private[str]
    _department_code: strawberry.Private[str | None]
    _deadline: strawberry.Private[datetime]
    _closed_at: strawberry.Private[datetime | None]
    _rules: Rules

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
                "occurred_at": row.occurred_at,
                "accepted_at": row.accepted_at,
                "resolved_at": row.resolved_at,
                "on_time": row.on_time,
                "supervisions": row.supervision_count,
                **provenance.tracked(row),
            },
        )
        return cls(
            **values,
            _key=row.id,
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

    @described("A GeoJSON Point, WGS 84 lon/lat.")
    def location(self) -> JSON | None:
        return point(self._lon, self._lat) if guard.allowed(self._rules, "location") else None

    @described(
        "Closed after its deadline, or not yet closed and past it: the time limit runs until "
        "the event is closed (办结)."
    )
    def overdue(self, info: Info) -> bool | None:
        if not guard.allowed(self._rules, "overdue"):
            return None
        return is_overdue(self._deadline, self._closed_at, info.context.now)

    @described("The matter-list item this event was filed under.")
    async def category(self, info: Info) -> Matter | None:
        if not guard.allowed(self._rules, "category"):
            return None
        loader = info.context.loaders.matter
        return await one(info, Matter.from_row, loader.load(self._category_code))

    @described(
        "Every step of its handling, oldest first: reported, dispatched, accepted, returned, "
        "resolved, closed, reopened, supervised — by whom, when, with the note."
    )
    async def history(self, info: Info) -> list[EventStep] | None:
        if not guard.allowed(self._rules, "history"):
            return None
        rows = await info.context.loaders.event_history.load(self._key)
        return [EventStep.from_row(row) for row in rows]

    @described(
        "What changed on this event's fields, newest first (its handling steps are "
        "`history`): each change as your plan shows its field."
    )
    async def changes(self, info: Info, first: int | None = None) -> list[RecordChange] | None:
        return await record_changes(info, self._rules, "changes", self._key, first)

    @strawberry.field
    async def handling_department(self, info: Info) -> Department | None:
        if not guard.allowed(self._rules, "handlingDepartment") or self._department_code is None:
            return None
        loader = info.context.loaders.department
        return await one(info, Department.from_row, loader.load(self._department_code))

    @strawberry.field
    async def grid(self, info: Info) -> GridRef | None:
        if not guard.allowed(self._rules, "grid"):
            return None
        return await one(info, grids.Grid.from_row, info.context.loaders.grid.load(self._grid))

    @strawberry.field
    async def house(self, info: Info) -> HouseRef | None:
        if not guard.allowed(self._rules, "house") or self._house_code is None:
            return None
        loader = info.context.loaders.house
        return await one(info, houses.House.from_row, loader.load(self._house_code))
