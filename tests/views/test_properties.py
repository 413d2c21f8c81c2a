"""Properties that hold for any box and any plan: no feature outside the viewer's rows, areas
or the box; every feature the plan and box allow is there; properties as the rules decide.

The expected features come from an oracle written here from the rule language's definition
(not from the plan compiler), over the district the session database holds.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import box, shape
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine

from demo import Profile, generate
from policies.fields import FIELDS, RESOURCE_OF_TYPE, Mask, Tier
from policies.masking import mask
from policies.plan import AccessPlan
from policies.principal import Principal
from policies.rules import Act, Rule
from policies.store import PolicyStore
from resolvers.ids import from_global_id, to_global_id
from store.models import View, ViewVersion
from tests.conftest import AS_OF, SEED, GraphQL
from tests.views.helpers import MAP, PATROL, covers, features, layers
from views import changes

#: The district the session database holds, for the strategies and the oracle.
DISTRICT = generate(SEED, Profile.small(), AS_OF)
GRIDS = {str(g["code"]): g for g in DISTRICT.grids}
HOUSES = {h["code"]: h for h in DISTRICT.houses}
EVENTS = {e["id"]: e for e in DISTRICT.events}
CODES = sorted(GRIDS)
#: Areas of one lineage, drawn more often, so that rules' areas often nest.
LINEAGE = ["440306", "440306001", "440306001001", "440306001001001"]
#: The box the district lies in, and a margin around it.
LON, LAT = (113.70, 114.00), (22.50, 22.85)


def boxes() -> st.SearchStrategy[list[float]]:
    lon = st.floats(*LON, allow_nan=False)
    lat = st.floats(*LAT, allow_nan=False)
    return (
        st.tuples(lon, lon, lat, lat)
        .filter(lambda b: b[0] != b[1] and b[2] != b[3])
        .map(lambda b: [min(b[0], b[1]), min(b[2], b[3]), max(b[0], b[1]), max(b[2], b[3])])
    )


def in_box(point: list[float], bbox: list[float]) -> bool:
    return bbox[0] <= point[0] <= bbox[2] and bbox[1] <= point[1] <= bbox[3]


def area_of(codes: tuple[str, ...]) -> Any:
    from shapely import union_all

    return union_all([shape(orjson.loads(GRIDS[c]["geometry"])) for c in codes])


# -- real viewers --------------------------------------------------------------------------------

VIEWERS = {
    "worker-440306001001001": ("440306001001001",),
    "community-440306001001": ("440306001001",),
    "street-440306002": ("440306002",),
}


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    viewer=st.sampled_from(sorted(VIEWERS)),
    bbox=boxes(),
    area_code=st.one_of(st.none(), st.sampled_from(CODES)),
)
async def test_no_feature_lies_outside_the_viewers_area_or_the_box(
    gql: GraphQL, viewer: str, bbox: list[float], area_code: str | None
) -> None:
    own = VIEWERS[viewer]
    region = area_of(own)
    variables: dict[str, Any] = {"bbox": bbox}
    if area_code is not None:
        variables["areaCode"] = area_code
    body = await gql(MAP, {"code": PATROL, **variables}, as_=viewer)
    cut = box(*bbox)
    for layer in ("houses", "open-events", "residents"):
        for feature in features(body, layer):
            point = feature["geometry"]["coordinates"]
            assert in_box(point, bbox), (layer, point)
            assert covers(region, feature["geometry"]), (layer, point)
            type_name, key = from_global_id(feature["id"])
            grid = (HOUSES[key] if type_name == "House" else EVENTS[key])["grid_code"]
            assert grid.startswith(own), (layer, grid)
            assert area_code is None or grid.startswith(area_code)
    for feature in features(body, "grids"):
        assert shape(feature["geometry"]).envelope.intersects(cut)


# -- any plan ------------------------------------------------------------------------------------

CODE = "property-layers"
PROPERTY_VIEW = {
    "code": CODE,
    "name": "性质测试",
    "department": "grid_office",
    "layers": [
        {
            "code": "houses",
            "name": "房屋",
            "source": "HOUSES",
            "fields": ["address", "use", "floors"],
            "style": {"colour": "#000000"},
        },
        {
            "code": "events",
            "name": "事件",
            "source": "EVENTS",
            "fields": ["status", "reporter", "description"],
            "style": {"colour": "#000000"},
        },
        {
            "code": "communities",
            "name": "社区",
            "source": "COMMUNITY",
            "fields": ["name"],
            "style": {"colour": "#000000"},
        },
        {
            "code": "people",
            "name": "人口",
            "source": "PEOPLE",
            "aggregate": {"by": "HOUSE", "minCount": 3},
            "fields": ["address"],
            "style": {"colour": "#000000"},
        },
    ],
}


@pytest.fixture(scope="module", autouse=True)
async def _property_view(engine: AsyncEngine) -> AsyncIterator[None]:
    officer = changes.Officer("officer-grid-office", "grid_office")
    await changes.define(engine, PolicyStore(engine), officer, PROPERTY_VIEW, datetime.now(UTC))
    yield
    async with engine.begin() as connection:
        await connection.execute(delete(View).where(View.code == CODE))
        await connection.execute(delete(ViewVersion).where(ViewVersion.view_code == CODE))


FIELD_CHOICES = {
    "houses": ["*", "tier:1", "tier:2", "location", "address|location", "use|floors", "id"],
    "events": ["*", "tier:2", "tier:3", "location", "status|reporter|location", "description"],
    "grids": ["*", "tier:1", "geometry", "name|geometry", "code"],
    "people": ["*", "tier:1", "tier:2", "gridCode", "house", "name"],
    "*": ["*", "tier:1", "tier:2", "tier:3", "location", "name"],
}


def rules() -> st.SearchStrategy[tuple[tuple[Rule, ...], tuple[str, ...]]]:
    """A few rules over the layers' resources, and the areas ``own`` stands for."""

    def of(resource: str) -> st.SearchStrategy[Rule]:
        return st.builds(
            lambda fields, area, act: Rule.make("p", "*", resource, fields, area, act),
            st.sampled_from(FIELD_CHOICES[resource]),
            st.sampled_from([*CODES, "own", "*", *LINEAGE]),
            st.sampled_from([Act.READ, Act.READ, Act.MASK, Act.DENY]),
        )

    rule = st.sampled_from(sorted(FIELD_CHOICES)).flatmap(of)
    return st.tuples(
        st.lists(rule, min_size=1, max_size=5).map(tuple),
        st.lists(st.sampled_from(CODES), max_size=2, unique=True).map(tuple),
    )


class Oracle:
    """The rule language's meaning for one plan, without a purpose."""

    def __init__(self, given: tuple[Rule, ...], own: tuple[str, ...]) -> None:
        self.rules, self.own = given, own

    def _covering(self, resource: str, grid: str) -> list[Rule]:
        def covers(area: str) -> bool:
            areas = ("",) if area == "*" else self.own if area == "own" else (area,)
            return any(grid.startswith(a) for a in areas)

        return [r for r in self.rules if r.resource in (resource, "*") and covers(r.area)]

    def visible(self, resource: str, grid: str) -> bool:
        found = self._covering(resource, grid)
        if any(r.act is Act.DENY and r.fields == "*" for r in found):
            return False
        return any(r.act is not Act.DENY for r in found)

    def decision(self, type_name: str, field: str, grid: str) -> str:
        spec = FIELDS[type_name][field]
        found = [
            r
            for r in self._covering(RESOURCE_OF_TYPE[type_name], grid)
            if r.selector.covers(type_name, field)
        ]
        if any(r.act is Act.DENY for r in found):
            return "DENY"
        reads = any(r.act is Act.READ for r in found) and spec.tier < Tier.SENSITIVE
        if reads:
            return "ALLOW"
        return "MASK" if any(r.act is Act.MASK for r in found) else "DENY"

    def shown(self, type_name: str, field: str, grid: str) -> bool:
        decision = self.decision(type_name, field, grid)
        mask_none = FIELDS[type_name][field].mask is Mask.NONE
        return decision == "ALLOW" or (decision == "MASK" and mask_none)

    def properties(
        self, type_name: str, fields: list[str], row: dict[str, Any], grid: str
    ) -> dict[str, Any]:
        found = {}
        for field in fields:
            decision = self.decision(type_name, field, grid)
            if decision == "DENY":
                continue
            column = {"builtYear": "built_year"}.get(field, field)
            value = row[column]
            if decision == "MASK":
                value = mask(FIELDS[type_name][field].mask, value)
            if field in ("use", "status") and value is not None:
                value = value.upper()
            found[field] = value
        return found


def _expected(oracle: Oracle, bbox: list[float] | None) -> dict[str, dict[str, Any]]:
    """Per layer, feature id → properties: what the plan and the box let through."""
    whole = [-180.0, -90.0, 180.0, 90.0]
    cut = bbox or whole
    expected: dict[str, dict[str, Any]] = {"houses": {}, "events": {}, "communities": {}}
    for house in DISTRICT.houses:
        grid = house["grid_code"]
        if (
            oracle.visible("houses", grid)
            and oracle.shown("House", "location", grid)
            and in_box([house["lon"], house["lat"]], cut)
        ):
            fields = ["address", "use", "floors"]
            expected["houses"][to_global_id("House", house["code"])] = oracle.properties(
                "House", fields, house, grid
            )
    for event in DISTRICT.events:
        grid = event["grid_code"]
        if (
            oracle.visible("events", grid)
            and oracle.shown("Event", "location", grid)
            and in_box([event["lon"], event["lat"]], cut)
        ):
            fields = ["status", "reporter", "description"]
            expected["events"][to_global_id("Event", event["id"])] = oracle.properties(
                "Event", fields, event, grid
            )
    counts = Counter(
        p["house_code"]
        for p in DISTRICT.people
        if p["house_code"]
        and oracle.visible("people", p["grid_code"])
        and oracle.shown("Person", "house", p["grid_code"])
    )
    expected["people"] = {
        to_global_id("House", code): {
            **oracle.properties("House", ["address"], HOUSES[code], HOUSES[code]["grid_code"]),
            "count": n,
        }
        for code, n in counts.items()
        if n >= 3 and to_global_id("House", code) in _located(oracle, cut)
    }
    envelope = box(*cut)
    for code, area in GRIDS.items():
        meets = shape(orjson.loads(area["geometry"])).envelope.intersects(envelope)
        shown = oracle.visible("grids", code) and oracle.shown("Grid", "geometry", code) and meets
        if not shown:
            continue
        if area["level"] == "community":
            properties = oracle.properties("Grid", ["name"], area, code)
            expected["communities"][to_global_id("Grid", code)] = properties
    return expected


def _located(oracle: Oracle, cut: list[float]) -> set[str]:
    """The houses the plan may place on the map, in the box."""
    return {
        to_global_id("House", house["code"])
        for house in DISTRICT.houses
        if oracle.visible("houses", house["grid_code"])
        and oracle.shown("House", "location", house["grid_code"])
        and in_box([house["lon"], house["lat"]], cut)
    }


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(plan_rules=rules(), bbox=st.one_of(st.none(), boxes()))
async def test_any_plan_and_box_get_exactly_the_features_they_allow(
    gql: GraphQL, plan_rules: tuple[tuple[Rule, ...], tuple[str, ...]], bbox: list[float] | None
) -> None:
    given_rules, own = plan_rules
    plan = AccessPlan(Principal("p", "person", "grid_office", (), own), None, 0, (), given_rules)
    variables: dict[str, Any] = {"code": CODE}
    if bbox is not None:
        variables["bbox"] = bbox
    body = await gql(MAP, variables, plan=plan)
    expected = _expected(Oracle(given_rules, own), bbox)
    for code, layer in layers(body).items():
        found = {f["id"]: f["properties"] for f in layer["geojson"]["features"]}
        assert found == expected[code], code
