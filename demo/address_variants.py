"""Department-style spellings of the district's standard addresses, with the truth known.

Each kind is one way a department's system writes an address differently from the standard
form (the ones seen in real exports: widths, numerals, synonyms, prefixes, typos, missing or
swapped parts). The labelled set measures the matcher; the same seed always gives the same set.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

DIGITS_CN = "零一二三四五六七八九"
#: Look-alike and sound-alike characters a clerk types for the right one.
SIMILAR = "安按案新心兴星华化花园圆源苑院村存路璐宝保民明海每创闯业叶建健湖胡"


class Variant(NamedTuple):
    kind: str
    text: str
    house_code: str
    room_code: str | None


def _cn(number: str) -> str:
    """How a clerk writes a number in words: 九, 十二, 二十三, 二百四十六, 一百零五."""
    value = int(number)
    if value >= 1000:
        return "".join(DIGITS_CN[int(d)] for d in number)
    hundreds, rest = divmod(value, 100)
    tens, ones = divmod(rest, 10)
    words = ""
    if hundreds:
        words += DIGITS_CN[hundreds] + "百"
        if rest and tens == 0:
            words += "零"
    if tens:
        words += ("" if tens == 1 and not hundreds else DIGITS_CN[tens]) + "十"
    if ones or not words:
        words += DIGITS_CN[ones]
    return words


def _full_width(text: str) -> str:
    return "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in text)


def _typo(name: str, rng: random.Random) -> str:
    positions = [i for i, ch in enumerate(name) if "\u4e00" <= ch <= "\u9fff"]
    if not positions:
        return name
    i = rng.choice(positions)
    choices = [ch for ch in SIMILAR if ch != name[i]]
    return name[:i] + rng.choice(choices) + name[i + 1 :]


class Parts(NamedTuple):
    street: str
    community: str
    road: str
    number: str
    estate: str
    building: str
    room: str | None
    floor: int | None

    def prefix(self) -> str:
        return f"宝安区{self.street}街道{self.community}社区"

    def room_text(self) -> str:
        return f"{self.room}室" if self.room else ""


def _spell(p: Parts, prefix: str | None = None, room: str | None = None, order: int = 0) -> str:
    door = f"{p.road}{p.number}号"
    place = f"{p.estate}{p.building}"
    body = door + place if order == 0 else place + door
    return (
        (p.prefix() if prefix is None else prefix)
        + body
        + (p.room_text() if room is None else room)
    )


def _numerals(p: Parts) -> str:
    def cn_before(text: str, word: str) -> str:
        head, sep, tail = text.partition(word)
        digits = "".join(ch for ch in reversed(head) if ch.isdigit())[::-1]
        if not sep or not digits or not head.endswith(digits):
            return text
        return head[: -len(digits)] + _cn(digits) + sep + tail

    building = cn_before(p.building, "栋")
    estate = p.estate
    room = f"{_cn(p.room)}室" if p.room else ""
    return p.prefix() + f"{p.road}{_cn(p.number)}号{estate}{building}{room}"


def _kinds(rng: random.Random, communities: list[str]) -> dict[str, Callable[[Parts], str]]:
    synonym = {"栋": ("幢", "座", "号楼")}

    def synonyms(p: Parts) -> str:
        building = p.building
        if building.endswith("栋"):
            building = building[:-1] + rng.choice(synonym["栋"])
        room = f"{p.room}{rng.choice(('房', '号房', ''))}" if p.room else ""
        room = room.replace("号房", "房")
        return _spell(p._replace(building=building), room=room)

    def floor_room(p: Parts) -> str:
        if not p.room:
            return _spell(p)
        return _spell(p, room=f"{p.floor}楼{p.room}")

    def spaces(p: Parts) -> str:
        return f"{p.prefix()} {p.road}{p.number}号, {p.estate} {p.building}-{p.room or ''}".strip(
            "-"
        )

    def typo(p: Parts) -> str:
        if rng.random() < 0.5 or not p.estate:
            return _spell(p._replace(road=_typo(p.road, rng)))
        return _spell(p._replace(estate=_typo(p.estate, rng)))

    def wrong_community(p: Parts) -> str:
        other = rng.choice([c for c in communities if c != p.community] or [p.community])
        return _spell(p._replace(community=other))

    return {
        "canonical": lambda p: _spell(p),
        "no_prefix": lambda p: _spell(p, prefix=""),
        "city_prefix": lambda p: _spell(p, prefix="广东省深圳市" + p.prefix()),
        "district_only": lambda p: _spell(p, prefix="深圳市宝安区"),
        "wrong_community": wrong_community,
        "full_width": lambda p: _full_width(_spell(p)),
        "numerals": _numerals,
        "synonyms": synonyms,
        "floor_room": floor_room,
        "spaces": spaces,
        "typo": typo,
        "missing_road": lambda p: p.prefix() + p.estate + p.building + p.room_text(),
        "missing_estate": lambda p: _spell(p._replace(estate="")),
        "missing_room": lambda p: _spell(p, room=""),
        "swapped": lambda p: _spell(p, order=1),
        "combined": lambda p: (
            _full_width(synonyms(p._replace(street="", community="")))
            .replace("宝安区街道社区", "")
            .replace("号", "号 ")
        ),
    }


def _parts(row: dict[str, Any]) -> Parts:
    return Parts(
        row["street"],
        row["community"],
        row["road"],
        row["number"],
        row["estate"],
        row["building"] or "",
        row["room"],
        row["floor"],
    )


class Speller:
    """Writes standard addresses one department's way: each text in one of that
    department's kinds, chosen in turn from a seeded generator (the same seed, the same
    texts)."""

    def __init__(self, addresses: list[dict[str, Any]], kinds: list[str], seed: int) -> None:
        self.rng = random.Random(seed)
        self.all = _kinds(self.rng, sorted({row["community"] for row in addresses}))
        self.kinds = [self.all[kind] for kind in kinds]

    def __call__(self, row: dict[str, Any]) -> str:
        return self.rng.choice(self.kinds)(_parts(row))


def variants(addresses: list[dict[str, Any]], count: int, seed: int = 1) -> Iterator[Variant]:
    """``count`` labelled variants of randomly chosen standard addresses, kinds in turn."""
    rng = random.Random(seed)
    communities = sorted({row["community"] for row in addresses})
    kinds = _kinds(rng, communities)
    names = list(kinds)
    for i in range(count):
        row = rng.choice(addresses)
        kind = names[i % len(names)]
        text = kinds[kind](_parts(row))
        truth_room = None if kind == "missing_room" else row["room_code"]
        yield Variant(kind, text, row["house_code"], truth_room)
