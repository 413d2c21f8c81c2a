"""Placing any department's address string on a building code and a room code.

The steps, first that answers wins; each says which it was (``method``):

1. ``exact``: the text is a standard address's canonical text, character for character.
2. ``alias``: its normalised form is an alias a person taught (see :meth:`Matcher.teach`).
3. ``components``: its parsed components (road, door number, estate, building) name houses in
   an index; unique → matched. The administrative prefix only breaks ties.
4. ``fuzzy``: the houses of its block (same road, same estate, or same door number and
   building: candidates from an index, never a scan of the whole base) scored part by part
   with rapidfuzz.

Every answer has a confidence in [0, 1]; only a best candidate at or above the threshold is
*accepted*, the rest are candidates for a person to choose from, never silent guesses. A room
named in the text is looked up in the house; a room the house does not have is never accepted.

One :class:`Matcher` holds the whole base in memory, built once, and matches any number of
strings; ``allowed`` (a predicate on grid codes) cuts the base to what a caller may see *before*
matching, so the answer is exactly what it would be on a base holding only those rows.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

from rapidfuzz import fuzz

from addresses.normalise import normalise
from addresses.parse import Components, parse, strip_prefix

#: Accept automatically at or above this confidence unless the settings say otherwise.
DEFAULT_THRESHOLD = 0.9
#: Longest text matched; longer is refused as bad input (no address is this long).
MAX_LENGTH = 200
#: Most houses one block may offer to the fuzzy step.
MAX_BLOCK = 3_000
#: Candidates returned at most.
TOP = 5

#: The confidence of a unique components match, by which of road/door and estate/building it had.
FULL = 0.97
PARTIAL = 0.94
#: A unique components match found only through the administrative prefix.
BY_PREFIX = 0.92
#: A house named with a room it does not have.
NO_SUCH_ROOM = 0.5

AreaPredicate = Callable[[str], bool]
_ROOM_AT_END = re.compile(r"([1-9][0-9]*)室$")
K = TypeVar("K")


@dataclass(frozen=True, slots=True)
class House:
    """One house of the base, its parts normalised as a query's would be."""

    code: str
    grid_code: str
    text: str
    street: str
    community: str
    road: str
    number: str
    estate: str
    building: str

    @property
    def place(self) -> str:
        return f"{self.estate}{self.building}{'栋' if self.building else ''}"


@dataclass(frozen=True, slots=True)
class Candidate:
    """A house or room the text may name, how sure the matcher is, and which step said so."""

    house_code: str
    room_code: str | None
    text: str
    grid_code: str
    confidence: float
    method: str


@dataclass(frozen=True, slots=True)
class Match:
    """The answer for one text: the candidates, best first, and whether the best is accepted."""

    text: str
    components: Components
    candidates: tuple[Candidate, ...] = ()
    accepted: bool = False
    problem: str | None = None

    @property
    def best(self) -> Candidate | None:
        return self.candidates[0] if self.candidates else None

    @property
    def method(self) -> str:
        """The step of the best candidate; ``none`` when there is none; ``bad`` for bad input."""
        if self.problem is not None:
            return "bad"
        return self.candidates[0].method if self.candidates else "none"


def _everywhere(grid_code: str) -> bool:
    return True


@dataclass
class Matcher:
    """The whole address base in memory, indexed for every step; build once, match many."""

    threshold: float = DEFAULT_THRESHOLD
    houses: dict[str, House] = field(default_factory=dict)
    rooms: dict[str, dict[str, str]] = field(default_factory=dict)
    canonical: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    aliases: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    _by_key: dict[tuple[str, str, str], list[str]] = field(default_factory=dict)
    _by_door: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    _by_place: dict[str, list[str]] = field(default_factory=dict)
    _by_road: dict[str, list[str]] = field(default_factory=dict)
    _by_estate: dict[str, list[str]] = field(default_factory=dict)
    _by_number_building: dict[tuple[str, str], list[str]] = field(default_factory=dict)

    # --- building ------------------------------------------------------------------------

    def add_house(self, code: str, grid_code: str, text: str) -> None:
        """Index a house by its canonical text (its parts are read back by the parser, so the
        index and the queries are normalised by the same rules)."""
        parts = parse(text)
        house = House(
            code=code,
            grid_code=grid_code,
            text=text,
            street=parts.street or "",
            community=parts.community or "",
            road=parts.road or "",
            number=parts.number or "",
            estate=parts.estate or "",
            building=parts.building or "",
        )
        self.houses[code] = house
        self.canonical[text] = (code, None)
        _append(self._by_key, (house.road, house.number, house.place), code)
        _append(self._by_door, (house.road, house.number), code)
        _append(self._by_place, house.place, code)
        _append(self._by_road, house.road, code)
        _append(self._by_estate, house.estate, code)
        _append(self._by_number_building, (house.number, house.building), code)

    def add_room(self, house_code: str, room: str, room_code: str) -> None:
        """Index a room of an indexed house by its number on the floor (``301``)."""
        self.rooms.setdefault(house_code, {})[room] = room_code

    def teach(self, text: str, house_code: str, room_code: str | None) -> None:
        """Remember that ``text`` (any spelling) names this house or room."""
        self.aliases[alias_key(text)] = (house_code, room_code)

    @classmethod
    def build(
        cls,
        houses: Iterable[tuple[str, str, str]],
        rooms: Iterable[tuple[str, str, str]] = (),
        aliases: Iterable[tuple[str, str, str | None]] = (),
        threshold: float = DEFAULT_THRESHOLD,
    ) -> Matcher:
        """From (code, grid code, canonical text) houses, (house code, room, room code) rooms
        and (normalised text, house code, room code) aliases."""
        matcher = cls(threshold=threshold)
        for code, grid_code, text in houses:
            matcher.add_house(code, grid_code, text)
        for house_code, room, room_code in rooms:
            matcher.add_room(house_code, room, room_code)
        for key, alias_house, alias_room in aliases:
            matcher.aliases[key] = (alias_house, alias_room)
        return matcher

    # --- matching ------------------------------------------------------------------------

    def match(
        self,
        text: str,
        allowed: AreaPredicate | None = None,
        rooms_allowed: AreaPredicate | None = None,
    ) -> Match:
        """Match one text; ``allowed`` says in which grids the caller may see houses, and
        ``rooms_allowed`` in which their room codes (everywhere if None). Where rooms are not
        for the caller, matches stay at the house and a room's existence is never consulted."""
        allowed = allowed or _everywhere
        rooms_allowed = rooms_allowed or _everywhere
        problem = _problem(text)
        if problem is not None:
            return Match(text, Components(), problem=problem)
        components = parse(text)
        found = self._canonical(text.strip())
        if found is not None and allowed(self.houses[found[0]].grid_code):
            return self._single(text, components, found, rooms_allowed, "exact")
        found = self.aliases.get(alias_key(text))
        if found is not None and allowed(self.houses[found[0]].grid_code):
            return self._single(text, components, found, rooms_allowed, "alias")
        scored = self._by_components(components, allowed)
        if not scored:
            scored = self._fuzzy(components, allowed)
        candidates = self._with_rooms(components, scored, rooms_allowed)
        best = candidates[0] if candidates else None
        accepted = best is not None and best.confidence >= self.threshold
        return Match(text, components, tuple(candidates[:TOP]), accepted)

    def match_many(
        self, texts: Iterable[str], allowed: AreaPredicate | None = None, memory: int = 100_000
    ) -> Iterator[Match]:
        """Match texts in order, one index for all; a text seen again is answered from memory
        (department exports repeat addresses), keeping at most ``memory`` answers."""
        seen: dict[str, Match] = {}
        for text in texts:
            match = seen.get(text)
            if match is None:
                match = self.match(text, allowed)
                if len(seen) >= memory:
                    seen.pop(next(iter(seen)))
                seen[text] = match
            yield match

    def _single(
        self,
        text: str,
        components: Components,
        found: tuple[str, str | None],
        rooms_allowed: AreaPredicate,
        method: str,
    ) -> Match:
        house = self.houses[found[0]]
        room_code = found[1] if rooms_allowed(house.grid_code) else None
        candidate = Candidate(
            house.code, room_code, self._text(house, room_code), house.grid_code, 1.0, method
        )
        return Match(text, components, (candidate,), True)

    def _canonical(self, text: str) -> tuple[str, str | None] | None:
        """The house or room whose canonical text this is (a room's is its house's text, its
        number and 室: not stored, so a million rooms cost no million strings)."""
        found = self.canonical.get(text)
        if found is not None or not text.endswith("室"):
            return found
        match = _ROOM_AT_END.search(text)
        if match is None:
            return None
        house = self.canonical.get(text[: match.start()])
        if house is None:
            return None
        room_code = self.rooms.get(house[0], {}).get(match.group(1))
        return None if room_code is None else (house[0], room_code)

    def room_number(self, house_code: str, room_code: str | None) -> str | None:
        """The number on the floor (``301``) of one of a house's rooms."""
        if room_code is None:
            return None
        rooms = self.rooms.get(house_code, {})
        return next((number for number, code in rooms.items() if code == room_code), None)

    def _text(self, house: House, room_code: str | None) -> str:
        if room_code is None:
            return house.text
        rooms = self.rooms.get(house.code, {})
        room = next((number for number, code in rooms.items() if code == room_code), "")
        return f"{house.text}{room}室"

    def _by_components(self, c: Components, allowed: AreaPredicate) -> list[tuple[str, float, str]]:
        """Houses whose parts equal every part the text names, from the most specific index."""
        if c.road and c.number and c.estate:
            codes, confidence = self._by_key.get((c.road, c.number, c.place), []), FULL
        elif c.road and c.number:
            codes, confidence = self._by_door.get((c.road, c.number), []), PARTIAL
        elif c.estate:
            codes, confidence = self._by_place.get(c.place, []), PARTIAL
        else:
            return []
        houses = [self.houses[code] for code in codes if allowed(self.houses[code].grid_code)]
        if c.building and not c.estate:
            houses = [h for h in houses if h.building == c.building]
        if len(houses) > 1:
            narrowed = [h for h in houses if _prefix_agrees(h, c)]
            if len(narrowed) == 1:
                return [(narrowed[0].code, BY_PREFIX, "components")]
            tie = 0.6
            return [(h.code, tie, "components") for h in houses]
        return [(h.code, confidence, "components") for h in houses]

    def _block(self, c: Components, allowed: AreaPredicate) -> list[House]:
        """The houses a fuzzy match may choose from, from the narrowest index that has any:
        the same door number (with the same building, or on the same road) — numbers are
        rarely mistyped, names often — else the same road or the same estate."""
        codes: dict[str, None] = {}
        if c.number:
            codes.update(
                dict.fromkeys(self._by_number_building.get((c.number, c.building or ""), ()))
            )
            if c.road:
                codes.update(dict.fromkeys(self._by_door.get((c.road, c.number), ())))
        if not codes:
            for index, key in ((self._by_road, c.road), (self._by_estate, c.estate)):
                if key:
                    codes.update(dict.fromkeys(index.get(key, ())))
        return [
            self.houses[code]
            for code in list(codes)[:MAX_BLOCK]
            if allowed(self.houses[code].grid_code)
        ]

    def _fuzzy(self, c: Components, allowed: AreaPredicate) -> list[tuple[str, float, str]]:
        """Houses of the text's block, scored part by part; ambiguity lowers the confidence."""
        scored = sorted(
            ((_similarity(c, house), house.code) for house in self._block(c, allowed)),
            reverse=True,
        )
        scored = [(score, code) for score, code in scored if score > 0.5][:TOP]
        if not scored:
            return []
        result = []
        for rank, (score, code) in enumerate(scored):
            # How far this house is ahead of the best other one (never ahead, below the first).
            if rank == 0:
                margin = score - scored[1][0] if len(scored) > 1 else 1.0
            else:
                margin = score - scored[0][0]
            confidence = score * 0.97 if margin >= 0.08 else score * 0.8
            result.append((code, round(confidence, 4), "fuzzy"))
        return result

    def _with_rooms(
        self, c: Components, scored: list[tuple[str, float, str]], rooms_allowed: AreaPredicate
    ) -> list[Candidate]:
        """Each house candidate at room level when the text names a room the house has."""
        candidates = []
        for house_code, confidence, method in scored:
            house = self.houses[house_code]
            room_code = None
            if c.room is not None and rooms_allowed(house.grid_code):
                room_code = self.rooms.get(house_code, {}).get(c.room)
                if room_code is None:
                    confidence = min(confidence, NO_SUCH_ROOM)
            text = f"{house.text}{c.room}室" if room_code else house.text
            candidates.append(
                Candidate(house_code, room_code, text, house.grid_code, confidence, method)
            )
        candidates.sort(key=lambda candidate: -candidate.confidence)
        return candidates


def alias_key(text: str) -> str:
    """What an alias is remembered by: the normalised text without its prefix."""
    return strip_prefix(normalise(text))[0]


def _append(index: dict[K, list[str]], key: K, code: str) -> None:
    index.setdefault(key, []).append(code)


def _problem(text: str) -> str | None:
    if not text or not text.strip():
        return "empty"
    if len(text) > MAX_LENGTH:
        return f"longer than {MAX_LENGTH} characters"
    if "\ufffd" in text:
        return "undecodable characters"
    return None


def _prefix_agrees(house: House, c: Components) -> bool:
    if c.community:
        return house.community == c.community
    if c.street:
        return house.street == c.street
    return False


def _ratio(a: str | None, b: str) -> float | None:
    if not a:
        return None
    return fuzz.ratio(a, b) / 100


#: Weights of the parts in a fuzzy score: numbers are rarely mistyped, names often are.
WEIGHTS = {"road": 0.2, "number": 0.3, "estate": 0.2, "building": 0.3}


def _similarity(c: Components, house: House) -> float:
    """Weighted agreement of the parts the text names (numbers equal or not, names by ratio)."""
    parts = {
        "road": _ratio(c.road, house.road),
        "number": None if c.number is None else float(c.number == house.number),
        "estate": _ratio(c.estate, house.estate),
        "building": None if c.building is None else float(c.building == house.building),
    }
    present = {name: value for name, value in parts.items() if value is not None}
    weight = sum(WEIGHTS[name] for name in present)
    if weight < 0.5:
        return 0.0
    score = sum(WEIGHTS[name] * value for name, value in present.items()) / weight
    return score * min(1.0, weight + 0.2)
