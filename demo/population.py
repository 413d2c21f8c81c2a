"""People, living as households in rooms (their entities and employers: :mod:`demo.entities`).

People are made household by household (a single worker, a couple, a family with children,
three generations, an old person alone, a dormitory room of workers), so surnames, origins, ages
and "living alone" hang together the way a grid worker would find them at the door.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from datetime import date, timedelta
from typing import TYPE_CHECKING

from faker import Faker

from demo import names
from demo.reference import DISTRICT_CODE
from feeds.checksums import (
    id_number_check_digit,
)
from store.models.people import CareTag, encode_care_tags

if TYPE_CHECKING:
    from demo.generator import District, Profile, Row

#: Households by the kind of home, with relative weights.
HOUSEHOLDS: dict[str, dict[str, int]] = {
    "dormitory": {"workers": 1},
    "urban_village": {
        "single": 30,
        "couple": 20,
        "family": 33,
        "workers": 10,
        "three_generations": 5,
        "elderly_alone": 2,
    },
    "residential": {
        "single": 12,
        "couple": 16,
        "family": 38,
        "three_generations": 12,
        "elderly_couple": 5,
        "elderly_alone": 5,
        "left_behind": 2,
    },
    "public_rental": {
        "single": 28,
        "couple": 24,
        "family": 40,
        "three_generations": 4,
        "elderly_alone": 4,
    },
}
#: Chance that a household is locally registered (户籍), by home and residence kind.
LOCAL_SHARE = {
    ("urban_village", "owner"): 0.9,  # the village's own families
    ("residential", "owner"): 0.3,
    ("dormitory", "dormitory"): 0.005,
}
RENTER_LOCAL_SHARE = 0.03
#: Shares of people with each of the rarer care tags, and the ages they are drawn from.
RARE_TAGS: tuple[tuple[CareTag, float, int, int], ...] = (
    (CareTag.DISABLED, 0.015, 0, 120),
    (CareTag.LOW_INCOME, 0.01, 0, 120),
    (CareTag.KEY_PERSON, 0.002, 18, 65),
    (CareTag.COMMUNITY_CORRECTION, 0.001, 18, 65),
    (CareTag.SEVERE_MENTAL_DISORDER, 0.001, 18, 120),
)

#: (gender, age, takes the household's surname, left-behind child)
Member = tuple[str, int, bool, bool]


def age_on(birth: date, day: date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def shift_years(day: date, years: int) -> date:
    """The same day ``years`` later (or earlier); 29 February becomes the 28th."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def home_kind(house: Row, dormitories: set[str]) -> str | None:
    """Which kind of home a house is, or None if nobody lives there."""
    if house["code"] in dormitories:
        return "dormitory"
    return house["use"] if house["use"] in HOUSEHOLDS else None


# --- people -----------------------------------------------------------------------------------


def people(
    profile: Profile,
    district: District,
    dormitories: set[str],
    rng: random.Random,
    faker: Faker,
    as_of: date,
) -> list[Row]:
    """Fill rooms with households until the profile's head count is reached."""
    houses = {house["code"]: house for house in district.houses}
    homes = [
        (room, kind)
        for room in district.rooms
        if (kind := home_kind(houses[room["house_code"]], dormitories))
    ]
    if not homes:
        raise ValueError("the district has no rooms to house people in")
    rows: list[Row] = []
    regions: list[str] = []
    left_behind: set[int] = set()
    while len(rows) < profile.people:
        order = homes[:]  # more people than rooms: go round again, sharing rooms
        rng.shuffle(order)
        for room, kind in order:
            if len(rows) >= profile.people:
                break
            household = rng.choices(list(HOUSEHOLDS[kind]), list(HOUSEHOLDS[kind].values()))[0]
            residence = _residence(kind, household, rng)
            local_share = LOCAL_SHARE.get((kind, residence), RENTER_LOCAL_SHARE)
            home_region = DISTRICT_CODE if rng.random() < local_share else _origin(rng)
            surname = faker.last_name()
            for gender, age, family, child_left_behind in _members(household, kind, rng):
                if len(rows) >= profile.people:
                    break
                person_id = len(rows) + 1
                own_surname = surname if family else faker.last_name()
                given = _given_name(gender, rng, faker)
                married_in = not family and home_region != DISTRICT_CODE and rng.random() < 0.5
                regions.append(_origin(rng) if married_in else home_region)
                if child_left_behind:
                    left_behind.add(person_id)
                rows.append(
                    {
                        "id": person_id,
                        "name": own_surname + given,
                        "id_number": "",
                        "phone": None,
                        "gender": gender,
                        "birth_date": _birth_date(age, as_of, rng),
                        "registration": "local" if home_region == DISTRICT_CODE else "floating",
                        "residence_kind": residence,
                        "house_code": room["house_code"],
                        "room_code": room["code"],
                        "employer_code": None,
                        "care_tags": "",
                        "grid_code": room["grid_code"],
                    }
                )
    _turning_seventy(rows, rng, as_of)
    _identify(rows, regions, rng, as_of)
    _tag(rows, left_behind, rng, as_of)
    return rows


def _residence(kind: str, household: str, rng: random.Random) -> str:
    if kind == "dormitory":
        return "dormitory"
    if kind == "public_rental":
        return "renter"
    if kind == "urban_village":
        owner_share = 0.08
    else:
        owner_share = 0.8 if household.startswith("elderly") else 0.5
    return "owner" if rng.random() < owner_share else "renter"


def _origin(rng: random.Random) -> str:
    """Region code of a county that sends people to Shenzhen, weighted by province."""
    _, _, codes = rng.choices(names.ORIGINS, [weight for _, weight, _ in names.ORIGINS])[0]
    return rng.choice(codes)


def _gender(rng: random.Random, male_share: float) -> str:
    return "male" if rng.random() < male_share else "female"


def _members(household: str, kind: str, rng: random.Random) -> list[Member]:
    """Who lives together: genders, ages and family ties of one household."""
    if household == "single":
        return [(_gender(rng, 0.58), int(rng.triangular(18, 58, 26)), True, False)]
    if household == "workers":
        gender = _gender(rng, 0.55)  # dormitory rooms are not mixed
        count = rng.randint(2, 6) if kind == "dormitory" else rng.randint(2, 3)
        return [(gender, int(rng.triangular(18, 48, 23)), i == 0, False) for i in range(count)]
    if household == "elderly_alone":
        return [(_gender(rng, 0.4), int(rng.triangular(62, 96, 76)), True, False)]
    if household == "elderly_couple":
        husband = int(rng.triangular(60, 95, 68))
        return [
            ("male", husband, True, False),
            ("female", husband - rng.randint(0, 5), False, False),
        ]
    if household == "left_behind":
        grandmother = int(rng.triangular(56, 80, 64))
        members: list[Member] = [("female", grandmother, False, False)]
        if rng.random() < 0.6:
            members.append(("male", grandmother + rng.randint(0, 4), True, False))
        for _ in range(rng.randint(1, 2)):
            members.append((_gender(rng, 0.52), rng.randint(3, 14), True, True))
        return members
    young = household == "couple"
    husband = int(rng.triangular(22, 50, 28) if young else rng.triangular(25, 62, 38))
    wife = max(20, husband + rng.randint(-5, 2))
    members = [("male", husband, True, False), ("female", wife, False, False)]
    if household in ("family", "three_generations"):
        for _ in range(rng.choices((1, 2, 3), (60, 36, 4))[0]):
            if wife >= 21:
                members.append(
                    (_gender(rng, 0.52), rng.randint(0, min(17, wife - 21)), True, False)
                )
    if household == "three_generations":  # the husband's parents, come to help
        grandmother = min(92, husband + rng.randint(22, 30))
        members.append(("female", grandmother, False, False))
        if rng.random() < 0.5:
            members.append(("male", grandmother + rng.randint(0, 4), True, False))
    return members


def _given_name(gender: str, rng: random.Random, faker: Faker) -> str:
    """Faker's zh_CN given names are mostly one character; most people today have two."""
    pick = faker.first_name_male if gender == "male" else faker.first_name_female
    given, more = pick(), pick()
    return given + more if len(given) == len(more) == 1 and rng.random() < 0.75 else given


def _birth_date(age: int, as_of: date, rng: random.Random) -> date:
    """A birth date that makes someone exactly ``age`` on ``as_of``."""
    return shift_years(as_of, -age) - timedelta(days=rng.randint(0, 364))


def _turning_seventy(rows: list[Row], rng: random.Random, as_of: date) -> None:
    """Move a few people in their late sixties to turn 70 in the next 30 days / next month.

    The elderly allowance is paid from the 70th birthday, so "who turns 70 next month in my grid"
    is a question the demo must be able to answer with a non-empty list.
    """
    candidates = [row for row in rows if 66 <= age_on(row["birth_date"], as_of) <= 69]
    if not candidates:
        candidates = [row for row in rows if age_on(row["birth_date"], as_of) >= 40] or rows
    per_window = max(2, len(rows) // 2000)
    chosen = rng.sample(candidates, min(len(candidates), 2 * per_window))
    next_month = (as_of.replace(day=1) + timedelta(days=32)).replace(day=1)
    for index, row in enumerate(chosen):
        if index < per_window:
            birthday = as_of + timedelta(days=rng.randint(1, 30))
        else:
            birthday = next_month + timedelta(days=rng.randint(0, 27))
        if (birthday.month, birthday.day) == (2, 29):
            birthday += timedelta(days=1)
        row["birth_date"] = shift_years(birthday, -70)


def _identify(rows: list[Row], regions: list[str], rng: random.Random, as_of: date) -> None:
    """ID numbers (region, birth date, sequence with gender parity, check digit) and phones."""
    used_ids: set[str] = set()
    used_phones: set[str] = set()
    for row, region in zip(rows, regions, strict=True):
        row["id_number"] = _id_number(region, row["birth_date"], row["gender"], used_ids, rng)
        age = age_on(row["birth_date"], as_of)
        has_phone = 0.98 if 18 <= age < 80 else 0.6 if age >= 12 else 0.0
        if rng.random() < has_phone:
            row["phone"] = _phone(used_phones, rng)


def _id_number(region: str, birth: date, gender: str, used: set[str], rng: random.Random) -> str:
    """GB 11643: the sequence number's last digit is odd for men and even for women."""
    parity = (1, 3, 5, 7, 9) if gender == "male" else (0, 2, 4, 6, 8)
    for _ in range(1000):
        first17 = f"{region}{birth:%Y%m%d}{rng.randrange(100):02d}{rng.choice(parity)}"
        if first17 not in used:
            used.add(first17)
            return first17 + id_number_check_digit(first17)
    raise RuntimeError(f"ran out of ID sequence numbers for {region} {birth}")


def _phone(used: set[str], rng: random.Random) -> str:
    while True:
        phone = rng.choice(names.MOBILE_PREFIXES) + f"{rng.randrange(10**8):08d}"
        if phone not in used:
            used.add(phone)
            return phone


def _tag(rows: list[Row], left_behind: set[int], rng: random.Random, as_of: date) -> None:
    """Care tags: elderly by age on ``as_of``, alone by room, the rarer ones at their rates."""
    tags: dict[int, list[str]] = defaultdict(list)
    ages = {row["id"]: age_on(row["birth_date"], as_of) for row in rows}
    occupants = Counter(row["room_code"] for row in rows)
    for row in rows:
        age = ages[row["id"]]
        if age >= 80:
            tags[row["id"]].append(CareTag.ELDERLY_80)
        elif age >= 70:
            tags[row["id"]].append(CareTag.ELDERLY_70)
        if age >= 60 and occupants[row["room_code"]] == 1:
            tags[row["id"]].append(CareTag.ELDERLY_ALONE)
        if row["id"] in left_behind and age < 16:
            tags[row["id"]].append(CareTag.LEFT_BEHIND_CHILD)
    for tag, share, youngest, oldest in RARE_TAGS:
        eligible = [row["id"] for row in rows if youngest <= ages[row["id"]] <= oldest]
        for person_id in rng.sample(eligible, min(len(eligible), max(1, round(len(rows) * share)))):
            tags[person_id].append(tag)
    for row in rows:
        row["care_tags"] = encode_care_tags([str(tag) for tag in tags.get(row["id"], [])])
