"""Every normalisation rule, and the properties any input keeps."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from addresses.normalise import normalise, numeral_to_digits
from addresses.parse import Components, parse, strip_prefix


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # full width and half width
        ("新安六路２４６号", "新安六路246号"),
        ("鑫泰大厦Ａ座", "鑫泰大厦A栋"),
        ("ａ栋", "A栋"),
        # Chinese numerals before a unit word
        ("建安村九巷", "建安村9巷"),
        ("二十三号", "23号"),
        ("六栋", "6栋"),
        ("三楼", "3楼"),
        ("三零一室", "301室"),
        ("两栋", "2栋"),
        ("第三栋", "3栋"),
        # numerals inside names are kept
        ("宝民一路", "宝民一路"),
        ("蚝一社区", "蚝一社区"),
        # synonyms
        ("6幢", "6栋"),
        ("6座", "6栋"),
        ("6号楼", "6栋"),
        ("301房", "301室"),
        ("3层", "3楼"),
        # spaces and punctuation
        ("新安六路 246号，6栋-301", "新安六路246号6栋301"),
        ("（建安村）九巷·6栋", "建安村9巷6栋"),
    ],
)
def test_rule(text: str, expected: str) -> None:
    assert normalise(text) == expected


def test_an_unreadable_numeral_stays() -> None:
    assert numeral_to_digits("十十") == "十十"


@given(st.text(max_size=60))
def test_normalising_twice_changes_nothing(text: str) -> None:
    assert normalise(normalise(text)) == normalise(text)


ADDRESS_CHARS = st.sampled_from(list("新安六路246号建安村九巷6栋301室ABC街道社区 ，-"))


@given(st.text(ADDRESS_CHARS, max_size=40))
def test_width_does_not_matter(text: str) -> None:
    wide = "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in text)
    assert normalise(wide) == normalise(text)


@pytest.mark.parametrize(
    "text",
    [
        "宝安区新安街道建安社区新安六路246号建安村九巷6栋301",
        "新安六路246号建安村9巷6栋301房",
        "深圳市宝安区新安六路２４６号建安村九巷６栋３楼301",
        "建安村九巷六栋301室新安六路二百四十六号",
        "广东省深圳市宝安区新安街道海旺社区新安六路246号建安村9巷6幢 301",
    ],
)
def test_department_spellings_parse_to_the_same_parts(text: str) -> None:
    parts = parse(text)
    assert (parts.road, parts.number, parts.estate, parts.building, parts.room) == (
        "新安六路",
        "246",
        "建安村9巷",
        "6",
        "301",
    )


def test_prefix_is_read_off_and_kept_apart() -> None:
    rest, street, community = strip_prefix("广东省深圳市宝安区新安街道建安社区新安六路246号")
    assert (rest, street, community) == ("新安六路246号", "新安", "建安")


def test_an_industrial_zone_is_not_a_district() -> None:
    parts = parse("建安工业区3栋")
    assert (parts.estate, parts.building) == ("建安工业区", "3")


def test_floor_unit_and_room() -> None:
    parts = parse("建安苑6栋2单元3楼0301")
    assert (parts.unit, parts.floor, parts.room) == ("2", 3, "301")


def test_a_tower_with_no_building_number() -> None:
    parts = parse("河东路74号弘越科技大厦1106室")
    assert (parts.road, parts.number, parts.estate, parts.building, parts.room) == (
        "河东路",
        "74",
        "弘越科技大厦",
        None,
        "1106",
    )


def test_nothing_to_read() -> None:
    assert parse("") == Components()


STANDARD = [
    "宝安区新安街道建安社区新安六路246号建安村九巷6栋301室",
    "宝安区西乡街道流塘社区河东路74号弘越科技大厦1106室",
    "宝安区新安街道海富社区宝安大道206号达豪名苑8栋",
    "宝安区航城街道黄田社区黄田路12号鑫泰商业广场A座",
]


@given(
    st.sampled_from(STANDARD),
    st.lists(st.tuples(st.integers(0, 60), st.sampled_from(" ，,-·（）、　")), max_size=8),
)
def test_spaces_and_punctuation_anywhere_do_not_change_the_parts(
    text: str, noise: list[tuple[int, str]]
) -> None:
    noisy = text
    for position, mark in sorted(noise, reverse=True):
        noisy = noisy[:position] + mark + noisy[position:]
    assert parse(noisy) == parse(text)


@given(st.sampled_from(STANDARD))
def test_a_standard_text_reads_back_as_its_parts(text: str) -> None:
    parts = parse(text)
    assert parts.street is not None
    assert parts.community is not None
    assert parts.road is not None
    assert parts.number is not None
    assert parts.estate is not None
