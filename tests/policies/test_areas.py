"""Area codes: what is refused before it reaches SQL, and the range an area code stands for."""

from __future__ import annotations

import pytest
from sqlalchemy import literal, select
from sqlalchemy.ext.asyncio import AsyncEngine

from policies.areas import check_area_code, under_area
from store.errors import BadUserInput


@pytest.mark.parametrize(
    "code",
    ["44030a", "4403O6001", "٤٤٠٣٠٦", "４４０３０６", "440306 ", "44030", "4403060011", ""],
)
def test_anything_but_an_area_code_of_ascii_digits_and_a_levels_length_is_refused(
    code: str,
) -> None:
    with pytest.raises(BadUserInput) as refused:
        check_area_code(code)
    assert str(refused.value) == f"{code!r} is not an area code (6, 9, 12, 15 digits)"


@pytest.mark.parametrize("code", ["440306", "440306001", "440306001001", "440306001001001"])
def test_an_area_code_of_each_level_is_taken_as_it_is(code: str) -> None:
    assert check_area_code(code) == code


@pytest.mark.parametrize(
    ("area", "inside", "outside"),
    [
        ("440306", ["440306", "440306999", "440306001001001"], ["440305999", "440307"]),
        ("999999", ["999999", "999999001", "999999999999999"], ["999998", "999998999"]),
        ("440306001001001", ["440306001001001"], ["440306001001002", "440306001001"]),
    ],
)
async def test_an_area_holds_itself_and_every_code_under_it_and_nothing_else(
    engine: AsyncEngine, area: str, inside: list[str], outside: list[str]
) -> None:
    """Evaluated by the database (the range is SQL): the last area of a width ("999999"), which
    has no next code, still holds itself."""
    async with engine.connect() as connection:
        for code in inside + outside:
            found = await connection.scalar(select(under_area(literal(code), area)))
            assert bool(found) is (code in inside), (area, code)
