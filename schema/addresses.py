"""The address base in the API: match a department's string, look up and search standard
addresses, teach an alias.

Everything is cut by the caller's plan *before* it is matched or searched: the matcher sees
only the houses in grids where the caller may read houses (and room codes only where the plan
ALLOWs ``Room.code``), so a match never tells of a row the caller could not read itself — not by
a candidate, not by a lowered confidence. Houses and rooms come back as the ordinary ``House`` and
``Room`` objects, read again through the plan's row predicate, so every field keeps its own
decision and is audited as any read of it.
"""

from __future__ import annotations

import enum
import unicodedata
from dataclasses import asdict
from types import SimpleNamespace
from typing import Any

import strawberry
from sqlalchemy import ColumnElement, and_, func, select, true

from addresses.base import MATCHERS, alias_of, teach_alias
from addresses.matcher import MAX_LENGTH, Candidate
from addresses.parse import Components
from addresses.standard import searchable
from policies import row_scope as scoping
from policies.areas import check_area_code, under_area
from policies.field_rules import Decision
from resolvers.context import RequestContext
from resolvers.loaders import page_of
from resolvers.pagination import page_args
from resolvers.resources import HOUSES, ROOMS, Resource
from schema import guard
from schema.base import Info
from schema.houses import House, Room
from schema.relay import Connection
from store.errors import BadUserInput, Forbidden, GridhubError
from store.models import Address, Grid

ADDRESSES = Resource("addresses", Address.__table__, Address.__table__.c.code, str)
_GRIDS = Grid.__table__


@strawberry.enum(description="Which step of the matcher found a candidate.")
class MatchMethod(enum.Enum):
    EXACT = "exact"
    ALIAS = "alias"
    COMPONENTS = "components"
    FUZZY = "fuzzy"
    NONE = "none"


@strawberry.type(description="The parts of an address (None where the text does not say).")
class AddressComponents:
    street: str | None
    community: str | None
    road: str | None
    number: str | None = strawberry.field(description="The door number (门牌号).")
    estate: str | None = strawberry.field(description="The village or estate (村/小区/园区).")
    building: str | None
    unit: str | None
    floor: int | None
    room: str | None

    @classmethod
    def of(cls, components: Components) -> AddressComponents:
        return cls(**asdict(components))


@strawberry.type(description="A house or room a text may name.")
class AddressCandidate:
    confidence: float = strawberry.field(description="How sure the matcher is, from 0 to 1.")
    method: MatchMethod
    standard_address: str | None = strawberry.field(
        description="The standard address's canonical text (the room part only where the "
        "caller may read the room's number)."
    )
    house: House | None
    room: Room | None


@strawberry.type(description="What the matcher made of one text.")
class AddressMatch:
    text: str
    accepted: bool = strawberry.field(
        description="Whether the best candidate's confidence reaches the hub's threshold: "
        "accepted matches may be used as they are; the rest are candidates for a person."
    )
    method: MatchMethod = strawberry.field(description="The step of the best candidate.")
    threshold: float
    components: AddressComponents = strawberry.field(description="The text's parts as read.")
    candidates: list[AddressCandidate] = strawberry.field(description="Best first.")


@strawberry.type(description="A house's or room's standard address (统一地址).")
class StandardAddress:
    code: str = strawberry.field(description="The building code or room code.")
    text: str | None = strawberry.field(description="The canonical text.")
    components: AddressComponents
    house: House | None
    room: Room | None


#: Types of the address API: each carries shared data only through House and Room.
ADDRESS_TYPES = {
    "AddressComponents",
    "AddressCandidate",
    "AddressMatch",
    "StandardAddress",
}


#: What a plan's grids are kept under in its ``memo`` (with the area asked about).
_SCOPE_MEMO = "addresses.scope"


async def _read_scope(context: RequestContext, area: str | None) -> tuple[set[str], set[str]]:
    """In one statement: the grid codes where the plan lets the caller read houses, and
    among them those where it lets them read rooms."""
    code = _GRIDS.c.code
    limits = {
        resource: scoping.row_scope(context.plan, "addresses.grids", resource, code)
        for resource in ("houses", "rooms")
    }
    rooms = and_(*limits["rooms"]) if limits["rooms"] else true()
    conditions: list[ColumnElement[bool]] = [_GRIDS.c.level == "grid", *limits["houses"]]
    if area is not None:
        conditions.append(under_area(code, area))
    statement = select(code, rooms.label("rooms")).where(*conditions)
    houses: set[str] = set()
    with_rooms: set[str] = set()
    for row in await context.rows(statement):
        houses.add(row.code)
        if row.rooms:
            with_rooms.add(row.code)
    return houses, with_rooms


def _room_codes_readable(context: RequestContext, grid: str) -> bool:
    """Whether the plan ALLOWs room codes in ``grid`` as they are (masked or needing a
    purpose not declared: rooms stay out of matching and search there)."""
    return context.plan.rules("Room", grid).of("code") is Decision.ALLOW


Scope = tuple[frozenset[str], frozenset[str]]


async def _scope(context: RequestContext, area: str | None) -> Scope:
    """Grids where houses may be read, and those where room codes may be read too.

    Kept in the plan's ``memo`` for as long as the plan lives (until the policy or the
    principal changes): the grids are the district's fixed divisions, and the plan's row
    predicate is a test of a grid's code, so a kept answer stays the plan's. Should grids
    be added meanwhile, their houses are only left out of matching until the next plan; and
    a kept set never widens what is shown, since every candidate's house and room are read
    again through the plan's row predicates (:func:`_objects`)."""
    memo: dict[object, object] | None = getattr(context.plan, "memo", None)
    key = (_SCOPE_MEMO, area)
    kept = None if memo is None else memo.get(key)
    if kept is not None:
        return kept  # type: ignore[return-value]
    houses, rooms = await _read_scope(context, area)
    scope = frozenset(houses), frozenset(g for g in rooms if _room_codes_readable(context, g))
    if memo is not None:
        memo[key] = scope
    return scope


async def _objects(
    context: RequestContext, house_codes: set[str], room_codes: set[str]
) -> tuple[dict[str, House], dict[str, Room]]:
    """The houses and rooms as objects, read through the plan's row predicates."""
    houses: dict[str, House] = {}
    rooms: dict[str, Room] = {}
    if house_codes:
        table = HOUSES.table
        statement = select(table).where(
            table.c.code.in_(house_codes), *context.row_scope(HOUSES, "addresses.houses")
        )
        for row in await context.rows(statement):
            houses[row.code] = House.from_row(row, context)
    if room_codes:
        table = ROOMS.table
        statement = select(table).where(
            table.c.code.in_(room_codes), *context.row_scope(ROOMS, "addresses.rooms")
        )
        for row in await context.rows(statement):
            rooms[row.code] = Room.from_row(row, context)
    return houses, rooms


def _room_text(context: RequestContext, house_text: str, room: str | None, grid: str) -> str:
    """The canonical text with its room part only as the plan shows ``Room.number`` (plain,
    masked, or left out)."""
    if room is None:
        return house_text
    holder = SimpleNamespace(**guard.apply(context.plan.rules("Room", grid), {"number": room}))
    try:
        shown = guard.read_field(holder, "number")
    except GridhubError:
        return house_text
    return f"{house_text}{shown}室"


def _check_text(text: str) -> str:
    if not text.strip():
        raise BadUserInput("`text` is empty", field="text")
    if len(text) > MAX_LENGTH:
        raise BadUserInput(f"`text` is longer than {MAX_LENGTH} characters", field="text")
    if any(unicodedata.category(char) == "Cc" for char in text):
        raise BadUserInput("`text` holds control characters", field="text")
    return text


async def resolve_match_address(
    info: Info, text: str, area_code: str | None = None
) -> AddressMatch | None:
    context = info.context
    _check_text(text)
    area = None if area_code is None else check_area_code(area_code)
    house_grids, room_grids = await _scope(context, area)
    threshold = context.settings.address_match_threshold
    matcher = await MATCHERS.get(context.engine, threshold)
    taught = await alias_of(await context.connection(), text)
    if taught is not None and taught[0] in matcher.houses:
        matcher.teach(text, *taught)  # taught through another process since the index was built
    match = matcher.match(text, house_grids.__contains__, room_grids.__contains__)
    candidates = [c for c in match.candidates if c.grid_code in house_grids]
    houses, rooms = await _objects(
        context,
        {c.house_code for c in candidates},
        {c.room_code for c in candidates if c.room_code is not None},
    )
    out = [
        _candidate(context, c, houses, rooms, matcher.room_number(c.house_code, c.room_code))
        for c in candidates
        if c.house_code in houses
    ]
    return AddressMatch(
        text=text,
        accepted=match.accepted and bool(out),
        method=MatchMethod(match.method if out else "none"),
        threshold=threshold,
        components=AddressComponents.of(match.components),
        candidates=out,
    )


def _candidate(
    context: RequestContext,
    candidate: Candidate,
    houses: dict[str, House],
    rooms: dict[str, Room],
    room_number: str | None,
) -> AddressCandidate:
    room = rooms.get(candidate.room_code) if candidate.room_code else None
    house_text = candidate.text
    if candidate.room_code is not None and room_number is not None:
        house_text = candidate.text[: -len(room_number) - 1]
    return AddressCandidate(
        confidence=candidate.confidence,
        method=MatchMethod(candidate.method),
        standard_address=_room_text(
            context, house_text, room_number if room else None, candidate.grid_code
        ),
        house=houses[candidate.house_code],
        room=room,
    )


async def _visible(context: RequestContext) -> list[ColumnElement[bool]]:
    """Standard addresses of houses the caller may read; rooms' only in the grids where the
    caller may read room codes (so counts and pages hold exactly what is shown)."""
    a = ADDRESSES.table.c
    conditions: list[ColumnElement[bool]] = []
    conditions += scoping.row_scope(context.plan, "addresses.standard", "houses", a.grid_code)
    _, room_grids = await _scope(context, None)
    conditions.append(a.room_code.is_(None) | a.grid_code.in_(sorted(room_grids)))
    return conditions


async def _standard(context: RequestContext, rows: list[Any]) -> list[StandardAddress]:
    houses, rooms = await _objects(
        context,
        {row.house_code for row in rows},
        {row.room_code for row in rows if row.room_code is not None},
    )
    result = []
    for row in rows:
        if row.house_code not in houses:
            continue
        room = rooms.get(row.room_code) if row.room_code else None
        if row.room_code is not None and room is None:
            continue
        if row.room_code is not None and not _room_codes_readable(context, row.grid_code):
            continue
        house_text = row.text if row.room is None else row.text[: -len(row.room) - 1]
        components = Components(
            street=row.street,
            community=row.community,
            road=row.road,
            number=row.number,
            estate=row.estate,
            building=row.building,
            unit=row.unit,
            floor=row.floor,
            room=row.room,
        )
        result.append(
            StandardAddress(
                code=row.code,
                text=_room_text(context, house_text, row.room, row.grid_code),
                components=AddressComponents.of(components),
                house=houses[row.house_code],
                room=room,
            )
        )
    return result


async def resolve_address(info: Info, code: str) -> StandardAddress | None:
    context = info.context
    table = ADDRESSES.table
    rows = await context.rows(select(table).where(table.c.code == code, *await _visible(context)))
    found = await _standard(context, list(rows))
    return found[0] if found else None


async def resolve_addresses(
    info: Info,
    search: str,
    area_code: str | None = None,
    first: int | None = None,
    after: str | None = None,
) -> Connection[StandardAddress] | None:
    context = info.context
    _check_text(search)
    table = ADDRESSES.table
    args = page_args(
        first,
        after,
        ADDRESSES,
        default=context.settings.default_page_size,
        cap=context.settings.max_page_size,
    )
    key = searchable(search)
    if not key:
        raise BadUserInput("`search` has nothing to search for", field="search")
    conditions = [table.c.normalised.contains(key, autoescape=True), *await _visible(context)]
    if area_code is not None:
        conditions.append(under_area(table.c.grid_code, check_area_code(area_code)))
    statement = select(table).where(*conditions)
    if args.after is not None:
        statement = statement.where(table.c.code > args.after)
    rows = list(await context.rows(statement.order_by(table.c.code).limit(args.first + 1)))
    page = page_of(ADDRESSES, rows, args)
    shown = {item.code: item for item in await _standard(context, list(page.rows))}

    async def count() -> int:
        total = await context.rows(select(func.count()).select_from(table).where(*conditions))
        return int(total[0][0])

    return Connection.build(page, count, lambda row, _: shown[row.code], context)


@strawberry.type(description="An alias remembered: the text now matches this address exactly.")
class TaughtAlias:
    text: str
    normalised: str = strawberry.field(description="What the alias is remembered by.")
    address: StandardAddress


async def teach_address_alias(info: Info, text: str, code: str) -> TaughtAlias:
    """People (not apps) who may read the house — and, for a room, its room code — teach."""
    context = info.context
    _check_text(text)
    identity = context.identity
    if identity is None or identity.kind != "person":
        raise Forbidden("Teaching an address alias is for people who know the place")
    found = await resolve_address(info, code)
    if found is None or found.house is None:
        # The same refusal for a code that does not exist: no oracle for codes.
        raise Forbidden(f"No address {code!r} that you may teach an alias for")
    table = ADDRESSES.table
    row = (
        await context.rows(
            select(table.c.grid_code, table.c.house_code, table.c.room_code).where(
                table.c.code == code
            )
        )
    )[0]
    async with context.engine.begin() as connection:
        key = await teach_alias(
            connection, text, code, row.grid_code, identity.subject, context.now
        )
    MATCHERS.taught(text, row.house_code, row.room_code)
    return TaughtAlias(text=text, normalised=key, address=found)


__all__ = [
    "ADDRESS_TYPES",
    "AddressMatch",
    "StandardAddress",
    "TaughtAlias",
    "resolve_address",
    "resolve_addresses",
    "resolve_match_address",
    "teach_address_alias",
]
