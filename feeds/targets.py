"""What differs between the targets at a run, beside their declarations
(:mod:`catalog.feed_targets`): what a run reads once before its rows (the matter list, the
houses' points, the grids' shapes), how a matched address places a row, what a row brings
with it (an event's routing), and what removing rows of the target involves.

One engine runs every feed (:mod:`feeds.run`, :mod:`feeds.merge`); it calls these rules by the
target's declaration, never a copy of the run per target.

Events that arrive by feed (the 12345 hotline's tickets) enter the event workflow as reported
events do: placed (the address's house and grid, the house's point as the location), routed by
the matter list (dispatched at once to the matter's department with its time limit counted
from the report; a matter with no department waits ``reported`` at the street's grid centre),
with a ``report`` step by the feed and a ``dispatch`` step by the hub in the event's history.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson
import shapely
from shapely.geometry import shape
from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    delete,
    exists,
    insert,
    literal,
    select,
    true,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from addresses.matcher import Match
from catalog.feed_files import FeedDefinition
from catalog.feed_targets import Target
from feeds.validate import Checked
from store.models import (
    Address,
    Entity,
    Event,
    EventAction,
    EventStatus,
    Grid,
    House,
    Matter,
    Person,
    Room,
    RowChange,
)

HOUSES = House.__table__
ROOMS = Room.__table__
PEOPLE = Person.__table__
ENTITIES = Entity.__table__
EVENTS = Event.__table__
ACTIONS = EventAction.__table__
ADDRESSES = Address.__table__
HISTORY = RowChange.__table__
GRIDS = Grid.__table__
MATTERS = Matter.__table__
#: The hub's own routing step's actor, as the event workflow names it.
HUB = "hub"


@dataclass
class RunContext:
    """What a run of one target reads once, before its rows."""

    #: For each CODE field: the codes the hub keeps.
    known: dict[str, frozenset[str]] = field(default_factory=dict)
    #: Events: each matter's handling department (None: the street's grid centre) and hours.
    matters: dict[str, tuple[str | None, int]] = field(default_factory=dict)
    #: Events: each house's point.
    points: dict[str, tuple[float, float]] = field(default_factory=dict)
    #: Houses: the grids' shapes with their boxes, by code.
    grids: list[tuple[str, tuple[float, float, float, float], Any]] = field(default_factory=list)


async def prepare(connection: AsyncConnection, target: Target) -> RunContext:
    """Read what the target's rows are checked and placed against."""
    context = RunContext()
    if target.placement == "event":
        for code, department, hours in await connection.execute(
            select(MATTERS.c.code, MATTERS.c.department_code, MATTERS.c.time_limit_hours)
        ):
            context.matters[str(code)] = (department, int(hours))
        context.known["categoryCode"] = frozenset(context.matters)
        for code, lon, lat in await connection.execute(
            select(HOUSES.c.code, HOUSES.c.lon, HOUSES.c.lat)
        ):
            context.points[str(code)] = (float(lon), float(lat))
    if target.placement == "building":
        rows = await connection.execute(
            select(
                GRIDS.c.code,
                GRIDS.c.min_lon,
                GRIDS.c.min_lat,
                GRIDS.c.max_lon,
                GRIDS.c.max_lat,
                GRIDS.c.geometry,
            )
            .where(GRIDS.c.level == "grid")
            .order_by(GRIDS.c.code)
        )
        for code, x0, y0, x1, y1, geometry in rows:
            polygon = shape(orjson.loads(geometry))
            shapely.prepare(polygon)
            context.grids.append((str(code), (x0, y0, x1, y1), polygon))
    return context


def _grid_of_point(context: RunContext, lon: float, lat: float) -> str | None:
    """The lowest code of the grids covering the point (as the event placement decides)."""
    point = shapely.Point(lon, lat)
    for code, (x0, y0, x1, y1), polygon in context.grids:
        if x0 <= lon <= x1 and y0 <= lat <= y1 and polygon.covers(point):
            return code
    return None


def place(
    target: Target, context: RunContext, checked: Checked, found: Match | None
) -> dict[str, Any] | None:
    """The columns the row's address sets, or None when it is not placed (kept as a candidate).

    - ``address``: the match's house, room and grid.
    - ``building``: a confident match must name the house's own building (one naming another
      building is left to a person); an address the base does not know confidently (a new
      building) is placed by the house's point, in the grid that covers it.
    - ``room``: the address names the room itself, or its building (a room the base does not
      hold yet).
    - ``event``: the match's house and grid, and the house's point.
    """
    best = found.best if found is not None and found.accepted else None
    if target.placement == "address":
        if best is None:
            return None
        placed: dict[str, Any] = {target.grid_column: best.grid_code}
        if target.house_column is not None:
            placed[target.house_column] = best.house_code
        if target.room_column is not None:
            placed[target.room_column] = best.room_code
        return placed
    if target.placement == "building":
        if best is not None:
            # A confident match names the building: this one, or another (a person decides).
            return {target.grid_column: best.grid_code} if best.house_code == checked.key else None
        lon, lat = checked.values.get("lon"), checked.values.get("lat")
        if lon is None or lat is None:
            return None
        grid = _grid_of_point(context, lon, lat)
        return None if grid is None else {target.grid_column: grid}
    if target.placement == "room":
        if best is None or best.room_code not in (None, checked.key):
            return None
        return {"house_code": best.house_code, target.grid_column: best.grid_code}
    # event
    if best is None or best.house_code not in context.points:
        return None
    lon, lat = context.points[best.house_code]
    return {
        "house_code": best.house_code,
        target.grid_column: best.grid_code,
        "lon": lon,
        "lat": lat,
    }


def complete(target: Target, context: RunContext, checked: Checked, now: datetime) -> None:
    """Add what the row's values imply: an event's routing by the matter list."""
    if target.placement != "event":
        return
    values = checked.values
    department, hours = context.matters[values["category_code"]]
    values["status"] = (
        EventStatus.DISPATCHED.value if department is not None else EventStatus.REPORTED.value
    )
    values["handling_department_code"] = department
    values["dispatched_at"] = now if department is not None else None
    values["deadline"] = values["reported_at"] + timedelta(hours=hours)


def removable(target: Target) -> ColumnElement[bool]:
    """Which rows a removal may take: a house or room other shared rows (or the standard
    address base) still name stays, and is removed by a later run once nothing does."""
    t = target.table
    if target.name == "houses":
        code = t.c.code
        return and_(
            ~exists(select(ROOMS.c.code).where(ROOMS.c.house_code == code)),
            ~exists(select(ADDRESSES.c.code).where(ADDRESSES.c.house_code == code)),
            ~exists(select(PEOPLE.c.id).where(PEOPLE.c.house_code == code)),
            ~exists(select(ENTITIES.c.credit_code).where(ENTITIES.c.house_code == code)),
            ~exists(select(EVENTS.c.id).where(EVENTS.c.house_code == code)),
        )
    if target.name == "rooms":
        code = t.c.code
        return and_(
            ~exists(select(ADDRESSES.c.code).where(ADDRESSES.c.room_code == code)),
            ~exists(select(PEOPLE.c.id).where(PEOPLE.c.room_code == code)),
        )
    return true()


async def before_remove(
    connection: AsyncConnection,
    target: Target,
    removed: Select[Any],
    by: str,
    run_id: int,
    now: datetime,
) -> None:
    """What goes before the rows ``removed`` (a select of their row keys) are deleted: a
    removed resident's entities lose their representative (with history); a withdrawn event
    loses its steps."""
    if target.name == "people":
        await _unlink_representatives(connection, removed, by, run_id, now)
    elif target.name == "events":
        await connection.execute(
            delete(ACTIONS).where(ACTIONS.c.event_id.in_(removed.scalar_subquery()))
        )


async def _unlink_representatives(
    connection: AsyncConnection, removed: Select[Any], by: str, run_id: int, now: datetime
) -> None:
    linked = ENTITIES.c.legal_representative_id.in_(removed.scalar_subquery())
    await connection.execute(
        insert(HISTORY).from_select(
            [
                "target",
                "row_key",
                "field",
                "old_value",
                "new_value",
                "changed_at",
                "changed_by_kind",
                "changed_by",
                "source_ref",
            ],
            select(
                literal("entities"),
                ENTITIES.c.credit_code,
                literal("legalRepresentative"),
                ENTITIES.c.legal_representative_id.cast(HISTORY.c.old_value.type),
                literal(None, HISTORY.c.new_value.type),
                literal(now, HISTORY.c.changed_at.type),
                literal("feed"),
                literal(by),
                literal(str(run_id)),
            ).where(linked),
        )
    )
    await connection.execute(
        update(ENTITIES).where(linked).values(legal_representative_id=None, updated_at=now)
    )


async def after_insert(
    connection: AsyncConnection, target: Target, feed: FeedDefinition, run_id: int, by: str
) -> None:
    """What follows the insert of new rows: each new event's first steps, as ``reportEvent``
    writes them (reported by the feed's department; dispatched by the hub when its matter
    names a department)."""
    if target.name != "events":
        return
    new = and_(
        EVENTS.c.source_run == run_id,
        EVENTS.c.source_event_id.is_not(None),
        ~exists(select(ACTIONS.c.id).where(ACTIONS.c.event_id == EVENTS.c.id)),
    )
    columns = [
        "event_id",
        "action",
        "from_status",
        "to_status",
        "actor",
        "actor_kind",
        "actor_department",
        "department_code",
        "note",
        "at",
    ]
    text = ACTIONS.c.note.type
    dispatched = select(EVENTS.c.id).where(new, EVENTS.c.handling_department_code.is_not(None))
    dispatch_ids = [int(i) for i in (await connection.execute(dispatched)).scalars()]
    await connection.execute(
        insert(ACTIONS).from_select(
            columns,
            select(
                EVENTS.c.id,
                literal("report"),
                literal(None, ACTIONS.c.from_status.type),
                literal(EventStatus.REPORTED.value),
                literal(by),
                literal("feed"),
                literal(feed.department),
                literal(None, ACTIONS.c.department_code.type),
                literal(f"{feed.code} run {run_id}", text),
                EVENTS.c.reported_at,
            )
            .where(new)
            .order_by(EVENTS.c.id),
        )
    )
    if dispatch_ids:
        await connection.execute(
            insert(ACTIONS).from_select(
                columns,
                select(
                    EVENTS.c.id,
                    literal("dispatch"),
                    literal(EventStatus.REPORTED.value),
                    literal(EventStatus.DISPATCHED.value),
                    literal(HUB),
                    literal(HUB),
                    literal(None, ACTIONS.c.actor_department.type),
                    EVENTS.c.handling_department_code,
                    literal("routed by the matter list", text),
                    EVENTS.c.dispatched_at,
                )
                .where(EVENTS.c.id.in_(dispatch_ids))
                .order_by(EVENTS.c.id),
            )
        )
