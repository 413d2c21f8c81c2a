"""People living in the district (实有人口)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import strawberry

from resolvers.context import RequestContext
from resolvers.filters import age_on
from schema import entities, grids, guard, houses, provenance
from schema.base import EntityRef, GridRef, HouseRef, Info, RoomRef, Rules, described, one
from schema.enums import CareTag, Gender, Registration, ResidenceKind
from schema.history import RecordChange, record_changes
from schema.relay import Node, node_id
from store.models import decode_care_tags


@strawberry.type(description="A person living in the district (实有人口).")
class Person(Node):
    id: strawberry.ID = node_id("Person")
    name: str | None
    id_number: str | None = strawberry.field(description="Resident ID number (GB 11643).")
    phone: str | None
    gender: Gender | None
    birth_date: date | None
    registration: Registration | None
    residence_kind: ResidenceKind | None
    care_tags: list[CareTag] | None
    grid_code: str
    updated_at: datetime | None = strawberry.field(description=provenance.UPDATED_AT)
    sources: list[provenance.Source] | None = strawberry.field(description=provenance.SOURCES)
    _key: strawberry.Private[int]
    _grid: strawberry.Private[str]
    _born: strawberry.Private[date]
    _house_code: strawberry.Private[str | None]
    _room_code: strawberry.Private[str | None]
    _employer_code: strawberry.Private[str | None]
    _rules: Rules

    @classmethod
    def from_row(cls, row: Any, context: RequestContext) -> Person:
        rules = context.rules_for("Person", row.grid_code)
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
                **provenance.tracked(row),
            },
        )
        return cls(
            **values,
            _key=row.id,
            _grid=row.grid_code,
            _born=row.birth_date,
            _house_code=row.house_code,
            _room_code=row.room_code,
            _employer_code=row.employer_code,
            _rules=rules,
        )

    @described("Age in whole years, today in the district's time zone.")
    def age(self, info: Info) -> int | None:
        return age_on(self._born, info.context.today) if guard.allowed(self._rules, "age") else None

    @described(
        "What changed on this person, field by field, newest first (feeds, accepted "
        "corrections): each change as your plan shows its field (masked where you see it "
        "masked, left out where you may not read it)."
    )
    async def history(self, info: Info, first: int | None = None) -> list[RecordChange] | None:
        return await record_changes(info, self._rules, "history", self._key, first)

    @strawberry.field
    async def house(self, info: Info) -> HouseRef | None:
        if not guard.allowed(self._rules, "house") or self._house_code is None:
            return None
        loader = info.context.loaders.house
        return await one(info, houses.House.from_row, loader.load(self._house_code))

    @strawberry.field
    async def grid(self, info: Info) -> GridRef | None:
        if not guard.allowed(self._rules, "grid"):
            return None
        return await one(info, grids.Grid.from_row, info.context.loaders.grid.load(self._grid))

    @strawberry.field
    async def room(self, info: Info) -> RoomRef | None:
        if not guard.allowed(self._rules, "room") or self._room_code is None:
            return None
        loader = info.context.loaders.room
        return await one(info, houses.Room.from_row, loader.load(self._room_code))

    @strawberry.field
    async def employer(self, info: Info) -> EntityRef | None:
        if not guard.allowed(self._rules, "employer") or self._employer_code is None:
            return None
        loader = info.context.loaders.entity
        return await one(info, entities.Entity.from_row, loader.load(self._employer_code))
