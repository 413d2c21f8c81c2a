"""The entities people run from the district's houses, and who works for them.

An entity is run by an adult of the district (an individual business by one of its own grid),
registered after its representative turned 18; its credit code follows GB 32100 (see
:mod:`feeds.checksums`). Made after the people, since they run and staff the entities.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from datetime import date, timedelta
from typing import TYPE_CHECKING

from demo import names
from demo.names import brand
from demo.population import age_on, shift_years
from demo.reference import DISTRICT_CODE, DISTRICT_NAME
from feeds.checksums import (
    CREDIT_CHARSET,
    credit_code_check_char,
    organization_code_check_char,
)

if TYPE_CHECKING:
    from demo.generator import District, GridPlace, Profile, Row


ENTITY_TYPES = {"individual": 60, "limited": 31, "sole_proprietorship": 5, "partnership": 4}
INDUSTRIES: dict[str, dict[str, int]] = {
    "individual": {
        "retail": 38,
        "catering": 34,
        "resident_services": 18,
        "education_training": 3,
        "healthcare": 3,
        "wholesale": 2,
        "manufacturing": 2,
    },
    "limited": {
        "manufacturing": 28,
        "wholesale": 12,
        "software": 12,
        "logistics": 9,
        "construction": 8,
        "property_management": 6,
        "education_training": 5,
        "catering": 5,
        "retail": 5,
        "healthcare": 4,
        "hazardous_chemicals": 3,
        "resident_services": 3,
    },
    "sole_proprietorship": {"retail": 30, "wholesale": 30, "manufacturing": 25, "catering": 15},
    "partnership": {
        "software": 25,
        "manufacturing": 25,
        "wholesale": 20,
        "education_training": 15,
        "construction": 15,
    },
}
#: The uses of house an entity of each industry operates in.
PREMISES: dict[str, tuple[str, ...]] = {
    "manufacturing": ("industrial",),
    "hazardous_chemicals": ("industrial",),
    "logistics": ("industrial",),
    "software": ("office",),
    "construction": ("office",),
    "property_management": ("office", "residential"),
    "education_training": ("commercial", "office"),
    "healthcare": ("commercial", "residential"),
    "retail": ("commercial", "residential"),
    "catering": ("commercial", "residential"),
    "resident_services": ("commercial", "residential"),
    "wholesale": ("commercial", "office", "industrial"),
}
#: Where any entity may operate when its industry's usual premises are missing.
BUSINESS_USES = ("commercial", "office", "industrial", "residential")
STATUSES = {"active": 88, "abnormal": 9, "deregistered": 3}
COMPANY_SUFFIX = {
    "limited": "有限公司",
    "sole_proprietorship": "商行",
    "partnership": "合伙企业（有限合伙）",
}
EARLIEST_REGISTRATION = date(1992, 1, 1)


def entities(
    profile: Profile,
    district: District,
    places: list[GridPlace],
    dormitories: set[str],
    rng: random.Random,
    as_of: date,
) -> list[Row]:
    """Market entities in the houses they operate from, run by adults of the district."""
    place_of = {place.code: place for place in places}
    premises: dict[str, list[Row]] = defaultdict(list)
    for house in district.houses:
        if house["code"] not in dormitories:
            premises[house["use"]].append(house)
    adults = [row for row in district.people if 20 <= age_on(row["birth_date"], as_of) <= 70]
    if not adults:
        raise ValueError("the district has no adults to run its entities")
    adults_by_grid: dict[str, list[Row]] = defaultdict(list)
    for row in adults:
        adults_by_grid[row["grid_code"]].append(row)
    used_codes: set[str] = set()
    used_names: set[str] = set()
    rows: list[Row] = []
    for _ in range(profile.entities):
        kind = rng.choices(list(ENTITY_TYPES), list(ENTITY_TYPES.values()))[0]
        industry = rng.choices(list(INDUSTRIES[kind]), list(INDUSTRIES[kind].values()))[0]
        house = _premises(industry, premises, district.houses, rng)
        place = place_of[house["grid_code"]]
        nearby = adults_by_grid.get(house["grid_code"]) if kind == "individual" else None
        representative = rng.choice(nearby or adults)
        established = _established(representative["birth_date"], rng, as_of)
        rows.append(
            {
                "credit_code": _credit_code(kind == "individual", established, used_codes, rng),
                "name": _entity_name(kind, industry, place, used_names, rng),
                "type": kind,
                "industry": industry,
                "status": rng.choices(list(STATUSES), list(STATUSES.values()))[0],
                "established_on": established,
                "legal_representative_id": representative["id"],
                "registered_address": house["address"],
                "house_code": house["code"],
                "grid_code": house["grid_code"],
            }
        )
    return rows


def _premises(
    industry: str, premises: dict[str, list[Row]], houses: list[Row], rng: random.Random
) -> Row:
    """A house of a use the industry works from, else any business-capable house."""
    uses = [use for use in PREMISES[industry] if premises[use]]
    uses = uses or [use for use in BUSINESS_USES if premises[use]]
    return rng.choice(premises[rng.choice(uses)]) if uses else rng.choice(houses)


def _established(birth: date, rng: random.Random, as_of: date) -> date:
    """A registration date after the representative turned 18, more of them recent."""
    latest = as_of - timedelta(days=1)
    earliest = min(latest, max(EARLIEST_REGISTRATION, shift_years(birth, 18)))
    span = (latest - earliest).days
    return earliest + timedelta(days=int(span * math.sqrt(rng.random())))


def _credit_code(individual: bool, established: date, used: set[str], rng: random.Random) -> str:
    """A GB 32100 code: authority 9 (market regulation), category 1 company / 2 individual,
    the district's region code, a GB 11714 organisation code, and the check character.

    Codes issued since the 2015 reform carry organisation codes beginning "MA5"; older ones
    kept the eight digits their organisation already had.
    """
    while True:
        if established.year >= 2015:
            body = "MA5" + "".join(rng.choices(CREDIT_CHARSET, k=5))
        else:
            body = f"{rng.randrange(10**8):08d}"
        first17 = (
            f"9{2 if individual else 1}{DISTRICT_CODE}{body}{organization_code_check_char(body)}"
        )
        code = first17 + credit_code_check_char(first17)
        if code not in used:
            used.add(code)
            return code


def _entity_name(
    kind: str, industry: str, place: GridPlace, used: set[str], rng: random.Random
) -> str:
    """宝安区新安海旺鑫泰便利店 for an individual business, 深圳市鑫泰电子科技有限公司 otherwise."""
    for attempt in range(100):
        length = 2 if attempt < 10 else 3
        if kind == "individual":
            shop = rng.choice(names.SHOP_KINDS[industry])
            name = f"{DISTRICT_NAME}{place.street}{place.community}{brand(rng, length)}{shop}"
        else:
            word = rng.choice(names.COMPANY_WORDS[industry])
            name = f"深圳市{brand(rng, length)}{word}{COMPANY_SUFFIX[kind]}"
        if name not in used:
            used.add(name)
            return name
    raise RuntimeError("could not find an unused entity name")


# --- employment -------------------------------------------------------------------------------

#: How many people an entity of each type employs, relatively.
EMPLOYER_WEIGHTS = {"individual": 1, "sole_proprietorship": 3, "partnership": 4, "limited": 10}
#: Chance that a working-age adult outside a dormitory works for an entity of the district.
EMPLOYED_SHARE = 0.42


def assign_employers(
    district: District, dormitories: set[str], rng: random.Random, as_of: date
) -> None:
    """Set ``employer_code``: representatives run their own entity, dormitories house factory
    workers, and about half of the other working-age adults work for someone in the district."""
    open_entities = [row for row in district.entities if row["status"] != "deregistered"]
    if not open_entities:
        return
    cumulative: list[int] = []
    total = 0
    for row in open_entities:
        total += EMPLOYER_WEIGHTS[row["type"]] * (3 if row["industry"] == "manufacturing" else 1)
        cumulative.append(total)
    factories = [row for row in open_entities if row["industry"] == "manufacturing"]
    factories_by_grid: dict[str, list[Row]] = defaultdict(list)
    for row in factories:
        factories_by_grid[row["grid_code"]].append(row)
    runs: dict[int, str] = {}
    for row in open_entities:
        runs.setdefault(row["legal_representative_id"], row["credit_code"])
    for person in district.people:
        age = age_on(person["birth_date"], as_of)
        if person["id"] in runs:
            person["employer_code"] = runs[person["id"]]
        elif not 18 <= age <= 60:
            continue
        elif person["house_code"] in dormitories:
            nearby = factories_by_grid.get(person["grid_code"]) or factories or open_entities
            person["employer_code"] = rng.choice(nearby)["credit_code"]
        elif rng.random() < EMPLOYED_SHARE:
            employer = rng.choices(open_entities, cum_weights=cumulative)[0]
            person["employer_code"] = employer["credit_code"]
