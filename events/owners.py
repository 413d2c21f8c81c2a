"""Who owns each step of an event: roles, areas and the handling department.

- Reporting: grid workers inside their own grids, community and street staff inside their
  areas (the roles inherit ``grid_worker``, their areas are their community or street), and
  department apps where their plan shows events (what their grants allow).
- Dispatching and supervising (督办): the street's grid centre — ``street_staff`` over the
  event's grid (a principal of the role whose area is the district supervises everywhere).
- Accepting, returning, resolving: the apps of the department the event is dispatched to.
- Closing and reopening: the reporter's side — grid workers and staff over the event's grid,
  or the app that reported it.

Roles are read from the plan (they include inherited ones, as :mod:`schema.duties` does) and
areas from its principal, so a stale token grants nothing the policy store does not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from events.errors import OutsideArea
from events.states import Action
from store.errors import Forbidden

GRID_WORKER = "grid_worker"
STREET_STAFF = "street_staff"
CLIENT = "client"


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts: the facts of the plan's principal that the steps' owners are decided by."""

    subject: str
    kind: str
    department: str | None
    roles: frozenset[str]
    areas: tuple[str, ...]
    plan: Any

    @classmethod
    def of(cls, plan: Any) -> Actor:
        principal = getattr(plan, "principal", None)
        if principal is None:
            raise Forbidden("Events are reported and handled by signed-in principals")
        return cls(
            principal.subject,
            principal.kind,
            principal.department,
            frozenset(getattr(plan, "roles", ())),
            tuple(principal.areas),
            plan,
        )

    def covers(self, grid_code: str) -> bool:
        """Whether one of the actor's own areas holds the grid."""
        return any(grid_code.startswith(area) for area in self.areas)

    def sees_events_in(self, grid_code: str) -> bool:
        resource = getattr(self.plan, "resource", None)
        return resource is not None and bool(resource("events").visible(grid_code))


def check_may_report(actor: Actor) -> None:
    """Refuse a report by someone of no reporting role, before the point is even placed."""
    if GRID_WORKER not in actor.roles and actor.kind != CLIENT:
        raise Forbidden("Reporting events is for grid workers, community and street staff and apps")


def check_reporter(actor: Actor, grid_code: str) -> None:
    """Refuse a report at ``grid_code`` by someone who may not report there."""
    if GRID_WORKER in actor.roles:
        if not actor.covers(grid_code):
            raise OutsideArea(
                f"The point lies in grid {grid_code}, outside your own area",
                grid=grid_code,
            )
        return
    if actor.kind == CLIENT:
        if not actor.sees_events_in(grid_code):
            raise OutsideArea(
                f"The point lies in grid {grid_code}, where your grants give no events",
                grid=grid_code,
            )
        return
    raise Forbidden("Reporting events is for grid workers, community and street staff and apps")


@dataclass(frozen=True, slots=True)
class Target:
    """The facts of an event its steps' owners are decided by."""

    id: int
    grid_code: str
    reporter: str
    handling_department: str | None


def check_owner(actor: Actor, action: Action, event: Target) -> None:
    """Refuse ``action`` on ``event`` by an actor who does not own that step (FORBIDDEN)."""
    if action in (Action.DISPATCH, Action.SUPERVISE):
        if STREET_STAFF in actor.roles and actor.covers(event.grid_code):
            return
        raise Forbidden(
            f"{action.value.capitalize()} of event {event.id} is for the grid centre of its street"
            " (street_staff over its grid)"
        )
    if action in (Action.ACCEPT, Action.RETURN, Action.RESOLVE):
        if (
            actor.kind == CLIENT
            and event.handling_department is not None
            and actor.department == event.handling_department
        ):
            return
        raise Forbidden(
            f"{action.value.capitalize()} of event {event.id} is for the apps of the department"
            " it is dispatched to"
        )
    if action in (Action.CLOSE, Action.REOPEN):
        if (GRID_WORKER in actor.roles and actor.covers(event.grid_code)) or (
            actor.subject == event.reporter
        ):
            return
        raise Forbidden(
            f"{action.value.capitalize()} of event {event.id} is for the reporter's side: the"
            " grid's workers and staff, or the app that reported it"
        )
    raise Forbidden(f"{action.value} is not taken on an existing event")
