"""Quick draws for millions of rows: weighted choices with their sums made once, Faker's Chinese
names without Faker's per-call overhead, and each street's own share of the unique codes.

The vocabularies and weights are the demo's and Faker's own (zh_CN surnames by frequency, its
given names), so a streamed district reads like the demo; only the speed differs.
"""

from __future__ import annotations

import random
from bisect import bisect
from collections.abc import Mapping, Sequence
from datetime import date
from itertools import accumulate
from typing import Generic, TypeVar

from faker.providers.person.zh_CN import Provider as ChineseNames

from demo import names
from demo.reference import DISTRICT_CODE
from feeds.checksums import (
    CREDIT_CHARSET,
    credit_code_check_char,
    id_number_check_digit,
    organization_code_check_char,
)

T = TypeVar("T")

#: The sequence digits of an ID number that mark men (odd) and women (even).
PARITY = {"male": "13579", "female": "02468"}


class Weighted(Generic[T]):
    """``rng.choices(items, weights)[0]`` with the cumulative weights summed once."""

    __slots__ = ("_cumulative", "_items", "_total")

    def __init__(self, weights: Mapping[T, float]) -> None:
        self._items = list(weights)
        self._cumulative = list(accumulate(weights.values()))
        self._total = self._cumulative[-1]

    def __call__(self, rng: random.Random) -> T:
        return self._items[bisect(self._cumulative, rng.random() * self._total)]


_SURNAMES: Weighted[str] = Weighted(ChineseNames.last_names)
_MALE: Sequence[str] = ChineseNames.first_names_male
_FEMALE: Sequence[str] = ChineseNames.first_names_female
_ANY: Sequence[str] = ChineseNames.first_names


def surname(rng: random.Random) -> str:
    """A surname, as often as Faker's zh_CN provider gives it."""
    return _SURNAMES(rng)


def given_name(gender: str, rng: random.Random) -> str:
    """As :func:`demo.population._given_name`: two of Faker's one-character names, mostly."""
    pool = _MALE if gender == "male" else _FEMALE
    given, more = pool[int(rng.random() * len(pool))], pool[int(rng.random() * len(pool))]
    return given + more if len(given) == len(more) == 1 and rng.random() < 0.75 else given


def full_name(rng: random.Random) -> str:
    """What ``Faker("zh_CN").name()`` gives: a surname and one given name."""
    return surname(rng) + _ANY[int(rng.random() * len(_ANY))]


class StreetCodes:
    """The codes that must be unique district-wide, drawn from this street's own part of each
    code space, and remembered so the street never repeats one.

    - ID numbers: the first two digits of the sequence number (顺序码), which in a real ID name
      the police station that issued it, run from ``10 × street`` to ``10 × street + 9``;
    - mobile numbers: the fourth digit (the start of the number block, which carriers assign by
      region) is the street's;
    - credit codes: the first free character of the organisation code is one of the street's;
    - company names: the brand's first character is one of the street's.
    """

    def __init__(self, street: int) -> None:
        if not 0 <= street <= 9:
            raise ValueError("a district has at most ten streets")
        self.street = street
        self._credit_chars = CREDIT_CHARSET[street::10]
        self._brand_chars = names.BRAND_CHARS[street::10]
        self._ids: set[str] = set()
        self._phones: set[str] = set()
        self._credit_codes: set[str] = set()
        self.names: set[str] = set()

    def id_number(self, region: str, birth: date, gender: str, rng: random.Random) -> str:
        parity = PARITY[gender]
        born = f"{birth.year:04d}{birth.month:02d}{birth.day:02d}"
        for _ in range(1000):
            sequence = self.street * 10 + int(rng.random() * 10)
            first17 = f"{region}{born}{sequence:02d}{parity[int(rng.random() * 5)]}"
            if first17 not in self._ids:
                self._ids.add(first17)
                return first17 + id_number_check_digit(first17)
        raise RuntimeError(f"ran out of ID sequence numbers for {region} {birth}")

    def phone(self, rng: random.Random) -> str:
        prefixes = names.MOBILE_PREFIXES
        while True:
            phone = (
                f"{prefixes[int(rng.random() * len(prefixes))]}{self.street}"
                f"{int(rng.random() * 10**7):07d}"
            )
            if phone not in self._phones:
                self._phones.add(phone)
                return phone

    def credit_code(self, individual: bool, established: date, rng: random.Random) -> str:
        """As :func:`demo.entities._credit_code`, in this street's part of the code space."""
        while True:
            if established.year >= 2015:
                body = (
                    "MA5"
                    + rng.choice(self._credit_chars)
                    + "".join(rng.choices(CREDIT_CHARSET, k=4))
                )
            else:
                body = f"{self.street}{int(rng.random() * 10**7):07d}"
            first17 = (
                f"9{2 if individual else 1}{DISTRICT_CODE}{body}"
                f"{organization_code_check_char(body)}"
            )
            code = first17 + credit_code_check_char(first17)
            if code not in self._credit_codes:
                self._credit_codes.add(code)
                return code

    def brand(self, rng: random.Random, length: int) -> str:
        """A company brand (字号) whose first character is this street's."""
        first = rng.choice(self._brand_chars)
        rest = rng.sample([c for c in names.BRAND_CHARS if c != first], length - 1)
        return first + "".join(rest)
