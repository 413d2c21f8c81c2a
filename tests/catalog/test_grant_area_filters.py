"""An area filter inside a grant's own rows reveals nothing, and is served.

A grant narrowed to one grid holds rows of that grid only: ``areaCode`` set to that grid (or an
area around it) keeps every row, set to another area keeps none, so the filter tells nothing a
count would not, even though ``gridCode`` was not among the fields granted. An area that splits
the rows a caller sees would tell which of them lie where, and stays refused."""

from __future__ import annotations

from typing import Any

from demo import District
from tests.catalog.grant_helpers import COMMUNITY, DECIDE, GRID, REQUEST, REVIEW, Hub, ask
from tests.support import data_of, error_codes

APP, OFFICER, OWNER, CDO = "emergency-app", "officer-emergency", "officer-public-security", "cdo"
PURPOSE = "emergency_contact"
COUNT = "query($f: PersonFilter) { people(filter: $f) { totalCount } }"


def _grant(hub: Hub, area: str) -> None:
    """The emergency app's phones of the community, granted for ``area`` without gridCode."""
    asked = data_of(hub.call(OFFICER, REQUEST, {"input": ask()}))["requestAccess"]
    data_of(hub.call(OWNER, REVIEW, {"id": asked["id"], "approve": True}))
    decision = {"id": asked["id"], "approve": True, "area": area, "fields": ["id", "phone"]}
    granted = data_of(hub.call(CDO, DECIDE, decision))["decideAccessRequest"]
    assert granted["grant"]["fields"] == ["id", "phone"]


def _count(hub: Hub, area: str) -> Any:
    return hub.call(APP, COUNT, {"f": {"areaCode": area}}, purpose=PURPOSE)


async def test_a_one_grid_grant_filters_by_its_own_area(
    hub: Hub, district: District, forget: list[str]
) -> None:
    _grant(hub, GRID)
    in_grid = sum(1 for p in district.people if p["grid_code"] == GRID)
    assert in_grid > 0
    for area in (GRID, COMMUNITY, GRID[:9], "440306"):
        assert data_of(_count(hub, area)) == {"people": {"totalCount": in_grid}}, area
    other = next(p["grid_code"] for p in district.people if p["grid_code"] != GRID)
    assert data_of(_count(hub, other)) == {"people": {"totalCount": 0}}


async def test_an_area_that_splits_the_rows_seen_is_still_refused(
    hub: Hub, forget: list[str]
) -> None:
    _grant(hub, COMMUNITY)
    assert data_of(_count(hub, COMMUNITY))["people"]["totalCount"] > 0
    assert error_codes(_count(hub, GRID)) == ["FORBIDDEN"]
