"""The demo events' handling, step by step, as the hub's own workflow would have recorded it.

Each event gets a whole timeline drawn up front — reported; dispatched by the hub at once (the
matter list names the department); accepted by the department's app; sometimes returned (not
the department's matter) and dispatched again by the street's grid centre; resolved; closed by
the grid's worker after checking — and supervised (督办) by the grid centre when it runs past
its deadline unresolved, again each day it stays so. The steps that had happened by the start
of ``as_of`` are the event's history (``event_actions``); replayed through the state machine
(:func:`events.states.replay`) they end in the event's status, and the event's timestamps and
workflow columns are read off them. Old events are therefore mostly closed and recent ones
open, and the overdue open ones carry their supervisions, without a rule saying so.

One timeline costs a handful of draws from the generator's ``random.Random``: the same seed
gives the same histories, and the demo's 4,000 events take milliseconds.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any

#: Who the hub's own routing is recorded as (as :mod:`events.actions` records it).
HUB = "hub"
HOUR = 3600
#: China keeps one offset all year.
CHINA_HOURS = 8
RETURNED_SHARE = 0.05
#: Events still unresolved on ``as_of`` however old: the backlog of cases that need several
#: departments or an owner who cannot be found.
STUCK_SHARE = 0.05
LATE_SHARE = 0.06
#: Most supervisions one event gets (one a day while it stays overdue and unresolved).
MOST_SUPERVISIONS = 3

RETURN_REASONS = (
    "经现场核实不属于本部门职责，请重新派遣",
    "事项归属有误，建议改派属地部门",
    "上报位置与实际不符，请核实后重新派遣",
)
RESULTS = (
    "已到场处置完毕，现场已恢复",
    "已责令整改，复查合格",
    "已联系相关责任人完成处理",
    "已现场处置并做好记录，后续纳入日常巡查",
)
SUPERVISION_NOTES = (
    "已超过处置时限，请加快办理并反馈进展",
    "超期未办结，请于今日内处置完毕",
    "群众再次反映，请优先处置",
)


@dataclass(frozen=True, slots=True)
class Actor:
    subject: str
    kind: str
    department: str | None


@dataclass(slots=True)
class Timeline:
    """An event's steps up to the start of ``as_of``, and the columns they set."""

    status: str
    steps: list[dict[str, Any]] = field(default_factory=list)
    columns: dict[str, Any] = field(default_factory=dict)


def app_of(department: str) -> Actor:
    """The department's app (its OAuth client, as :mod:`demo.principals` names them)."""
    return Actor(department.replace("_", "-") + "-app", "client", department)


def centre_of(grid_code: str) -> Actor:
    """The street's grid centre (``street_staff`` of the grid's street)."""
    return Actor(f"street-{grid_code[:9]}", "person", "grid_office")


def worker_of(grid_code: str) -> Actor:
    return Actor(f"worker-{grid_code}", "person", "grid_office")


def timeline(
    reported: datetime,
    limit_hours: int,
    department: str,
    grid_code: str,
    reporter: Actor,
    now: datetime,
    rng: random.Random,
) -> Timeline:
    """Draw the event's whole handling and keep what had happened by ``now``."""
    limit = limit_hours * HOUR
    app, centre = app_of(department), centre_of(grid_code)
    plan: list[tuple[int, str, str, Actor, str | None, str | None]] = [
        (0, "report", "reported", reporter, None, None),
        (
            0,
            "dispatch",
            "dispatched",
            Actor(HUB, HUB, None),
            department,
            "routed by the matter list",
        ),
    ]
    accepted = _acceptance_delay(reported, limit_hours, rng)
    plan.append((accepted, "accept", "handling", app, None, None))
    if rng.random() < RETURNED_SHARE:  # not the department's: back to the grid centre, re-sent
        returned = accepted + rng.randint(HOUR, 12 * HOUR)
        again = returned + rng.randint(4 * HOUR, 72 * HOUR)
        accepted = again + rng.randint(300, 4 * HOUR)
        plan += [
            (returned, "return", "returned", app, None, rng.choice(RETURN_REASONS)),
            (again, "dispatch", "dispatched", centre, department, "核实后重新派遣"),
            (accepted, "accept", "handling", app, None, None),
        ]
    draw = rng.random()
    resolved: int | None = None
    if draw >= STUCK_SHARE:
        late = draw < STUCK_SHARE + LATE_SHARE
        share = rng.uniform(1.0, 2.5) if late else rng.uniform(0.3, 0.95)
        resolved = max(accepted + rng.randint(60, max(120, limit // 10)), int(limit * share))
    # 督办: overdue and still unresolved — the grid centre presses, once a day at most.
    supervised = limit + rng.randint(HOUR, 12 * HOUR)
    for _ in range(MOST_SUPERVISIONS):
        if resolved is not None and supervised >= resolved:
            break
        plan.append((supervised, "supervise", "", centre, None, rng.choice(SUPERVISION_NOTES)))
        supervised += 24 * HOUR
    if resolved is not None:
        closed = resolved + rng.randint(HOUR // 2, 48 * HOUR)
        plan += [
            (resolved, "resolve", "resolved", app, None, rng.choice(RESULTS)),
            (closed, "close", "closed", worker_of(grid_code), None, None),
        ]
    plan.sort(key=lambda step: step[0])  # stable: same-second steps keep their order
    return _cut(plan, reported, limit, now)


def _acceptance_delay(reported: datetime, limit_hours: int, rng: random.Random) -> int:
    """Seconds until the department takes the event up: minutes for an urgent matter; a
    routine report at night waits for the morning shift."""
    if limit_hours <= 4:
        return rng.randint(60, 600)
    local = reported + timedelta(hours=CHINA_HOURS) if reported.tzinfo is UTC else reported
    if not 8 <= local.hour < 20:
        morning = datetime.combine(local.date(), time(8), tzinfo=local.tzinfo)
        if local.hour >= 20:
            morning += timedelta(days=1)
        return int((morning - local).total_seconds()) + rng.randint(0, 2 * HOUR)
    return rng.randint(300, 4 * HOUR)


def _cut(
    plan: list[tuple[int, str, str, Actor, str | None, str | None]],
    reported: datetime,
    limit: int,
    now: datetime,
) -> Timeline:
    elapsed = (now - reported).total_seconds()
    status = ""
    found = Timeline(status)
    columns: dict[str, Any] = {
        "dispatched_at": None,
        "accepted_at": None,
        "resolved_at": None,
        "closed_at": None,
        "on_time": None,
        "supervision_count": 0,
        "supervised_at": None,
    }
    for offset, action, target, actor, department, note in plan:
        if offset > elapsed:
            break
        at = (reported + timedelta(seconds=offset)).astimezone(UTC)
        before, status = status or None, target or status
        found.steps.append(
            {
                "action": action,
                "from_status": before,
                "to_status": status,
                "actor": actor.subject,
                "actor_kind": actor.kind,
                "actor_department": actor.department,
                "department_code": department,
                "note": note,
                "at": at,
            }
        )
        if action == "dispatch":
            columns["dispatched_at"] = at
        elif action == "accept":
            columns["accepted_at"] = at
        elif action == "resolve":
            columns["resolved_at"] = at
        elif action == "close":
            columns["closed_at"] = at
            columns["on_time"] = offset <= limit
        elif action == "supervise":
            columns["supervision_count"] += 1
            columns["supervised_at"] = at
    found.status = status
    found.columns = columns
    return found
