"""Events of the profile's last ``event_days`` (the demo: 180), each at its own stage of handling
on the ``as_of`` date.

Each event gets a whole handling timeline (:mod:`demo.event_histories`: reported and routed,
accepted, perhaps returned and dispatched again, resolved, closed, supervised when overdue) and
shows the stage it had reached at the start of ``as_of``, with the steps to it as its history
(``District.event_actions``); so old events are mostly closed and recent ones still open, without
a rule saying so.
"""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import TYPE_CHECKING

from faker import Faker

from demo import names
from demo.event_histories import LATE_SHARE, RETURNED_SHARE, STUCK_SHARE, Actor, timeline
from demo.geometry import random_point_in
from demo.reference import DEPARTMENTS, DISTRICT_NAME, MATTER_WEIGHTS, MATTERS, MatterRef
from store.models.people import CareTag, decode_care_tags

if TYPE_CHECKING:
    from demo.generator import District, GridPlace, Profile, Row

#: China keeps one offset all year, so a fixed zone is exact and needs no tz database.
CHINA = timezone(timedelta(hours=8), "CST")
#: The demo's span of events, in days back from ``as_of`` (``Profile.event_days``).
DAYS_BACK = 180
HOUR = 3600

SOURCES = {
    "grid_patrol": 40,
    "citizen_app": 20,
    "hotline_12345": 18,
    "video_ai": 9,
    "iot_sensor": 8,
    "department_referral": 5,
}
#: The matters a source can report; sources not listed report any matter.
SOURCE_MATTERS: dict[str, tuple[str, ...]] = {
    "iot_sensor": (
        "gas_leak",
        "waterlogging",
        "manhole_cover_missing",
        "garbage_overflow",
        "fire_lane_blocked",
    ),
    "video_ai": (
        "street_vending",
        "fire_lane_blocked",
        "muck_truck_spill",
        "ebike_indoor_charging",
        "garbage_overflow",
        "fallen_tree",
    ),
    "department_referral": (
        "rental_house_hazard",
        "food_safety",
        "unlicensed_business",
        "illegal_construction",
        "hazardous_chemicals_storage",
        "wage_arrears",
    ),
}
SENSOR_KINDS = {
    "gas_leak": "GAS",
    "waterlogging": "WL",
    "manhole_cover_missing": "MH",
    "garbage_overflow": "BIN",
    "fire_lane_blocked": "FL",
}
#: Matters found on the street rather than in a building: only some are tied to a house.
STREET_MATTERS = {
    "fallen_tree",
    "manhole_cover_missing",
    "waterlogging",
    "road_damage",
    "street_vending",
    "muck_truck_spill",
    "garbage_overflow",
}
#: Reports by local hour of day: few at night, most in working hours and the evening.
HOUR_WEIGHTS = (1, 1, 1, 1, 1, 2, 3, 5, 8, 10, 10, 9, 7, 8, 9, 9, 9, 8, 7, 7, 6, 5, 3, 2)
__all__ = ["LATE_SHARE", "RETURNED_SHARE", "STUCK_SHARE", "event_actions", "events"]


def events(
    profile: Profile,
    district: District,
    places: list[GridPlace],
    rng: random.Random,
    faker: Faker,
    as_of: date,
) -> list[Row]:
    """Events numbered 1..n in the order they were reported."""
    matters = {matter.code: matter for matter in MATTERS}
    place_of = {place.code: place for place in places}
    houses_for = _houses_for(district)
    now = datetime.combine(as_of, time(), tzinfo=CHINA)
    rows: list[Row] = []
    for _ in range(profile.events):
        source = rng.choices(list(SOURCES), list(SOURCES.values()))[0]
        allowed = SOURCE_MATTERS.get(source, tuple(MATTER_WEIGHTS))
        matter = matters[rng.choices(allowed, [MATTER_WEIGHTS[code] for code in allowed])[0]]
        at_house = rng.random() < (0.25 if matter.code in STREET_MATTERS else 0.95)
        house = rng.choice(houses_for.get(matter.code) or district.houses) if at_house else None
        if house is not None:
            place = place_of[house["grid_code"]]
            lon, lat, spot = house["lon"], house["lat"], house["address"]
        else:
            place = rng.choice(places)
            lon, lat = random_point_in(place.polygon, rng)
            road = rng.choice(place.roads)
            spot = f"{DISTRICT_NAME}{place.street}街道{place.community}社区{road}附近"
        day = now - timedelta(days=rng.randint(1, profile.event_days))
        hour = rng.choices(range(24), HOUR_WEIGHTS)[0]
        reported = day + timedelta(hours=hour, seconds=rng.randrange(HOUR))
        reporter = _reporter(source, matter, place, rng, faker)
        handled = timeline(
            reported,
            matter.time_limit_hours,
            matter.department_code,
            place.code,
            _reporting(source, reporter, place.code),
            now,
            rng,
        )
        rows.append(
            {
                "id": 0,
                "source": source,
                "category_code": matter.code,
                "description": rng.choice(names.EVENT_TEMPLATES[matter.code]).format(place=spot),
                "status": handled.status,
                "reporter": reporter,
                "lon": lon,
                "lat": lat,
                "house_code": house["code"] if house else None,
                "grid_code": place.code,
                "handling_department_code": matter.department_code,
                "reported_at": reported.astimezone(UTC),
                "occurred_at": None,
                "deadline": (reported + timedelta(hours=matter.time_limit_hours)).astimezone(UTC),
                **handled.columns,
                "steps": handled.steps,
            }
        )
    rows.sort(key=lambda row: row["reported_at"])
    for number, row in enumerate(rows, start=1):
        row["id"] = number
    return rows


def event_actions(rows: list[Row]) -> list[Row]:
    """Take each event's steps out of its row: the ``event_actions`` rows, numbered in order."""
    found: list[Row] = []
    for row in rows:
        for step in row.pop("steps"):
            found.append({"id": len(found) + 1, "event_id": row["id"], **step})
    return found


def _reporting(source: str, reporter: str, grid_code: str) -> Actor:
    """Who the report step is recorded as: the grid's worker on patrol, else the reporter as
    named (a citizen, the hotline, a sensor, a camera, a department)."""
    if source == "grid_patrol":
        return Actor(f"worker-{grid_code}", "person", "grid_office")
    kind = "person" if source == "citizen_app" else "client"
    return Actor(reporter[:64], kind, None)


def _houses_for(district: District) -> dict[str, list[Row]]:
    """Houses where some matters happen: alone elderly people's, restaurants', factories'."""
    houses = {house["code"]: house for house in district.houses}
    found: dict[str, list[Row]] = defaultdict(list)
    for person in district.people:
        if CareTag.ELDERLY_ALONE in decode_care_tags(person["care_tags"]):
            found["elderly_alone_visit"].append(houses[person["house_code"]])
    for entity in district.entities:
        house = houses[entity["house_code"]]
        if entity["industry"] in ("catering", "retail"):
            found["food_safety"].append(house)
        if entity["industry"] in ("manufacturing", "hazardous_chemicals"):
            found["wage_arrears"].append(house)
        if entity["industry"] == "hazardous_chemicals":
            found["hazardous_chemicals_storage"].append(house)
    for house in district.houses:
        if house["use"] in ("urban_village", "residential"):
            found["rental_house_hazard"].append(house)
    return found


def _reporter(
    source: str, matter: MatterRef, place: GridPlace, rng: random.Random, faker: Faker
) -> str:
    if source == "grid_patrol":
        return place.worker
    if source == "citizen_app":
        return faker.name()
    if source == "hotline_12345":
        return "12345热线市民"
    if source == "iot_sensor":
        kind = SENSOR_KINDS.get(matter.code, "GEN")
        return f"IOT-{kind}-{place.code}-{rng.randint(1, 40):03d}"
    if source == "video_ai":
        return f"CAM-{place.code}-{rng.randint(1, 60):04d}"
    others = [dept.name for dept in DEPARTMENTS if dept.code != matter.department_code]
    return rng.choice(others)
