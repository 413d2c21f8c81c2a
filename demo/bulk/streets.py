"""One street of a streamed district: its houses, rooms, addresses, people and entities.

A street is made community by community, each from a random stream of its own, with the demo
generator's own rules (:mod:`demo.generator`, :mod:`demo.population`, :mod:`demo.entities`): the
same uses and sizes of houses, the same households, ages, origins and care tags, the same kinds
of entity and who works where. What differs is the scope: a household, an entity's
representative and an employee's employer are found in the community (the demo draws them from
the whole district), which is what keeps a street's memory at one community's rows.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from addresses.parse import room_number
from addresses.standard import house_address, searchable
from demo import entities as firms
from demo import population
from demo.addresses import HouseParts
from demo.bulk.draws import StreetCodes, Weighted, given_name, surname
from demo.bulk.plan import CommunityShare, StreetTask, sub_seed
from demo.generator import (
    DORMITORY_SHARE,
    USE_WEIGHTS,
    District,
    GridPlace,
    Row,
    _house,
    house_rooms,
)
from demo.names import COMPANY_WORDS, SHOP_KINDS, brand
from demo.reference import DISTRICT_CODE, DISTRICT_NAME
from store.models.people import CareTag

Emit = Callable[[str, list[Row]], None]

#: House fields the events of the district need (see :class:`StreetSummary`).
HouseBrief = tuple[str, float, float, str, str, str]

_HOUSEHOLDS = {kind: Weighted(weights) for kind, weights in population.HOUSEHOLDS.items()}
_ENTITY_TYPES = Weighted(firms.ENTITY_TYPES)
_INDUSTRIES = {kind: Weighted(weights) for kind, weights in firms.INDUSTRIES.items()}
_STATUSES = Weighted(firms.STATUSES)


@dataclass
class StreetSummary:
    """What the events need from a street: its houses (code, lon, lat, address, grid, use), and
    the houses where some matters happen (see :func:`demo.events._houses_for`), by matter."""

    street_index: int
    houses: list[HouseBrief] = field(default_factory=list)
    houses_for: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))


def make_street(task: StreetTask, emit: Emit) -> StreetSummary:
    """Emit the street's rows table by table, a community at a time; return its summary."""
    codes = StreetCodes(task.street_index)
    summary = StreetSummary(task.street_index)
    by_community: dict[str, list[tuple[GridPlace, int]]] = defaultdict(list)
    for place, count in zip(task.places, task.house_counts, strict=True):
        by_community[place.code[:12]].append((place, count))
    for share in task.communities:
        rng = random.Random(sub_seed(task.seed, "community", share.code))
        _community(task, share, by_community[share.code], codes, rng, emit, summary)
    return summary


def _community(
    task: StreetTask,
    share: CommunityShare,
    grids: list[tuple[GridPlace, int]],
    codes: StreetCodes,
    rng: random.Random,
    emit: Emit,
    summary: StreetSummary,
) -> None:
    district = District()
    dormitories: set[str] = set()
    parts: dict[str, HouseParts] = {}
    taken: set[str] = set()
    for place, count in grids:
        leaning = rng.choices(list(USE_WEIGHTS), list(USE_WEIGHTS.values()))[0]
        uses = Weighted(
            {use: weight * (2.5 if use == leaning else 1) for use, weight in USE_WEIGHTS.items()}
        )
        for seq in range(1, count + 1):
            use = uses(rng)
            dormitory = use == "industrial" and rng.random() < DORMITORY_SHARE
            code = f"{place.code}{seq:04d}"
            house, parts[code] = _house(place, code, use, dormitory, taken, rng, task.as_of)
            district.houses.append(house)
            if dormitory:
                dormitories.add(code)
            kind = "dormitory" if dormitory else use
            district.rooms.extend(house_rooms(house, kind, rng, task.rooms_scale))
    district.addresses = _addresses(district, parts)
    emit("houses", district.houses)
    emit("rooms", district.rooms)
    emit("addresses", district.addresses)
    district.addresses = []
    district.people = _people(share, district, dormitories, codes, rng, task.as_of)
    places = {place.code: place for place, _ in grids}
    district.entities = _entities(share, district, places, dormitories, codes, rng, task.as_of)
    firms.assign_employers(district, dormitories, rng, task.as_of)
    emit("people", district.people)
    emit("entities", district.entities)
    _summarise(district, summary)


def _addresses(district: District, parts: dict[str, HouseParts]) -> list[Row]:
    """As :func:`demo.addresses.standard_addresses`, normalising each house's text once: a
    room's normalised text is its house's and the room's, which is checked on each house's
    first room (a house where it is not so has every room normalised in full)."""
    rows: list[Row] = []
    houses: dict[str, Row] = {}
    for house in district.houses:
        p = parts[house["code"]]
        row = house_address(
            code=house["code"],
            grid_code=house["grid_code"],
            street=p.street,
            community=p.community,
            road=p.road,
            number=p.number,
            estate=p.estate,
            building=p.building,
        )
        houses[house["code"]] = row
        rows.append(row)
    composes: dict[str, bool] = {}
    for room in district.rooms:
        house = houses[room["house_code"]]
        number = room_number(room["number"])
        text = f"{house['text']}{number}室"
        quick = f"{house['normalised']}{number}室"
        if house["code"] not in composes:
            composes[house["code"]] = searchable(text) == quick
        rows.append(
            {
                **house,
                "code": room["code"],
                "room_code": room["code"],
                "floor": room["floor"],
                "room": number,
                "text": text,
                "normalised": quick if composes[house["code"]] else searchable(text),
            }
        )
    return rows


def _people(
    share: CommunityShare,
    district: District,
    dormitories: set[str],
    codes: StreetCodes,
    rng: random.Random,
    as_of: date,
) -> list[Row]:
    """As :func:`demo.population.people`, for one community's head count and first id."""
    houses = {house["code"]: house for house in district.houses}
    homes = [
        (room, kind)
        for room in district.rooms
        if (kind := population.home_kind(houses[room["house_code"]], dormitories))
    ]
    if not homes and share.people:
        raise ValueError(f"community {share.code} has no rooms to house people in")
    rows: list[Row] = []
    regions: list[str] = []
    left_behind: set[int] = set()
    while len(rows) < share.people:
        order = homes[:]
        rng.shuffle(order)
        for room, kind in order:
            if len(rows) >= share.people:
                break
            household = _HOUSEHOLDS[kind](rng)
            residence = population._residence(kind, household, rng)
            local_share = population.LOCAL_SHARE.get(
                (kind, residence), population.RENTER_LOCAL_SHARE
            )
            home_region = DISTRICT_CODE if rng.random() < local_share else population._origin(rng)
            family_name = surname(rng)
            for gender, age, family, child_left_behind in population._members(household, kind, rng):
                if len(rows) >= share.people:
                    break
                person_id = share.first_person_id + len(rows)
                own_surname = family_name if family else surname(rng)
                married_in = not family and home_region != DISTRICT_CODE and rng.random() < 0.5
                regions.append(population._origin(rng) if married_in else home_region)
                if child_left_behind:
                    left_behind.add(person_id)
                rows.append(
                    {
                        "id": person_id,
                        "name": own_surname + given_name(gender, rng),
                        "id_number": "",
                        "phone": None,
                        "gender": gender,
                        "birth_date": population._birth_date(age, as_of, rng),
                        "registration": "local" if home_region == DISTRICT_CODE else "floating",
                        "residence_kind": residence,
                        "house_code": room["house_code"],
                        "room_code": room["code"],
                        "employer_code": None,
                        "care_tags": "",
                        "grid_code": room["grid_code"],
                    }
                )
    if rows:
        population._turning_seventy(rows, rng, as_of)
    for row, region in zip(rows, regions, strict=True):
        row["id_number"] = codes.id_number(region, row["birth_date"], row["gender"], rng)
        age = population.age_on(row["birth_date"], as_of)
        has_phone = 0.98 if 18 <= age < 80 else 0.6 if age >= 12 else 0.0
        if rng.random() < has_phone:
            row["phone"] = codes.phone(rng)
    population._tag(rows, left_behind, rng, as_of)
    return rows


def _entities(
    share: CommunityShare,
    district: District,
    places: dict[str, GridPlace],
    dormitories: set[str],
    codes: StreetCodes,
    rng: random.Random,
    as_of: date,
) -> list[Row]:
    """As :func:`demo.entities.entities`, run by adults of the community."""
    if not share.entities:
        return []
    premises: dict[str, list[Row]] = defaultdict(list)
    for house in district.houses:
        if house["code"] not in dormitories:
            premises[house["use"]].append(house)
    adults = [
        row for row in district.people if 20 <= population.age_on(row["birth_date"], as_of) <= 70
    ]
    if not adults:
        raise ValueError(f"community {share.code} has no adults to run its entities")
    adults_by_grid: dict[str, list[Row]] = defaultdict(list)
    for row in adults:
        adults_by_grid[row["grid_code"]].append(row)
    rows: list[Row] = []
    for _ in range(share.entities):
        kind = _ENTITY_TYPES(rng)
        industry = _INDUSTRIES[kind](rng)
        house = firms._premises(industry, premises, district.houses, rng)
        place = places[house["grid_code"]]
        nearby = adults_by_grid.get(house["grid_code"]) if kind == "individual" else None
        representative = rng.choice(nearby or adults)
        established = firms._established(representative["birth_date"], rng, as_of)
        rows.append(
            {
                "credit_code": codes.credit_code(kind == "individual", established, rng),
                "name": _entity_name(kind, industry, place, codes, rng),
                "type": kind,
                "industry": industry,
                "status": _STATUSES(rng),
                "established_on": established,
                "legal_representative_id": representative["id"],
                "registered_address": house["address"],
                "house_code": house["code"],
                "grid_code": house["grid_code"],
            }
        )
    return rows


def _entity_name(
    kind: str, industry: str, place: GridPlace, codes: StreetCodes, rng: random.Random
) -> str:
    """As :func:`demo.entities._entity_name`; a company's brand starts with the street's own
    character, so two streets never name two companies alike."""
    for attempt in range(200):
        length = 2 if attempt < 10 else 3 if attempt < 100 else 4
        if kind == "individual":
            shop = rng.choice(SHOP_KINDS[industry])
            name = f"{DISTRICT_NAME}{place.street}{place.community}{brand(rng, length)}{shop}"
        else:
            word = rng.choice(COMPANY_WORDS[industry])
            name = f"深圳市{codes.brand(rng, length)}{word}{firms.COMPANY_SUFFIX[kind]}"
        if name not in codes.names:
            codes.names.add(name)
            return name
    raise RuntimeError("could not find an unused entity name")


def _summarise(district: District, summary: StreetSummary) -> None:
    """Keep what the events need (as :func:`demo.events._houses_for` finds it)."""
    for house in district.houses:
        summary.houses.append(
            (
                house["code"],
                house["lon"],
                house["lat"],
                house["address"],
                house["grid_code"],
                house["use"],
            )
        )
    alone = str(CareTag.ELDERLY_ALONE)
    for person in district.people:
        if alone in person["care_tags"]:
            summary.houses_for["elderly_alone_visit"].append(person["house_code"])
    for entity in district.entities:
        industry = entity["industry"]
        if industry in ("catering", "retail"):
            summary.houses_for["food_safety"].append(entity["house_code"])
        if industry in ("manufacturing", "hazardous_chemicals"):
            summary.houses_for["wage_arrears"].append(entity["house_code"])
        if industry == "hazardous_chemicals":
            summary.houses_for["hazardous_chemicals_storage"].append(entity["house_code"])


def rows_of(table_columns: tuple[str, ...], rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """Rows as tuples in the table's column order."""
    return [tuple(row[column] for column in table_columns) for row in rows]
