"""Each match step on the generated district's standard addresses, with the truth known."""

from __future__ import annotations

from collections import Counter
from datetime import date
from typing import Any

import pytest

from addresses.matcher import Matcher
from demo import District, Profile, generate
from demo.address_variants import variants


@pytest.fixture(scope="module")
def base() -> District:
    return generate(7, Profile.small(), date(2025, 6, 15))


def build(district: District, threshold: float = 0.9) -> Matcher:
    rows = district.addresses
    return Matcher.build(
        ((r["code"], r["grid_code"], r["text"]) for r in rows if r["room_code"] is None),
        ((r["house_code"], r["room"], r["code"]) for r in rows if r["room_code"]),
        threshold=threshold,
    )


@pytest.fixture(scope="module")
def matcher(base: District) -> Matcher:
    return build(base)


@pytest.fixture(scope="module")
def room(base: District) -> dict[str, Any]:
    return next(r for r in base.addresses if r["room_code"] and r["building"])


def test_the_canonical_text_matches_exactly(matcher: Matcher, room: dict[str, Any]) -> None:
    match = matcher.match(room["text"])
    assert match.accepted
    assert match.method == "exact"
    assert (match.best.house_code, match.best.room_code) == (room["house_code"], room["code"])
    assert match.best.confidence == 1.0


def test_a_department_spelling_matches_by_components(
    matcher: Matcher, room: dict[str, Any]
) -> None:
    door = f"{room['road']}{room['number']}号"
    text = f"深圳市{door}{room['estate']}{room['building']}  {room['floor']}楼{room['room']}房"
    match = matcher.match(text.replace("栋", "幢"))
    assert match.accepted
    assert match.method == "components"
    assert match.best.room_code == room["code"]
    assert match.best.text == room["text"]


def test_a_typo_matches_fuzzily_within_the_block(matcher: Matcher, room: dict[str, Any]) -> None:
    road = room["road"]
    typo = ("胡" if road[0] != "胡" else "湖") + road[1:]
    match = matcher.match(f"{typo}{room['number']}号{room['estate']}{room['building']}")
    assert match.method == "fuzzy"
    assert match.best.house_code == room["house_code"]
    assert match.best.room_code is None
    assert 0 < match.best.confidence < 1


def test_a_room_the_house_does_not_have_is_never_accepted(
    matcher: Matcher, room: dict[str, Any]
) -> None:
    house_text = room["text"][: -len(room["room"]) - 1]
    match = matcher.match(f"{house_text}9999室")
    assert not match.accepted
    assert match.best.house_code == room["house_code"]
    assert match.best.room_code is None


def test_ambiguous_components_give_candidates_only(matcher: Matcher, base: District) -> None:
    """Two houses with one estate and building (on different roads): neither is accepted."""
    seen: dict[str, list[dict[str, Any]]] = {}
    for r in base.addresses:
        if r["room_code"] is None and r["building"]:
            seen.setdefault(r["estate"] + r["building"], []).append(r)
    twins = next((rows for rows in seen.values() if len(rows) > 1), None)
    if twins is None:
        pytest.skip("no two houses share an estate and building in this district")
    match = matcher.match(twins[0]["estate"] + twins[0]["building"])
    assert not match.accepted
    assert {c.house_code for c in match.candidates} >= {r["code"] for r in twins}


def test_a_taught_alias_matches_next_time(base: District, room: dict[str, Any]) -> None:
    matcher = build(base)
    odd = "老张家楼上那间"
    assert matcher.match(odd).method == "none"
    matcher.teach(odd, room["house_code"], room["code"])
    match = matcher.match(f" {odd} ")
    assert (match.method, match.accepted, match.best.room_code) == ("alias", True, room["code"])


def test_rows_outside_the_allowed_area_do_not_exist(matcher: Matcher, room: dict[str, Any]) -> None:
    def elsewhere(grid: str) -> bool:
        return grid != room["grid_code"]

    for text in (room["text"], room["text"].replace("栋", "座"), room["text"][3:]):
        match = matcher.match(text, elsewhere)
        assert all(c.grid_code != room["grid_code"] for c in match.candidates)
        assert not match.accepted or match.best.house_code != room["house_code"]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("路" * 201, "longer than 200 characters"),
        ("新安\ufffd路", "undecodable characters"),
    ],
)
def test_bad_input_is_reported(matcher: Matcher, text: str, problem: str) -> None:
    match = matcher.match(text)
    assert (match.problem, match.method, match.accepted) == (problem, "bad", False)


def test_the_threshold_decides_what_is_accepted(base: District, room: dict[str, Any]) -> None:
    text = room["text"].replace(room["road"], "")  # components, less than full confidence
    assert build(base, threshold=0.9).match(text).accepted
    assert not build(base, threshold=0.999).match(text).accepted


def test_labelled_variants(matcher: Matcher, base: District) -> None:
    """The accuracy the benchmark reports, on the small district (fewer rows, same kinds)."""
    outcome: Counter[str] = Counter()
    for variant in variants(base.addresses, 3_000, seed=5):
        match = matcher.match(variant.text)
        truth = (variant.house_code, variant.room_code)
        if match.accepted:
            outcome["auto"] += 1
            outcome["right"] += (match.best.house_code, match.best.room_code) == truth
        else:
            outcome["top3"] += truth in [(c.house_code, c.room_code) for c in match.candidates[:3]]
    assert outcome["right"] / outcome["auto"] >= 0.995
    assert outcome["auto"] / 3_000 >= 0.95
    assert outcome["top3"] / (3_000 - outcome["auto"]) >= 0.9


def test_a_typo_equally_near_two_houses_is_never_accepted() -> None:
    """远胡花园 is one character from 远正花园 and from 远晟花园 on the same road and number:
    both are offered, neither accepted, whichever way they are ranked."""
    matcher = Matcher.build(
        [
            ("A", "440306002003003", "宝安区西乡街道河西社区龙珠路192号远正花园6栋"),
            ("B", "440306002001002", "宝安区西乡街道盐田社区龙珠路192号远晟花园6栋"),
            ("C", "440306002001002", "宝安区西乡街道盐田社区龙珠路10号远大花园1栋"),
        ]
    )
    match = matcher.match("宝安区西乡街道盐田社区龙珠路192号远胡花园6栋")
    assert not match.accepted
    assert {c.house_code for c in match.candidates[:2]} == {"A", "B"}
    assert all(c.confidence < matcher.threshold for c in match.candidates)
