"""The event workflow's writes: a report, and each action on an event, in one transaction.

Every write sets ``events.updated_at`` to the action's time (apps' change feeds and the push
channel read it), appends the step to the event's history (``event_actions``) and records the
changed fields in ``row_history``; a refusal (wrong role, wrong area, wrong state, a point
outside the district, bad input) is raised before the transaction commits, so nothing is
half-written. The request pipeline audits the request around all of this.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from events import placement
from events.errors import OutsideDistrict, WrongState
from events.owners import Actor, Target, check_may_report, check_owner, check_reporter
from events.states import Action, InvalidTransition, next_status
from policies import row_scope as scoping
from store.errors import BadUserInput
from store.models import Department, Event, EventAction, EventSource, EventStatus, Matter, RowChange

#: Who the hub's own routing is recorded as.
HUB = "hub"
ROUTER = Actor(HUB, HUB, None, frozenset(), (), None)
MAX_TEXT = 2000
#: How far in the future an ``occurredAt`` may lie (clocks of devices drift).
CLOCK_SKEW = timedelta(minutes=5)

_events = Event.__table__
_actions = EventAction.__table__


@dataclass(frozen=True, slots=True)
class Report:
    """What a reporter says: the matter, where, what, at which house, how it came, when."""

    category: str
    lon: float
    lat: float
    description: str
    source: str
    house_code: str | None = None
    occurred_at: datetime | None = None


def _text(value: str | None, name: str, required: bool) -> str | None:
    value = None if value is None else value.strip()
    if not value:
        if required:
            raise BadUserInput(f"`{name}` must not be empty", field=name)
        return None
    if len(value) > MAX_TEXT or "\x00" in value:
        raise BadUserInput(f"`{name}` takes at most {MAX_TEXT} characters", field=name)
    return value


def _check_report(report: Report, now: datetime) -> None:
    _text(report.description, "description", True)
    if report.source not in set(EventSource):
        raise BadUserInput(f"No event source {report.source!r}", field="source")
    if not (math.isfinite(report.lon) and math.isfinite(report.lat)):
        raise BadUserInput("`location` needs finite lon and lat", field="location")
    if report.occurred_at is not None:
        if report.occurred_at.tzinfo is None:
            raise BadUserInput(
                "`occurredAt` needs a time zone (e.g. 2026-01-01T08:00:00+08:00)",
                field="occurredAt",
            )
        if report.occurred_at > now + CLOCK_SKEW:
            raise BadUserInput("`occurredAt` lies in the future", field="occurredAt")


async def report_event(
    engine: AsyncEngine, plan: Any, report: Report, now: datetime, *, postgis: bool | None = None
) -> int:
    """Place, route and store a report; returns the new event's id.

    The matter names the department and the time limit: the event is dispatched there at once
    (a ``dispatch`` step by the hub), or, for a matter with no department, waits ``reported``
    at the street's grid centre."""
    actor = Actor.of(plan)
    check_may_report(actor)
    _check_report(report, now)
    async with engine.begin() as connection:
        matter = (
            await connection.execute(
                select(Matter.__table__).where(Matter.__table__.c.code == report.category)
            )
        ).first()
        if matter is None:
            raise BadUserInput(
                f"No matter {report.category!r} in the matter list", field="category"
            )
        if postgis is None:
            postgis = await placement.uses_postgis(connection)
        nearest: str | None = None
        if postgis and report.house_code is None:  # grid and house in one round trip
            grid, nearest = await placement.place_postgis(connection, report.lon, report.lat)
        else:
            grid = await placement.place_grid(connection, report.lon, report.lat, postgis)
        if grid is None:
            raise OutsideDistrict(
                f"The point ({report.lon}, {report.lat}) lies in no grid of the district",
                field="location",
            )
        check_reporter(actor, grid)
        if postgis and report.house_code is None:
            house = nearest
        else:
            house = await placement.place_house(
                connection, grid, report.lon, report.lat, report.house_code
            )
        department = matter.department_code
        # A routed report is stored dispatched at once (no INSERT then UPDATE); its history
        # still holds both steps, the report's and the hub's dispatch, written in one INSERT.
        event_id = await connection.scalar(
            insert(_events)
            .values(
                source=report.source,
                category_code=matter.code,
                description=_text(report.description, "description", True),
                status=(EventStatus.REPORTED if department is None else EventStatus.DISPATCHED),
                reporter=actor.subject,
                lon=report.lon,
                lat=report.lat,
                house_code=house,
                grid_code=grid,
                handling_department_code=department,
                reported_at=now,
                dispatched_at=None if department is None else now,
                occurred_at=report.occurred_at,
                deadline=now + timedelta(hours=matter.time_limit_hours),
                updated_at=now,
            )
            .returning(_events.c.id)
        )
        assert event_id is not None
        steps = [_step_row(event_id, Action.REPORT, None, EventStatus.REPORTED, actor, now)]
        if department is not None:
            steps.append(
                _step_row(
                    event_id,
                    Action.DISPATCH,
                    EventStatus.REPORTED,
                    EventStatus.DISPATCHED,
                    ROUTER,
                    now,
                    department=department,
                    note="routed by the matter list",
                )
            )
        written = await connection.execute(
            insert(_actions).values(steps).returning(_actions.c.id, _actions.c.action)
        )
        if department is not None:
            dispatched = next(r.id for r in written if r.action == Action.DISPATCH.value)
            await _history(
                connection,
                event_id,
                {
                    "status": ("reported", "dispatched"),
                    "handlingDepartmentCode": (None, department),
                },
                ROUTER,
                dispatched,
                department,
                now,
            )
    return int(event_id)


async def act(
    engine: AsyncEngine,
    plan: Any,
    event_id: int,
    action: Action,
    now: datetime,
    *,
    note: str | None = None,
    department: str | None = None,
) -> int:
    """Take ``action`` on the event (as the plan's principal); returns the event's id.

    An event the caller may not see is refused as one that does not exist (no oracle for ids);
    then the step's owner is checked, then the state (so a stranger learns nothing of the
    status), then the step's own input."""
    actor = Actor.of(plan)
    async with engine.begin() as connection:
        row = (
            await connection.execute(
                select(_events).where(
                    _events.c.id == event_id,
                    *scoping.row_scope(plan, "events.target", "events", _events.c.grid_code),
                )
            )
        ).first()
        if row is None:
            raise BadUserInput(f"There is no event {event_id} that you may act on", field="id")
        target = Target(row.id, row.grid_code, row.reporter, row.handling_department_code)
        check_owner(actor, action, target)
        before = EventStatus(row.status)
        try:
            after = next_status(action, before)
        except InvalidTransition as refused:
            raise WrongState(str(refused), status=before.name, action=action.value) from None
        values, note = await _values(connection, row, action, now, note, department)
        await _change(connection, event_id, before, after, values, now)
        action_id = await _step(
            connection,
            event_id,
            action,
            before,
            after,
            actor,
            now,
            department=values.get("handling_department_code"),
            note=note,
        )
        changed: dict[str, tuple[str | None, str | None]] = {}
        if after is not before:
            changed["status"] = (before.value, after.value)
        if "handling_department_code" in values:
            changed["handlingDepartmentCode"] = (
                row.handling_department_code,
                values["handling_department_code"],
            )
        await _history(
            connection,
            event_id,
            changed,
            actor,
            action_id,
            values.get("handling_department_code", row.handling_department_code),
            now,
        )
    return event_id


async def _values(
    connection: AsyncConnection,
    row: Any,
    action: Action,
    now: datetime,
    note: str | None,
    department: str | None,
) -> tuple[dict[str, Any], str | None]:
    """The columns ``action`` sets besides status and update time, and the step's note."""
    if action is Action.DISPATCH:
        if department is None:
            raise BadUserInput("Dispatching names the `department`", field="department")
        known = await connection.scalar(
            select(Department.__table__.c.code).where(Department.__table__.c.code == department)
        )
        if known is None:
            raise BadUserInput(f"No department {department!r}", field="department")
        return {"handling_department_code": department, "dispatched_at": now}, _text(
            note, "note", False
        )
    if action is Action.ACCEPT:
        return {"accepted_at": now}, _text(note, "note", False)
    if action is Action.RETURN:
        return {}, _text(note, "reason", True)
    if action is Action.RESOLVE:
        return {"resolved_at": now}, _text(note, "result", True)
    if action is Action.CLOSE:
        return {"closed_at": now, "on_time": now <= row.deadline}, _text(note, "note", False)
    if action is Action.REOPEN:
        cleared: dict[str, Any] = dict.fromkeys(
            ("closed_at", "on_time", "resolved_at", "accepted_at")
        )
        return cleared, _text(note, "reason", True)
    if action is Action.SUPERVISE:
        counted = {"supervision_count": _events.c.supervision_count + 1, "supervised_at": now}
        return counted, _text(note, "note", True)
    raise AssertionError(action)


async def _change(
    connection: AsyncConnection,
    event_id: int,
    before: EventStatus,
    after: EventStatus,
    values: dict[str, Any],
    now: datetime,
) -> None:
    """Move the event from ``before`` to ``after``: refused if another action moved it first
    (the status is part of the condition, so two racing actions cannot both pass)."""
    result = await connection.execute(
        update(_events)
        .where(_events.c.id == event_id, _events.c.status == before.value)
        .values(status=after.value, updated_at=now, **values)
    )
    if result.rowcount != 1:
        raise WrongState(f"Event {event_id} changed meanwhile; read it again", status=before.name)


def _step_row(
    event_id: int,
    action: Action,
    before: EventStatus | None,
    after: EventStatus,
    actor: Actor,
    now: datetime,
    *,
    department: str | None = None,
    note: str | None = None,
) -> dict[str, Any]:
    """One ``event_actions`` row: the step, who took it, when."""
    return {
        "event_id": event_id,
        "action": action.value,
        "from_status": None if before is None else before.value,
        "to_status": after.value,
        "actor": actor.subject,
        "actor_kind": actor.kind,
        "actor_department": actor.department,
        "department_code": department,
        "note": note,
        "at": now,
    }


async def _step(
    connection: AsyncConnection,
    event_id: int,
    action: Action,
    before: EventStatus | None,
    after: EventStatus,
    actor: Actor,
    now: datetime,
    *,
    department: str | None = None,
    note: str | None = None,
) -> int:
    row = _step_row(event_id, action, before, after, actor, now, department=department, note=note)
    found = await connection.scalar(insert(_actions).values(row).returning(_actions.c.id))
    assert found is not None
    return int(found)


async def _history(
    connection: AsyncConnection,
    event_id: int,
    changed: dict[str, tuple[str | None, str | None]],
    actor: Actor,
    action_id: int,
    department: str | None,
    now: datetime,
) -> None:
    """One ``row_history`` row per field the step changed (by kind ``event``)."""
    if not changed:
        return
    await connection.execute(
        insert(RowChange.__table__),
        [
            {
                "target": "events",
                "row_key": str(event_id),
                "field": field,
                "old_value": old,
                "new_value": new,
                "changed_at": now,
                "changed_by_kind": "event",
                "changed_by": actor.subject,
                "source_ref": str(action_id),
                "department": department,
            }
            for field, (old, new) in changed.items()
        ],
    )
