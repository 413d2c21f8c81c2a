"""The standard address of every generated house and room, from the parts its address was made of.

Nothing here draws from the generator's random stream: the district's other rows stay exactly
what the same seed always gave.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

from addresses.standard import house_address, room_address

if TYPE_CHECKING:
    from demo.generator import District


class HouseParts(NamedTuple):
    """What a house's address text was put together from."""

    street: str
    community: str
    road: str
    number: str
    estate: str
    building: str


def standard_addresses(district: District, parts: dict[str, HouseParts]) -> list[dict[str, Any]]:
    """One standard address per house, then one per room, in code order within each house."""
    rows: list[dict[str, Any]] = []
    houses = {}
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
        if row["text"] != house["address"]:
            raise AssertionError(f"standard text {row['text']} is not {house['address']}")
        houses[house["code"]] = row
        rows.append(row)
    for room in district.rooms:
        rows.append(
            room_address(houses[room["house_code"]], room["code"], room["number"], room["floor"])
        )
    return rows
