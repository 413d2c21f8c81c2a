"""``reportEvent`` and the actions on an event: dispatch, accept, return, resolve, close,
reopen, supervise.

Each resolver hands the caller's plan to :mod:`events.actions`, which checks who may take the
step, from which state, places and routes a report, and writes the step in one transaction;
the answer is the event as the caller's plan shows it after the step. The request pipeline
audits the request (its variables, the event returned) like every other.
"""

from __future__ import annotations

from datetime import datetime

import strawberry

from events import actions
from events.states import Action
from resolvers.ids import from_global_id
from schema.base import Info
from schema.enums import EventSource
from schema.events import Event
from store.errors import BadUserInput


@strawberry.input(description="A WGS 84 point.")
class PointInput:
    lon: float
    lat: float


@strawberry.input(description="What a reporter says about an incident or hazard.")
class ReportEventInput:
    category: str = strawberry.field(description="A matter-list code, see `matters`.")
    location: PointInput = strawberry.field(description="Where it is: placed in its grid.")
    description: str = strawberry.field(description="What is wrong, in words.")
    source: EventSource = strawberry.field(description="How it came to be reported.")
    house_code: str | None = strawberry.field(
        default=None,
        description="The building (一楼一码), if it is in one; left out: the nearest house "
        "within 50 m of the point, if any.",
    )
    occurred_at: datetime | None = strawberry.field(
        default=None, description="When it happened (with a time zone)."
    )


def _event_id(value: strawberry.ID) -> int:
    _, key = from_global_id(str(value), "Event")
    if not isinstance(key, int):
        raise BadUserInput(f"There is no event {value!r} that you may act on", field="id")
    return key


async def _shown(info: Info, event_id: int) -> Event | None:
    row = await info.context.loaders.event.load(event_id)
    return None if row is None else Event.from_row(row, info.context)


async def report_event(info: Info, input: ReportEventInput) -> Event | None:
    context = info.context
    report = actions.Report(
        category=input.category,
        lon=input.location.lon,
        lat=input.location.lat,
        description=input.description,
        source=input.source.value,
        house_code=input.house_code,
        occurred_at=input.occurred_at,
    )
    event_id = await actions.report_event(context.engine, context.plan, report, context.now)
    return await _shown(info, event_id)


async def _act(
    info: Info,
    id: strawberry.ID,
    action: Action,
    note: str | None = None,
    department: str | None = None,
) -> Event | None:
    context = info.context
    event_id = await actions.act(
        context.engine,
        context.plan,
        _event_id(id),
        action,
        context.now,
        note=note,
        department=department,
    )
    return await _shown(info, event_id)


async def dispatch_event(
    info: Info, id: strawberry.ID, department: str, note: str | None = None
) -> Event | None:
    return await _act(info, id, Action.DISPATCH, note, department)


async def accept_event(info: Info, id: strawberry.ID, note: str | None = None) -> Event | None:
    return await _act(info, id, Action.ACCEPT, note)


async def return_event(info: Info, id: strawberry.ID, reason: str) -> Event | None:
    return await _act(info, id, Action.RETURN, reason)


async def resolve_event(info: Info, id: strawberry.ID, result: str) -> Event | None:
    return await _act(info, id, Action.RESOLVE, result)


async def close_event(info: Info, id: strawberry.ID, note: str | None = None) -> Event | None:
    return await _act(info, id, Action.CLOSE, note)


async def reopen_event(info: Info, id: strawberry.ID, reason: str) -> Event | None:
    return await _act(info, id, Action.REOPEN, reason)


async def supervise_event(info: Info, id: strawberry.ID, note: str) -> Event | None:
    return await _act(info, id, Action.SUPERVISE, note)
