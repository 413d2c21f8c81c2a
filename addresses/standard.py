"""The standard form: components, and the one canonical text they spell.

A house reads ``宝安区新安街道建安社区新安六路246号建安村九巷6栋`` (district, street, community,
road, door number, village or estate, building); a room adds its number on the floor, without
leading zeros, and ``室``: ``…6栋301室``. Building codes (一楼一码) and room codes (一房一码) are
the keys; the text is what departments are asked to write.
"""

from __future__ import annotations

from typing import Any

from addresses.normalise import normalise
from addresses.parse import room_number, strip_prefix

DISTRICT_NAME = "宝安区"


def canonical_house_text(
    street: str, community: str, road: str, number: str, estate: str, building: str
) -> str:
    return f"{DISTRICT_NAME}{street}街道{community}社区{road}{number}号{estate}{building}"


def searchable(text: str) -> str:
    """What searches compare: the normalised text without its administrative prefix."""
    return strip_prefix(normalise(text))[0]


def house_address(
    *,
    code: str,
    grid_code: str,
    street: str,
    community: str,
    road: str,
    number: str,
    estate: str,
    building: str,
) -> dict[str, Any]:
    """A house's row of the ``addresses`` table."""
    text = canonical_house_text(street, community, road, number, estate, building)
    return {
        "code": code,
        "house_code": code,
        "room_code": None,
        "grid_code": grid_code,
        "street": street,
        "community": community,
        "road": road,
        "number": number,
        "estate": estate,
        "building": building or None,
        "unit": None,
        "floor": None,
        "room": None,
        "text": text,
        "normalised": searchable(text),
    }


def room_address(house: dict[str, Any], code: str, number: str, floor: int) -> dict[str, Any]:
    """A room's row: its house's components, its floor, and its number without leading zeros."""
    room = room_number(number)
    text = f"{house['text']}{room}室"
    return {
        **house,
        "code": code,
        "room_code": code,
        "floor": floor,
        "room": room,
        "text": text,
        "normalised": searchable(text),
    }
