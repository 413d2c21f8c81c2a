"""The root ``Query``: single look-ups (unknown → null) and paginated lists with filters."""

from __future__ import annotations

from typing import Any

import strawberry
from sqlalchemy import ColumnElement, select

from policies import row_scope as scoping
from policies.areas import check_area_code
from resolvers import lists
from resolvers.ids import from_global_id
from resolvers.resources import GRIDS
from schema.addresses import (
    AddressMatch,
    StandardAddress,
    resolve_address,
    resolve_addresses,
    resolve_match_address,
)
from schema.audit_log import (
    AuditCount,
    AuditEntryConnection,
    resolve_audit_log,
    resolve_audit_stats,
)
from schema.base import Info, described
from schema.catalog import DataResource, resolve_catalog, resolve_resource
from schema.entities import Entity
from schema.enums import AreaLevel
from schema.event_stats import EventStatsRow, resolve_event_stats
from schema.events import Department, Event, Matter
from schema.feeds import FeedRun, FeedRunConnection, resolve_feed_run, resolve_feed_runs
from schema.grants import AccessRequest, Grant, resolve_access_requests, resolve_grants
from schema.grids import Grid
from schema.history import RecordChange, resolve_record_history
from schema.houses import House
from schema.me import Me, resolve_me
from schema.people import Person
from schema.relay import Connection, Node, connection
from schema.removals import Removal, resolve_removed
from schema.task_stats import TaskStatsRow, resolve_task_stats
from schema.tasks import (
    CorrectionConnection,
    TaskConnection,
    resolve_corrections,
    resolve_tasks,
)
from schema.views import MapView, View, resolve_map_view, resolve_view, resolve_views
from store.models import Department as DepartmentRow
from store.models import Matter as MatterRow

#: Each node type and the loader of its rows by key.
_NODES: dict[str, tuple[Any, str]] = {
    "Grid": (Grid, "grid"),
    "House": (House, "house"),
    "Person": (Person, "person"),
    "Entity": (Entity, "entity"),
    "Event": (Event, "event"),
}


async def _load(info: Info, type_name: str, key: Any) -> Any:
    node, loader = _NODES[type_name]
    row = await getattr(info.context.loaders, loader).load(key)
    return None if row is None else node.from_row(row, info.context)


def _unplaced_scope(info: Info, resource: str) -> list[ColumnElement[bool]]:
    """The plan's predicate for a resource whose rows belong to no place (all or none)."""
    return scoping.row_scope(info.context.plan, "query.reference_list", resource, None)


@strawberry.type
class Query:
    me: Me | None = strawberry.field(
        resolver=resolve_me,
        description="Who is asking, and what they may see of each resource (and why).",
    )
    audit_log: AuditEntryConnection | None = strawberry.field(
        resolver=resolve_audit_log,
        description="The audit log, newest first (auditors only).",
    )
    audit_stats: list[AuditCount] | None = strawberry.field(
        resolver=resolve_audit_stats,
        description="Counts of audit entries per group over a time range (auditors only).",
    )
    event_stats: list[EventStatsRow] | None = strawberry.field(
        resolver=resolve_event_stats,
        description="Events reported under an area in a time range, counted per group, with "
        "the share closed on time and the median handling time; groups of fewer than "
        "`minCount` events are left out. Only rows and fields your access plan allows count.",
    )
    catalog: list[DataResource] = strawberry.field(
        resolver=resolve_catalog, description="The data-resource catalogue (数据资源目录)."
    )
    resource: DataResource | None = strawberry.field(
        resolver=resolve_resource, description="A catalogue resource by its code."
    )
    record_history: list[RecordChange] | None = strawberry.field(
        resolver=resolve_record_history,
        description="What changed on a person, house or entity (by global id), newest "
        "first: each field's changes as your plan shows that field; null if it hides the "
        "record.",
    )
    task_stats: list[TaskStatsRow] | None = strawberry.field(
        resolver=resolve_task_stats,
        description="Verification tasks raised under an area in a time range, counted per "
        "group, with the share done on time; groups of fewer than `minCount` tasks are left "
        "out. Only tasks about records your access plan shows count.",
    )
    tasks: TaskConnection = strawberry.field(
        resolver=resolve_tasks,
        description="Verification tasks about the records your plan shows (grid workers, "
        "community and street staff), earliest due first.",
    )
    corrections: CorrectionConnection = strawberry.field(
        resolver=resolve_corrections,
        description="Corrections routed to your department (its data officers and apps), "
        "newest first.",
    )
    access_requests: list[AccessRequest] = strawberry.field(
        resolver=resolve_access_requests,
        description="Access requests, newest first (data officers: their department's and those "
        "on its resources; the chief data officer and auditors: all).",
    )
    grants: list[Grant] = strawberry.field(
        resolver=resolve_grants,
        description="Grants, newest first (data officers: their department's and those on its "
        "resources; the chief data officer and auditors: all).",
    )
    feed_runs: FeedRunConnection = strawberry.field(
        resolver=resolve_feed_runs,
        description="A department feed's runs, newest first (the data officers of the feed's "
        "department and the chief data officer).",
    )
    feed_run: FeedRun | None = strawberry.field(
        resolver=resolve_feed_run, description="One feed run by its id."
    )
    views: list[View] = strawberry.field(
        resolver=resolve_views,
        description="A department's map views (default: the caller's own department's).",
    )
    view: View | None = strawberry.field(
        resolver=resolve_view, description="A map view's definition by its code."
    )
    map_view: MapView | None = strawberry.field(
        resolver=resolve_map_view,
        description="A map view opened by the caller: each layer's features as GeoJSON, cut to "
        "what the caller may see, and further to `bbox` ([minLon, minLat, maxLon, maxLat]) and "
        "`areaCode`; null when there is no such view.",
    )

    @described("Any object by its global id; null when there is none.")
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:
        type_name, key = from_global_id(id)
        return await _load(info, type_name, key)

    @described("An area (district, street, community or grid) by its code.")
    async def grid(self, info: Info, code: str) -> Grid | None:
        return await _load(info, "Grid", code)

    @described("Areas, by level and parent, in code order.")
    async def grids(
        self,
        info: Info,
        level: AreaLevel | None = None,
        parent_code: str | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[Grid] | None:
        where: list[ColumnElement[bool]] = []
        if level is not None:
            where.append(GRIDS.table.c.level == level.value)
        if parent_code is not None:
            where.append(GRIDS.table.c.parent_code == check_area_code(parent_code))
        page, count = await lists.root_page(info.context, "grids", None, first, after, where)
        return Connection.build(page, count, Grid.from_row, info.context)

    @described("A house by its building code.")
    async def house(self, info: Info, code: str) -> House | None:
        return await _load(info, "House", code)

    houses = connection("House", "Houses, in building-code order.")

    @described("A person by global id.")
    async def person(self, info: Info, id: strawberry.ID) -> Person | None:
        return await _load(info, "Person", from_global_id(id, "Person")[1])

    people = connection("Person", "People, in id order.")

    @described("A legal entity by its unified social credit code.")
    async def entity(self, info: Info, credit_code: str) -> Entity | None:
        return await _load(info, "Entity", credit_code)

    entities = connection("Entity", "Legal entities, in credit-code order.")

    @described("An event by global id.")
    async def event(self, info: Info, id: strawberry.ID) -> Event | None:
        return await _load(info, "Event", from_global_id(id, "Event")[1])

    events = connection("Event", "Events, in the order they were reported.")

    removed: Connection[Removal] = strawberry.field(
        resolver=resolve_removed,
        description="Rows of a type removed at or after `since` (with a time zone), ids only, "
        "oldest first, in the areas where you may see that type's rows: with `changedSince` "
        "on the type's list, what keeps an app's copy exact. Needs `updatedAt` readable.",
    )
    match_address: AddressMatch | None = strawberry.field(
        resolver=resolve_match_address,
        description="Place a department's address string on a house and room: the best "
        "candidates among the houses the caller may read (under `areaCode` if given), each "
        "with a confidence and the matcher's step (docs/addresses.md).",
    )
    address: StandardAddress | None = strawberry.field(
        resolver=resolve_address,
        description="A house's or room's standard address by its building or room code.",
    )
    addresses: Connection[StandardAddress] | None = strawberry.field(
        resolver=resolve_addresses,
        description="Standard addresses whose normalised text contains the normalised `search` "
        "(widths, numerals and synonyms do not matter), in code order.",
    )

    @described("The district's departments.")
    async def departments(self, info: Info) -> list[Department]:
        table = DepartmentRow.__table__
        rows = await info.context.rows(
            select(table).where(*_unplaced_scope(info, "departments")).order_by(table.c.code)
        )
        return [Department.from_row(row, info.context) for row in rows]

    @described("The matter list (事项清单): event categories and their handling.")
    async def matters(self, info: Info) -> list[Matter]:
        table = MatterRow.__table__
        rows = await info.context.rows(
            select(table).where(*_unplaced_scope(info, "matters")).order_by(table.c.code)
        )
        return [Matter.from_row(row, info.context) for row in rows]
