"""The event state machine, in one place: states, actions, and the state each action leads to.

The statuses are those of the matter list's flow (DOMAIN.md): an event is ``reported``; routed
to a department it is ``dispatched``; the department accepts it and it is ``handling``; it is
``resolved`` by the department and ``closed`` by the reporter's side after checking. A
department that is not the right one ``returned`` it to the dispatcher, who routes it again.
``accepted`` is the grid centre's receipt (受理) of a report that waits for manual dispatch; the
demo's and the departments' older records carry it, and it is dispatched like ``reported``.

Who may take each action is :mod:`events.owners`; this module knows only states, so that it can
be tested exhaustively and replayed: :func:`replay` runs a history from nothing and must end in
the event's current status.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from store.models.events import EventStatus


class Action(enum.StrEnum):
    """What can happen to an event; the history keeps one of these per step."""

    REPORT = "report"
    DISPATCH = "dispatch"
    ACCEPT = "accept"
    RETURN = "return"
    RESOLVE = "resolve"
    CLOSE = "close"
    REOPEN = "reopen"
    SUPERVISE = "supervise"


S = EventStatus
#: Every status an event may be in.
STATES: frozenset[EventStatus] = frozenset(EventStatus)
#: Statuses in which the event waits for the grid centre to dispatch it.
AWAITING_DISPATCH: frozenset[EventStatus] = frozenset({S.REPORTED, S.ACCEPTED, S.RETURNED})
#: Statuses in which nothing more is expected of anyone.
FINISHED: frozenset[EventStatus] = frozenset({S.CLOSED})


@dataclass(frozen=True, slots=True)
class Step:
    """An action's allowed starting statuses and where it leads (None: the status stays)."""

    sources: frozenset[EventStatus]
    target: EventStatus | None


#: Action → the statuses it may start from and the status it leads to. ``report`` starts from
#: nothing (an event that does not exist yet); its target is ``reported``, and an event whose
#: matter names a department is dispatched in the same transaction (a second step).
STEPS: Mapping[Action, Step] = MappingProxyType(
    {
        Action.REPORT: Step(frozenset(), S.REPORTED),
        Action.DISPATCH: Step(AWAITING_DISPATCH, S.DISPATCHED),
        Action.ACCEPT: Step(frozenset({S.DISPATCHED}), S.HANDLING),
        Action.RETURN: Step(frozenset({S.DISPATCHED, S.HANDLING}), S.RETURNED),
        Action.RESOLVE: Step(frozenset({S.HANDLING}), S.RESOLVED),
        Action.CLOSE: Step(frozenset({S.RESOLVED}), S.CLOSED),
        # Not satisfied with the result (before closing), or the problem came back (after):
        # back to the handling department, which accepts it again.
        Action.REOPEN: Step(frozenset({S.RESOLVED, S.CLOSED}), S.DISPATCHED),
        # 督办: a note on an event still open; its status does not change.
        Action.SUPERVISE: Step(STATES - FINISHED - {S.RESOLVED}, None),
    }
)


class InvalidTransition(Exception):
    """``action`` may not be taken on an event in ``status``."""

    def __init__(self, action: Action, status: EventStatus | None) -> None:
        self.action = action
        self.status = status
        allowed = ", ".join(sorted(s.name for s in STEPS[action].sources)) or "none (a new event)"
        now = "no event" if status is None else f"{status.name}"
        super().__init__(f"Cannot {action.value} an event that is {now}; allowed from: {allowed}")


def allowed_from(action: Action, status: EventStatus | None) -> bool:
    """Whether ``action`` may be taken on an event in ``status`` (None: no event yet)."""
    step = STEPS[action]
    if action is Action.REPORT:
        return status is None
    return status is not None and status in step.sources


def next_status(action: Action, status: EventStatus | None) -> EventStatus:
    """The status after ``action`` from ``status``; :class:`InvalidTransition` if not allowed."""
    if not allowed_from(action, status):
        raise InvalidTransition(action, status)
    target = STEPS[action].target
    if target is None:
        assert status is not None  # only REPORT starts from nothing, and it has a target
        return status
    return target


def actions_from(status: EventStatus) -> frozenset[Action]:
    """The actions that may be taken on an event in ``status``."""
    return frozenset(action for action in Action if allowed_from(action, status))


def replay(actions: Iterable[Action]) -> EventStatus:
    """The status a history of actions ends in, from nothing; :class:`InvalidTransition` if a
    step was not allowed where it happened."""
    status: EventStatus | None = None
    for action in actions:
        status = next_status(action, status)
    if status is None:
        raise InvalidTransition(Action.REPORT, None)
    return status
