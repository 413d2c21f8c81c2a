"""The demo's standard addresses: one per house and room, consistent with the house's address."""

from __future__ import annotations

from datetime import date

import pytest

from addresses.normalise import normalise
from addresses.parse import parse
from demo import District, Profile, generate


@pytest.fixture(scope="module")
def district() -> District:
    return generate(7, Profile.small(), date(2025, 6, 15))


def test_one_standard_address_per_house_and_room(district: District) -> None:
    codes = [row["code"] for row in district.addresses]
    assert len(codes) == len(set(codes))
    assert set(codes) == {h["code"] for h in district.houses} | {r["code"] for r in district.rooms}


def test_a_house_text_is_its_address_and_a_room_adds_its_number(district: District) -> None:
    houses = {h["code"]: h for h in district.houses}
    rooms = {r["code"]: r for r in district.rooms}
    for row in district.addresses:
        house = houses[row["house_code"]]
        assert row["grid_code"] == house["grid_code"]
        if row["room_code"] is None:
            assert row["text"] == house["address"]
        else:
            room = rooms[row["room_code"]]
            assert row["text"] == f"{house['address']}{int(room['number'])}室"
            assert row["floor"] == room["floor"]


def test_the_parser_reads_every_standard_text_back_into_its_parts(district: District) -> None:
    for row in district.addresses:
        parts = parse(row["text"])
        assert (parts.street, parts.community, parts.road, parts.number) == (
            row["street"],
            row["community"],
            row["road"],
            row["number"],
        )
        assert parts.estate == normalise(row["estate"])
        assert parts.building == (normalise(row["building"])[:-1] if row["building"] else None)
        assert parts.room == row["room"]


def test_standard_addresses_are_the_same_for_the_same_seed(district: District) -> None:
    again = generate(7, Profile.small(), date(2025, 6, 15))
    assert again.addresses == district.addresses
