"""A view definition is checked whole: every problem at once, in the words of the field."""

from __future__ import annotations

from typing import Any

import pytest

from store.errors import BadUserInput
from views.definition import (
    DEFAULT_MIN_COUNT,
    MIN_COUNT_FLOOR,
    AggregateBy,
    Source,
    parse_view,
    view_json,
)

DEPARTMENTS = ["housing", "civil_affairs", "grid_office"]


def view(*layers: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {
        "code": "housing-rentals",
        "name": "出租屋",
        "department": "housing",
        "layers": list(layers),
        **changes,
    }


def layer(**changes: Any) -> dict[str, Any]:
    return {
        "code": "houses",
        "name": "房屋",
        "source": "HOUSES",
        "fields": ["address"],
        "style": {"colour": "#FB8C00"},
        **changes,
    }


def problems(raw: dict[str, Any]) -> list[str]:
    with pytest.raises(BadUserInput) as caught:
        parse_view(raw, DEPARTMENTS)
    found: list[str] = caught.value.details["problems"]
    return found


def test_a_view_reads_back_as_it_was_written() -> None:
    given = view(
        layer(filter={"use": "PUBLIC_RENTAL", "minFloors": 3, "areaCode": None}),
        layer(
            code="elderly",
            source="PEOPLE",
            filter={"careTag": "ELDERLY_ALONE", "bornTo": "1956-01-01"},
            aggregate={"by": "GRID"},
            fields=["name"],
            style={"colour": "#c2185b", "size": 2, "labelField": "count"},
        ),
        purpose="elderly_care",
    )
    parsed = parse_view(given, DEPARTMENTS)
    houses, elderly = parsed.layers
    assert houses.filter == {"minFloors": 3, "use": "PUBLIC_RENTAL"}  # nulls dropped
    assert houses.filter_key == (("min_floors", 3), ("use", "public_rental"))
    assert houses.style.colour == "#fb8c00"
    assert elderly.source is Source.PEOPLE
    assert elderly.aggregate is not None
    assert elderly.aggregate.by is AggregateBy.GRID
    assert elderly.aggregate.min_count == DEFAULT_MIN_COUNT
    assert elderly.feature_type == "Grid"
    assert parse_view(view_json(parsed), DEPARTMENTS) == parsed


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (view(layer(source="BUILDINGS")), "source must be one of"),
        (view(layer(fields=["height"])), "House features show none of height"),
        (view(layer(fields=["residents"])), "show none of residents"),
        (view(layer(fields=["address", "address"])), "named twice"),
        (view(layer(filter={"colour": "red"})), "HouseFilter has no field `colour`"),
        (view(layer(filter={"use": "public_rental"})), "`use` must be one of"),
        (view(layer(filter={"minFloors": "3"})), "`minFloors` must be a whole number"),
        (view(layer(filter={"areaCode": "4403"})), "is not an area code"),
        (view(layer(filter=["use"])), "filter must be an object"),
        (
            view(layer(source="EVENTS", fields=[], filter={"reportedFrom": "2026-01-01T00:00"})),
            "with a time zone",
        ),
        (
            view(
                layer(source="PEOPLE", fields=[], filter={"minAge": -1}, aggregate={"by": "GRID"})
            ),
            "`minAge` must not be negative",
        ),
        (view(layer(source="GRID", fields=["name"], filter={"use": "OFFICE"})), "takes no filter"),
        (view(layer(source="PEOPLE", fields=[])), "never drawn one by one"),
        (view(layer(aggregate={"by": "HOUSE"})), "only a PEOPLE layer is aggregated"),
        (
            view(layer(source="PEOPLE", fields=[], aggregate={"by": "GRID", "minCount": 2})),
            f"may not be below {MIN_COUNT_FLOOR}",
        ),
        (
            view(layer(source="PEOPLE", fields=[], aggregate={"by": "STREET"})),
            "aggregate by HOUSE or GRID",
        ),
        (view(layer(source="PEOPLE", fields=["idNumber"], aggregate={"by": "GRID"})), "idNumber"),
        (view(layer(style={"colour": "orange"})), "colour must be #rrggbb"),
        (view(layer(style={"colour": "#ffffff", "size": 500})), "size must be from"),
        (view(layer(style={"colour": "#ffffff", "labelField": "use"})), "label field 'use'"),
        (view(layer(code="Houses!")), "a layer code is"),
        (view(layer(), layer()), "a code of its own"),
        (view(), "at least one layer"),
        (view(layer(), code="Housing Rentals"), "code: lower-case"),
        (view(layer(), name=" "), "name must be a non-empty string"),
        (view(layer(), department="nowhere"), "no department 'nowhere'"),
        (view(layer(), purpose="Elderly Care"), "purpose: a purpose code"),
    ],
)
def test_a_bad_definition_is_refused_saying_why(raw: dict[str, Any], expected: str) -> None:
    assert any(expected in problem for problem in problems(raw)), problems(raw)


def test_every_problem_is_reported_at_once() -> None:
    found = problems(
        view(
            layer(fields=["height"], style={"colour": "orange"}),
            layer(
                code="people", source="PEOPLE", aggregate={"by": "GRID", "minCount": 1}, fields=[]
            ),
            name="",
        )
    )
    assert len(found) == 4, found


def test_a_count_of_people_may_be_labelled_with_its_count() -> None:
    parsed = parse_view(
        view(
            layer(
                source="PEOPLE",
                fields=["address"],
                aggregate={"by": "HOUSE", "minCount": MIN_COUNT_FLOOR},
                style={"colour": "#8e24aa", "labelField": "count"},
            )
        ),
        DEPARTMENTS,
    )
    assert parsed.layers[0].feature_type == "House"
