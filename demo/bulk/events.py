"""The events of a streamed district, one slice of days at a time.

The rules are :mod:`demo.events`' — sources and what each reports, the matter list's weights,
departments and time limits, which matters happen at a house and at which houses, the hour of
day, the handling timeline with its returns, late and stuck cases, and the reporters — drawn
with times kept as whole seconds since the epoch rather than datetimes: at 21 million events
the difference is most of the seeding time.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from operator import itemgetter
from typing import Any

from shapely.geometry import Polygon

from demo.bulk.draws import Weighted, full_name
from demo.bulk.plan import EventSlice, sub_seed
from demo.bulk.streets import HouseBrief, StreetSummary
from demo.events import (
    CHINA,
    HOUR,
    HOUR_WEIGHTS,
    LATE_SHARE,
    RETURNED_SHARE,
    SENSOR_KINDS,
    SOURCE_MATTERS,
    SOURCES,
    STREET_MATTERS,
    STUCK_SHARE,
)
from demo.generator import GridPlace
from demo.names import EVENT_TEMPLATES
from demo.reference import DEPARTMENTS, DISTRICT_NAME, MATTER_WEIGHTS, MATTERS, MatterRef

DAY = 24 * HOUR
#: How many events a piece handed to the loader holds.
PIECE_ROWS = 20_000

EventRow = tuple[Any, ...]
Emit = Callable[[str, list[EventRow]], None]

_MATTER = {matter.code: matter for matter in MATTERS}
_SOURCE = Weighted(SOURCES)
_MATTERS_OF = {
    source: Weighted(
        {code: MATTER_WEIGHTS[code] for code in SOURCE_MATTERS.get(source, tuple(MATTER_WEIGHTS))}
    )
    for source in SOURCES
}
_HOUR = Weighted(dict(enumerate(HOUR_WEIGHTS)))
_REFERRERS = {
    matter.code: [dept.name for dept in DEPARTMENTS if dept.code != matter.department_code]
    for matter in MATTERS
}


@dataclass(frozen=True, slots=True)
class EventPlace:
    """A grid as events see it: names for the spot, roads, its outline (counter-clockwise, the
    closing vertex left out) and bounds, and its grid worker."""

    code: str
    street: str
    community: str
    roads: tuple[str, ...]
    ring: tuple[tuple[float, float], ...]
    bounds: tuple[float, float, float, float]
    worker: str

    @classmethod
    def of(cls, place: GridPlace) -> EventPlace:
        polygon: Polygon = place.polygon
        ring = tuple((x, y) for x, y in polygon.exterior.coords[:-1])
        if polygon.exterior.is_ccw is False:
            ring = ring[::-1]
        bounds = polygon.bounds
        return cls(
            place.code,
            place.street,
            place.community,
            tuple(place.roads),
            ring,
            (bounds[0], bounds[1], bounds[2], bounds[3]),
            place.worker,
        )


@dataclass(frozen=True, slots=True)
class EventContext:
    """The district as every event slice needs it: houses, the houses where some matters
    happen (indexes into ``houses``, by matter), and the grids."""

    houses: list[HouseBrief]
    houses_for: dict[str, list[int]]
    places: list[EventPlace]
    place_index: dict[str, int]

    @classmethod
    def of(cls, places: Sequence[GridPlace], summaries: Sequence[StreetSummary]) -> EventContext:
        houses: list[HouseBrief] = []
        found: dict[str, list[str]] = {}
        for summary in sorted(summaries, key=lambda s: s.street_index):
            houses.extend(summary.houses)
            for matter, codes in summary.houses_for.items():
                found.setdefault(matter, []).extend(codes)
        index = {house[0]: i for i, house in enumerate(houses)}
        houses_for = {matter: [index[code] for code in codes] for matter, codes in found.items()}
        houses_for["rental_house_hazard"] = [
            i for i, house in enumerate(houses) if house[5] in ("urban_village", "residential")
        ]
        event_places = [EventPlace.of(place) for place in places]
        return cls(
            houses,
            houses_for,
            event_places,
            {place.code: i for i, place in enumerate(event_places)},
        )


def midnight(as_of: date) -> int:
    """The start of ``as_of`` in the district, in seconds since the epoch."""
    return int(datetime.combine(as_of, time(), tzinfo=CHINA).timestamp())


def make_events(task: EventSlice, context: EventContext, emit: Emit) -> None:
    """Emit the slice's events, numbered in the order they were reported."""
    rng = random.Random(sub_seed(task.seed, "events", task.index))
    now = midnight(task.as_of)
    houses, houses_for, places = context.houses, context.houses_for, context.places
    rows: list[EventRow] = []
    for _ in range(task.count):
        source = _SOURCE(rng)
        matter = _MATTER[_MATTERS_OF[source](rng)]
        at_house = rng.random() < (0.25 if matter.code in STREET_MATTERS else 0.95)
        house_code: str | None = None
        if at_house and houses:
            pool = houses_for.get(matter.code)
            if pool:
                house = houses[pool[int(rng.random() * len(pool))]]
            else:
                house = houses[int(rng.random() * len(houses))]
            house_code, lon, lat, spot = house[0], house[1], house[2], house[3]
            place = places[context.place_index[house[4]]]
        else:
            place = places[int(rng.random() * len(places))]
            lon, lat = _point_in(place, rng)
            road = place.roads[int(rng.random() * len(place.roads))]
            spot = f"{DISTRICT_NAME}{place.street}街道{place.community}社区{road}附近"
        day_back = _between(rng, task.first_day_back, task.last_day_back)
        hour = _HOUR(rng)
        second = int(rng.random() * HOUR)
        reported = now - day_back * DAY + hour * HOUR + second
        status, dispatched_at, closed_at = _progress(reported, hour, second, matter, now, rng)
        templates = EVENT_TEMPLATES[matter.code]
        rows.append(
            (
                0,
                source,
                matter.code,
                templates[int(rng.random() * len(templates))].format(place=spot),
                status,
                _reporter(source, matter, place, rng),
                lon,
                lat,
                house_code,
                place.code,
                matter.department_code,
                reported,
                dispatched_at,
                closed_at,
                reported + matter.time_limit_hours * HOUR,
            )
        )
    rows.sort(key=itemgetter(11))
    for start in range(0, len(rows), PIECE_ROWS):
        piece = rows[start : start + PIECE_ROWS]
        first = task.first_id + start
        emit("events", [(first + i, *row[1:]) for i, row in enumerate(piece)])


def _between(rng: random.Random, low: int, high: int) -> int:
    """``rng.randint(low, high)`` at a fifth of its cost (one float draw, no rejection loop)."""
    return low + int(rng.random() * (high - low + 1))


def _point_in(place: EventPlace, rng: random.Random) -> tuple[float, float]:
    """As :func:`demo.geometry.random_point_in`, for a convex grid (every grid is one)."""
    min_x, min_y, max_x, max_y = place.bounds
    ring = place.ring
    for _ in range(10_000):
        x = round(rng.uniform(min_x, max_x), 6)
        y = round(rng.uniform(min_y, max_y), 6)
        x1, y1 = ring[-1]
        for x2, y2 in ring:
            if (x2 - x1) * (y - y1) - (y2 - y1) * (x - x1) <= 0:
                break
            x1, y1 = x2, y2
        else:
            return x, y
    raise ValueError(f"grid {place.code} too thin to sample a point from")


def _reporter(source: str, matter: MatterRef, place: EventPlace, rng: random.Random) -> str:
    if source == "grid_patrol":
        return place.worker
    if source == "citizen_app":
        return full_name(rng)
    if source == "hotline_12345":
        return "12345热线市民"
    if source == "iot_sensor":
        kind = SENSOR_KINDS.get(matter.code, "GEN")
        return f"IOT-{kind}-{place.code}-{_between(rng, 1, 40):03d}"
    if source == "video_ai":
        return f"CAM-{place.code}-{_between(rng, 1, 60):04d}"
    return rng.choice(_REFERRERS[matter.code])


def _progress(
    reported: int, hour: int, second: int, matter: MatterRef, now: int, rng: random.Random
) -> tuple[str, int | None, int | None]:
    """As :func:`demo.events._progress`, in seconds: status, dispatch and close times."""
    limit = matter.time_limit_hours * HOUR
    urgent = matter.time_limit_hours <= 4
    if urgent:
        accepted = _between(rng, 60, 600)
    elif not 8 <= hour < 20:  # a routine report at night waits for the morning shift
        to_morning = ((8 - hour) if hour < 8 else (32 - hour)) * HOUR - second
        accepted = to_morning + _between(rng, 0, 2 * HOUR)
    else:
        accepted = _between(rng, 300, 4 * HOUR)
    dispatched = accepted + (_between(rng, 60, 600) if urgent else _between(rng, 600, 8 * HOUR))
    stages = [("reported", 0), ("accepted", accepted), ("dispatched", dispatched)]
    if rng.random() < RETURNED_SHARE:
        returned = dispatched + _between(rng, HOUR, 12 * HOUR)
        dispatched = returned + _between(rng, 4 * HOUR, 72 * HOUR)
        stages += [("returned", returned), ("dispatched", dispatched)]
    handling = dispatched + _between(rng, 60, max(120, limit // 10))
    stages.append(("handling", handling))
    draw = rng.random()
    if draw >= STUCK_SHARE:
        share = rng.uniform(1.0, 2.5) if draw < STUCK_SHARE + LATE_SHARE else rng.uniform(0.3, 0.95)
        resolved = max(handling + 60, int(limit * share))
        closed = resolved + _between(rng, HOUR // 2, 48 * HOUR)
        stages += [("resolved", resolved), ("closed", closed)]
    elapsed = now - reported
    status, offset = "reported", 0
    dispatched_at: int | None = None
    for stage, at in stages:
        if at > elapsed:
            break
        status, offset = stage, at
        if stage == "dispatched":
            dispatched_at = reported + at
    return status, dispatched_at, reported + offset if status == "closed" else None
