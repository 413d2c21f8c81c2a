"""What each worker makes: the district cut into street tasks and event slices, decided up front.

The plan is all a worker needs to know about the rest of the district, so the tasks can run in
any process, in any order, and still give the same rows: each draws from a random stream of its
own, named by the seed and the task (:func:`sub_seed`), never from a stream another task
advanced. The areas (a few thousand polygons) and the house count of every grid come from the
seed's own stream, exactly as the in-memory generator draws them.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from datetime import date

from faker import Faker

from demo.generator import GridPlace, Profile, Row, _areas

#: Days of events per slice: a slice is sorted in memory (≈ 120,000 events at Bao'an's rate).
SLICE_DAYS = 10


def sub_seed(seed: int, kind: str, key: str | int) -> int:
    """A seed of its own for one task: stable across processes, runs and Python versions."""
    digest = hashlib.sha256(f"{seed}:{kind}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


@dataclass(frozen=True, slots=True)
class CommunityShare:
    """One community's share of the district's people and entities."""

    code: str
    first_person_id: int
    people: int
    entities: int


@dataclass(frozen=True, slots=True)
class StreetTask:
    """Houses, rooms, addresses, people and entities of one street, community by community.

    ``street_index`` (0–9) picks the street's own part of the codes that must be unique in the
    whole district (ID sequence numbers, phone blocks, credit codes, company brand names), so
    streets made in different processes never collide.
    """

    seed: int
    street_index: int
    places: tuple[GridPlace, ...]
    house_counts: tuple[int, ...]
    communities: tuple[CommunityShare, ...]
    rooms_scale: float
    as_of: date


@dataclass(frozen=True, slots=True)
class EventSlice:
    """The events reported ``last_day_back``..``first_day_back`` days before ``as_of``, numbered
    from ``first_id`` in the order they were reported (slices are disjoint in time, so the ids
    of all slices together follow the reporting order)."""

    seed: int
    index: int
    first_id: int
    count: int
    first_day_back: int
    last_day_back: int
    as_of: date


@dataclass(frozen=True, slots=True)
class Plan:
    grids: list[Row]
    places: list[GridPlace]
    streets: list[StreetTask]
    event_slices: list[EventSlice]


def shares(total: int, weights: list[float]) -> list[int]:
    """``total`` split in proportion to ``weights`` (largest remainders), summing to ``total``."""
    whole = sum(weights)
    exact = [total * weight / whole for weight in weights]
    counts = [int(value) for value in exact]
    by_remainder = sorted(range(len(exact)), key=lambda i: (counts[i] - exact[i], i))
    for i in by_remainder[: total - sum(counts)]:
        counts[i] += 1
    return counts


def make_plan(seed: int, profile: Profile, as_of: date) -> Plan:
    """Areas, every grid's house count, every community's people and entities, and the event
    slices of ``profile``; the same arguments always give the same plan."""
    rng = random.Random(seed)
    faker = Faker("zh_CN")
    faker.seed_instance(seed)
    grids, places = _areas(profile, rng, faker)
    counts = [1] * len(places)
    weights = [rng.uniform(0.5, 1.5) for _ in places]
    for index in rng.choices(range(len(places)), weights, k=max(0, profile.houses - len(places))):
        counts[index] += 1
    communities = sorted({place.code[:12] for place in places})
    houses_in = dict.fromkeys(communities, 0)
    for place, count in zip(places, counts, strict=True):
        houses_in[place.code[:12]] += count
    people = shares(profile.people, [houses_in[code] for code in communities])
    entities = shares(profile.entities, [houses_in[code] for code in communities])
    share_of: dict[str, CommunityShare] = {}
    next_id = 1
    for code, heads, firms in zip(communities, people, entities, strict=True):
        share_of[code] = CommunityShare(code, next_id, heads, firms)
        next_id += heads
    streets: list[StreetTask] = []
    for street in sorted({place.code[:9] for place in places}):
        mine = [i for i, place in enumerate(places) if place.code.startswith(street)]
        streets.append(
            StreetTask(
                seed=seed,
                street_index=int(street[6:]) - 1,
                places=tuple(places[i] for i in mine),
                house_counts=tuple(counts[i] for i in mine),
                communities=tuple(share_of[c] for c in communities if c.startswith(street)),
                rooms_scale=profile.rooms_scale,
                as_of=as_of,
            )
        )
    return Plan(grids, places, streets, _event_slices(seed, profile, as_of))


def _event_slices(seed: int, profile: Profile, as_of: date) -> list[EventSlice]:
    """Oldest first, so that ids grow with the reporting time across slices."""
    spans: list[tuple[int, int]] = []
    last = profile.event_days
    while last >= 1:
        first = max(1, last - SLICE_DAYS + 1)
        spans.append((first, last))
        last = first - 1
    counts = shares(profile.events, [float(last - first + 1) for first, last in spans])
    slices: list[EventSlice] = []
    next_id = 1
    for index, ((first, last), count) in enumerate(zip(spans, counts, strict=True)):
        slices.append(EventSlice(seed, index, next_id, count, first, last, as_of))
        next_id += count
    return slices
