"""Legal entities: companies and individual businesses (商事主体)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import strawberry

from resolvers.context import RequestContext
from schema import grids, guard, houses, people, provenance
from schema.base import GridRef, HouseRef, Info, PersonRef, Rules, described, one
from schema.enums import EntityStatus, EntityType
from schema.history import RecordChange, record_changes
from schema.relay import Node, connection, node_id


@strawberry.type(description="A legal entity: a company or an individual business (商事主体).")
class Entity(Node):
    id: strawberry.ID = node_id("Entity")
    credit_code: str = strawberry.field(description="Unified social credit code (GB 32100).")
    name: str | None
    type: EntityType | None
    industry: str | None
    status: EntityStatus | None
    established_on: date | None
    registered_address: str | None
    grid_code: str
    updated_at: datetime | None = strawberry.field(description=provenance.UPDATED_AT)
    sources: list[provenance.Source] | None = strawberry.field(description=provenance.SOURCES)
    _key: strawberry.Private[str]
    _grid: strawberry.Private[str]
    _legal_representative_id: strawberry.Private[int | None]
    _house_code: strawberry.Private[str | None]
    _rules: Rules

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
                **provenance.tracked(row),
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
    async def legal_representative(self, info: Info) -> PersonRef | None:
        representative = self._legal_representative_id
        if not guard.allowed(self._rules, "legalRepresentative") or representative is None:
            return None
        loader = info.context.loaders.person
        return await one(info, people.Person.from_row, loader.load(representative))

    @described("The house the entity actually operates in.")
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

    @described(
        "What changed on this entity, field by field, newest first (feeds, accepted "
        "corrections): each change as your plan shows its field (masked where you see it "
        "masked, left out where you may not read it)."
    )
    async def history(self, info: Info, first: int | None = None) -> list[RecordChange] | None:
        return await record_changes(info, self._rules, "history", self._key, first)

    employees = connection("Person", "People whose employer this entity is.", under="employer_code")
