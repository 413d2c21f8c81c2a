"""The demo district: a deterministic, realistic Bao'an from a seed, a profile and a date.

Everything comes from ``random.Random(seed)`` and a Faker seeded with the same number, never from
the global random state or the clock, so a seed names a district: tests, benchmarks and a
newcomer's first ``gridhub`` run all see the same people in the same rooms.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from faker import Faker
from shapely.geometry import Polygon

from demo import addresses, entities, events, names, population
from demo.events import DAYS_BACK
from demo.geometry import DISTRICT_OUTLINE, random_point_in, split, to_geojson
from demo.names import brand
from demo.reference import DEPARTMENTS, DISTRICT_CODE, DISTRICT_NAME, MATTERS, STREETS

Row = dict[str, Any]


@dataclass(frozen=True)
class Profile:
    """How big a district to make: area counts per level and rows per table."""

    streets: int
    communities_per_street: int
    grids_per_community: int
    houses: int
    people: int
    entities: int
    events: int
    #: Days back from ``as_of`` that events are spread over (the demo's half year; years at scale).
    event_days: int = DAYS_BACK
    #: Rooms per house relative to the demo's (towers and handshake buildings hold more at scale).
    rooms_scale: float = 1.0

    @classmethod
    def demo(cls) -> Profile:
        """What ``gridhub`` seeds by default: big enough to look real, quick to load."""
        return cls(2, 3, 4, houses=1_500, people=8_000, entities=600, events=4_000)

    @classmethod
    def small(cls) -> Profile:
        """For tests: every kind of row, generated in a fraction of a second."""
        return cls(2, 2, 2, houses=120, people=600, entities=60, events=300)

    @classmethod
    def for_people(cls, people: int) -> Profile:
        """A district of ``people`` residents, with as many areas as keep a grid at ~300–1,000.

        Grids are sized for about 500 people each; streets grow to Bao'an's ten first, then
        communities and grids per community grow together. Never smaller than the demo split.
        """
        grids = max(24, math.ceil(people / 500))
        streets = min(10, max(2, math.ceil(grids / 100)))
        communities = min(30, max(3, round(math.sqrt(grids / streets / 3))))
        grids_per_community = max(4, math.ceil(grids / (streets * communities)))
        return cls(
            streets,
            communities,
            grids_per_community,
            houses=max(1, round(people / 5.3)),
            people=people,
            entities=max(1, round(people * 0.075)),
            events=max(1, round(people / 2)),
        )


@dataclass
class District:
    """One row dict per database row, keyed by column name, in an order safe to insert."""

    departments: list[Row] = field(default_factory=list)
    matters: list[Row] = field(default_factory=list)
    grids: list[Row] = field(default_factory=list)
    houses: list[Row] = field(default_factory=list)
    rooms: list[Row] = field(default_factory=list)
    people: list[Row] = field(default_factory=list)
    entities: list[Row] = field(default_factory=list)
    events: list[Row] = field(default_factory=list)
    #: The events' handling steps (``event_actions``), in order.
    event_actions: list[Row] = field(default_factory=list)
    addresses: list[Row] = field(default_factory=list)


@dataclass
class GridPlace:
    """What houses, people and events need to know about the grid they are in."""

    code: str
    street: str
    community: str
    roads: list[str]
    polygon: Polygon
    worker: str


def generate(seed: int, profile: Profile, as_of: date) -> District:
    """Build the whole district; the same arguments always give the same rows."""
    rng = random.Random(seed)
    faker = Faker("zh_CN")
    faker.seed_instance(seed)
    district = District(
        departments=[ref._asdict() for ref in DEPARTMENTS],
        matters=[ref._asdict() for ref in MATTERS],
    )
    district.grids, places = _areas(profile, rng, faker)
    district.houses, dormitories, parts = _houses(profile, places, rng, as_of)
    district.rooms = _rooms(district.houses, dormitories, rng, profile.rooms_scale)
    district.addresses = addresses.standard_addresses(district, parts)
    district.people = population.people(profile, district, dormitories, rng, faker, as_of)
    district.entities = entities.entities(profile, district, places, dormitories, rng, as_of)
    entities.assign_employers(district, dormitories, rng, as_of)
    district.events = events.events(profile, district, places, rng, faker, as_of)
    district.event_actions = events.event_actions(district.events)
    return district


# --- areas ------------------------------------------------------------------------------------


def _area_row(code: str, name: str, level: str, parent: str | None, polygon: Polygon) -> Row:
    min_lon, min_lat, max_lon, max_lat = polygon.bounds
    return {
        "code": code,
        "name": name,
        "level": level,
        "parent_code": parent,
        "geometry": to_geojson(polygon),
        "min_lon": min_lon,
        "min_lat": min_lat,
        "max_lon": max_lon,
        "max_lat": max_lat,
    }


def _areas(profile: Profile, rng: random.Random, faker: Faker) -> tuple[list[Row], list[GridPlace]]:
    """District → streets → communities → grids, parents listed before their children."""
    if not 1 <= profile.streets <= len(STREETS):
        raise ValueError(f"a district has 1 to {len(STREETS)} streets")
    district = DISTRICT_OUTLINE
    rows = [_area_row(DISTRICT_CODE, DISTRICT_NAME, "district", None, district)]
    community_rows: list[Row] = []
    grid_rows: list[Row] = []
    places: list[GridPlace] = []
    used_names: set[str] = set()
    for s, street_polygon in enumerate(split(district, profile.streets, rng), start=1):
        street = STREETS[s - 1]
        street_code = f"{DISTRICT_CODE}{s:03d}"
        rows.append(
            _area_row(street_code, f"{street}街道", "street", DISTRICT_CODE, street_polygon)
        )
        stems = _community_stems(street, profile.communities_per_street, used_names, rng)
        community_polygons = split(street_polygon, profile.communities_per_street, rng)
        for c, (stem, community_polygon) in enumerate(zip(stems, community_polygons, strict=True)):
            community_code = f"{street_code}{c + 1:03d}"
            community_rows.append(
                _area_row(
                    community_code, f"{stem}社区", "community", street_code, community_polygon
                )
            )
            roads = _community_roads(street, stem, rng)
            grid_polygons = split(community_polygon, profile.grids_per_community, rng)
            for g, grid_polygon in enumerate(grid_polygons, start=1):
                code = f"{community_code}{g:03d}"
                name = f"{stem}社区第{g:02d}网格"
                grid_rows.append(_area_row(code, name, "grid", community_code, grid_polygon))
                places.append(GridPlace(code, street, stem, roads, grid_polygon, faker.name()))
    return rows + community_rows + grid_rows, places


def _community_stems(street: str, count: int, used: set[str], rng: random.Random) -> list[str]:
    """Real community names of the street first, then made-up two-character ones, all unique."""
    stems = [stem for stem in names.COMMUNITIES[street] if stem not in used]
    rng.shuffle(stems)
    stems = stems[:count]
    while len(stems) < count:
        stem = "".join(rng.sample(names.SPARE_COMMUNITY_CHARS, 2))
        if stem not in used and stem not in stems:
            stems.append(stem)
    used.update(stems)
    return stems


def _community_roads(street: str, stem: str, rng: random.Random) -> list[str]:
    roads = [f"{stem}路", *rng.sample(names.ROADS[street], 3)]
    return list(dict.fromkeys(roads))


# --- houses and rooms --------------------------------------------------------------------------

USE_WEIGHTS = {
    "residential": 50,
    "urban_village": 22,
    "commercial": 10,
    "industrial": 8,
    "public_rental": 5,
    "office": 5,
}
#: Share of industrial buildings that are company dormitories (宿舍楼).
DORMITORY_SHARE = 0.4
#: Rooms per house (fewest, most) and units per floor (fewest, most), by use.
ROOMS = {
    "residential": ((4, 16), (2, 6)),
    "urban_village": ((6, 24), (2, 6)),
    "public_rental": ((8, 30), (4, 8)),
    "dormitory": ((8, 30), (6, 12)),
    "commercial": ((1, 6), (1, 4)),
    "office": ((2, 12), (1, 6)),
    "industrial": ((1, 4), (1, 2)),
}
ROOM_AREA = {
    "residential": (45, 140),
    "urban_village": (15, 45),
    "public_rental": (35, 90),
    "dormitory": (20, 40),
    "commercial": (20, 300),
    "office": (50, 600),
    "industrial": (200, 2000),
}
MAX_ROOMS = 40
LANES = "一二三四五六七八九十"


def _houses(
    profile: Profile, places: list[GridPlace], rng: random.Random, as_of: date
) -> tuple[list[Row], set[str], dict[str, addresses.HouseParts]]:
    """Houses spread over the grids (every grid gets one), the codes of the dormitories, and
    the parts each house's address was made of (for its standard address)."""
    counts = [1] * len(places)
    weights = [rng.uniform(0.5, 1.5) for _ in places]
    for index in rng.choices(range(len(places)), weights, k=max(0, profile.houses - len(places))):
        counts[index] += 1
    houses: list[Row] = []
    dormitories: set[str] = set()
    taken: set[str] = set()
    parts: dict[str, addresses.HouseParts] = {}
    for place, count in zip(places, counts, strict=True):
        # A grid leans towards one use: urban villages, estates and parks come in clusters.
        leaning = rng.choices(list(USE_WEIGHTS), list(USE_WEIGHTS.values()))[0]
        uses = {use: weight * (2.5 if use == leaning else 1) for use, weight in USE_WEIGHTS.items()}
        for seq in range(1, count + 1):
            use = rng.choices(list(uses), list(uses.values()))[0]
            dormitory = use == "industrial" and rng.random() < DORMITORY_SHARE
            code = f"{place.code}{seq:04d}"
            house, parts[code] = _house(place, code, use, dormitory, taken, rng, as_of)
            houses.append(house)
            if dormitory:
                dormitories.add(house["code"])
    return houses, dormitories, parts


def _house(
    place: GridPlace,
    code: str,
    use: str,
    dormitory: bool,
    taken: set[str],
    rng: random.Random,
    as_of: date,
) -> tuple[Row, addresses.HouseParts]:
    built_year = _built_year(use, rng, min(2024, as_of.year))
    lon, lat = random_point_in(place.polygon, rng)
    while True:
        road = rng.choice(place.roads)
        estate, building = _building(use, dormitory, place.community, rng)
        number = str(rng.randint(1, 400))
        address = (
            f"{DISTRICT_NAME}{place.street}街道{place.community}社区"
            f"{road}{number}号{estate}{building}"
        )
        if address not in taken:
            taken.add(address)
            break
    parts = addresses.HouseParts(place.street, place.community, road, number, estate, building)
    house = {
        "code": code,
        "address": address,
        "use": use,
        "floors": _floors(use, dormitory, built_year, rng),
        "built_year": built_year,
        "lon": lon,
        "lat": lat,
        "grid_code": place.code,
    }
    return house, parts


def _built_year(use: str, rng: random.Random, latest: int) -> int:
    first = {"urban_village": 1985, "industrial": 1988, "residential": 1990, "commercial": 1995}
    last = {"urban_village": 2012, "industrial": 2018}
    start = min(latest, 2010 if use == "public_rental" else first.get(use, 2000))
    return rng.randint(start, min(latest, last.get(use, latest)))


def _floors(use: str, dormitory: bool, built_year: int, rng: random.Random) -> int:
    if use == "residential":
        return (
            rng.randint(6, 9)
            if built_year < 2000
            else rng.choice((rng.randint(8, 18), rng.randint(18, 33)))
        )
    if use == "urban_village":
        return rng.randint(4, 9)
    if use == "public_rental":
        return rng.randint(18, 33)
    if use == "commercial":
        return rng.choice((rng.randint(2, 6), rng.randint(6, 30)))
    if use == "office":
        return rng.randint(10, 45)
    return rng.randint(5, 8) if dormitory else rng.randint(3, 8)


def _building(use: str, dormitory: bool, stem: str, rng: random.Random) -> tuple[str, str]:
    """The building part of an address: the estate or park, and the building (``6栋``, ``A座``,
    or '' for a tower that is its own estate)."""
    number = rng.randint(1, 12)
    if use == "residential":
        estate = rng.choice((f"{stem}苑", f"{stem}花园", f"{stem}新村", brand(rng) + "花园"))
        return rng.choice((estate, brand(rng) + "名苑", brand(rng) + "华庭")), f"{number}栋"
    if use == "urban_village":
        return f"{stem}{rng.choice(('村', '新村', '老村'))}{rng.choice(LANES)}巷", f"{number}栋"
    if use == "public_rental":
        return rng.choice((f"{brand(rng)}人才安居苑", f"{stem}保障性住房")), f"{number}栋"
    if use == "commercial":
        return rng.choice(
            ((f"{brand(rng)}商业广场", f"{'ABCD'[number % 4]}座"), (f"{stem}商业街", f"{number}栋"))
        )
    if use == "office":
        return rng.choice(
            ((f"{brand(rng)}大厦", f"{'ABC'[number % 3]}座"), (f"{brand(rng)}科技大厦", ""))
        )
    park = rng.choice((f"{brand(rng)}工业园", f"{stem}工业区"))
    return (f"{park}宿舍楼", f"{number}栋") if dormitory else (park, f"{number}栋")


def _rooms(
    houses: list[Row], dormitories: set[str], rng: random.Random, scale: float = 1.0
) -> list[Row]:
    """Rooms on distinct (floor, unit) positions; numbered like 0301, floor 3 unit 1."""
    rooms: list[Row] = []
    for house in houses:
        kind = "dormitory" if house["code"] in dormitories else house["use"]
        rooms.extend(house_rooms(house, kind, rng, scale))
    return rooms


def house_rooms(house: Row, kind: str, rng: random.Random, scale: float = 1.0) -> list[Row]:
    """The rooms of one house of ``kind`` (its use, or ``dormitory``); ``scale`` multiplies the
    kind's room counts and the cap (1.0: the demo's)."""
    (fewest, most), (min_units, max_units) = ROOMS[kind]
    if scale != 1.0:
        fewest, most = max(1, round(fewest * scale)), max(1, round(most * scale))
    units = rng.randint(min_units, max_units)
    count = min(round(MAX_ROOMS * scale), rng.randint(fewest, most), house["floors"] * units)
    low, high = ROOM_AREA[kind]
    rooms: list[Row] = []
    for position in sorted(rng.sample(range(house["floors"] * units), count)):
        floor, unit = divmod(position, units)
        number = f"{floor + 1:02d}{unit + 1:02d}"
        rooms.append(
            {
                "code": house["code"] + number,
                "house_code": house["code"],
                "number": number,
                "floor": floor + 1,
                "area_m2": round(rng.uniform(low, high), 1),
                "grid_code": house["grid_code"],
            }
        )
    return rooms
