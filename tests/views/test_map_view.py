"""``mapView`` shows no more than the viewer's plan: rows cut in SQL to their areas and grants,
fields as their plan decides them, small counts left out, and a view that filters on what the
viewer may not filter on refused whole."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import pytest
import shapely
from shapely.geometry import box, shape
from sqlalchemy.ext.asyncio import AsyncEngine

from auth.principal import Identity
from demo import District
from hub.execution import Executor
from hub.settings import Settings
from policies.access import Access
from policies.field_rules import NOTHING
from policies.masking import name as masked_name
from policies.plan import AccessPlan
from policies.principal import Principal
from policies.rules import Act, Rule
from resolvers.context import RequestContext
from resolvers.filters import FINISHED_STATUSES
from resolvers.ids import from_global_id, to_global_id
from tests.conftest import GraphQL
from tests.support import data_of, error_codes, nodes
from tests.views.helpers import (
    DEFINE,
    MAP,
    PATROL,
    STREET,
    WORKER_1,
    WORKER_2,
    area_shape,
    covers,
    features,
    house_layer,
    layers,
    open_map,
    view_input,
)

GRID_1 = "440306001001001"
GRID_2 = "440306001001002"
#: Each demo view and principals that open it (with the purpose they declare), and whether
#: the small test district holds something for them to see.
OPENERS = [
    (PATROL, WORKER_1, None, True),
    (PATROL, STREET, None, True),
    (PATROL, "community-440306001001", None, True),
    ("housing-public-rental", "housing-app", None, True),
    ("emergency-hazards", "emergency-app", None, False),
    # The open visits dispatched to civil affairs (the small district has one); its counts per
    # grid are all under the threshold there.
    ("civil-affairs-elderly", "civil-affairs-app", "elderly_care", True),
    ("public-security-floating", "public-security-app", None, True),
]


def ids(found: list[dict[str, Any]]) -> set[str]:
    return {feature["id"] for feature in found}


def open_events(district: District, grid: str) -> set[str]:
    return {
        to_global_id("Event", e["id"])
        for e in district.events
        if e["grid_code"] == grid and e["status"] not in FINISHED_STATUSES
    }


def residents_per_house(district: District, grid: str) -> Counter[str]:
    houses = {h["code"] for h in district.houses if h["grid_code"] == grid}
    return Counter(p["house_code"] for p in district.people if p["house_code"] in houses)


async def test_two_workers_of_one_department_see_their_own_grids_features(
    gql: GraphQL, district: District
) -> None:
    seen = {}
    for worker, grid in ((WORKER_1, GRID_1), (WORKER_2, GRID_2)):
        body = await open_map(gql, PATROL, worker)
        area = area_shape(district, grid)
        houses = features(body, "houses")
        assert ids(houses) == {
            to_global_id("House", h["code"]) for h in district.houses if h["grid_code"] == grid
        }
        assert ids(features(body, "open-events")) == open_events(district, grid)
        for layer in ("houses", "open-events", "residents"):
            assert all(covers(area, f["geometry"]) for f in features(body, layer)), layer
        seen[worker] = body
    for layer in ("houses", "open-events", "residents"):
        one, two = (ids(features(seen[w], layer)) for w in (WORKER_1, WORKER_2))
        assert one | two, layer
        assert not one & two, layer
    assert all(ids(features(seen[w], "houses")) for w in (WORKER_1, WORKER_2))
    extent = data_of(seen[WORKER_1])["mapView"]["extent"]
    assert extent == pytest.approx(list(area_shape(district, GRID_1).bounds))


@pytest.mark.parametrize(("code", "subject", "purpose", "something"), OPENERS)
async def test_every_layer_is_a_valid_feature_collection(
    gql: GraphQL, code: str, subject: str, purpose: str | None, something: bool
) -> None:
    body = await open_map(gql, code, subject, purpose)
    view = data_of(body)["mapView"]
    assert len(view["extent"]) == 4
    drawn = 0
    for layer in view["layers"]:
        collection = layer["geojson"]
        assert collection["type"] == "FeatureCollection"
        assert layer["featureCount"] == len(collection["features"])
        assert layer["truncated"] is False
        shown = set(layer["fields"]) | ({"count"} if layer["source"] == "PEOPLE" else set())
        feature_ids = [f["id"] for f in collection["features"]]
        assert len(set(feature_ids)) == len(feature_ids)
        for feature in collection["features"]:
            assert feature["type"] == "Feature"
            assert isinstance(feature["id"], str)
            geometry = shape(feature["geometry"])
            assert geometry.is_valid
            assert not geometry.is_empty
            assert feature["geometry"]["type"] in ("Point", "Polygon")
            lon_min, lat_min, lon_max, lat_max = geometry.bounds
            assert -180 <= lon_min <= lon_max <= 180
            assert -90 <= lat_min <= lat_max <= 90
            assert all(math.isfinite(v) for v in geometry.bounds)
            assert set(feature["properties"]) <= shown
        drawn += len(collection["features"])
    assert bool(drawn) is something, f"{subject} sees {drawn} features of {code}"


async def test_a_count_under_the_threshold_is_left_out(gql: GraphQL, district: District) -> None:
    counts = residents_per_house(district, GRID_1)
    body = await open_map(gql, PATROL, WORKER_1)
    shown = {f["id"]: f["properties"]["count"] for f in features(body, "residents")}
    assert shown == {to_global_id("House", house): n for house, n in counts.items() if n >= 5}, (
        "every count of five or more, and no other"
    )
    assert any(0 < n < 5 for n in counts.values()), "the district has small counts to hide"
    # A view of the grid office counting from three shows more houses, and none below three.
    layer = house_layer(
        code="residents", source="PEOPLE", fields=[], aggregate={"by": "HOUSE", "minCount": 3}
    )
    define = await gql(DEFINE, {"input": view_input(layers=[layer])}, as_="officer-grid-office")
    code = data_of(define)["defineView"]["view"]["code"]
    three = {
        f["id"]: f["properties"]["count"]
        for f in features(await open_map(gql, code, WORKER_1), "residents")
    }
    assert three == {to_global_id("House", house): n for house, n in counts.items() if n >= 3}
    assert len(three) > len(shown)


async def test_a_count_per_grid_counts_only_what_the_filter_keeps(
    gql: GraphQL, district: District
) -> None:
    body = await open_map(gql, "public-security-floating", "public-security-app")
    floating = Counter(p["grid_code"] for p in district.people if p["registration"] == "floating")
    assert {f["id"]: f["properties"]["count"] for f in features(body, "floating")} == {
        to_global_id("Grid", grid): n for grid, n in floating.items() if n >= 5
    }


REFUSED = [
    # A grid worker sees care tags masked: counting by one would tell who has it.
    ("civil-affairs-elderly", WORKER_1, None, "PURPOSE_REQUIRED"),
    ("civil-affairs-elderly", WORKER_1, "elderly_care", "FORBIDDEN"),
    ("civil-affairs-elderly", "housing-app", "elderly_care", "FORBIDDEN"),
    ("civil-affairs-elderly", "civil-affairs-app", None, "PURPOSE_REQUIRED"),
    # The officer who defined it holds no shared data.
    ("housing-public-rental", "officer-housing", None, "FORBIDDEN"),
    ("emergency-hazards", "auditor-01", None, "FORBIDDEN"),
]


@pytest.mark.parametrize(("code", "subject", "purpose", "expected"), REFUSED)
async def test_a_view_filtering_on_what_the_viewer_may_not_filter_on_is_refused(
    gql: GraphQL, code: str, subject: str, purpose: str | None, expected: str
) -> None:
    body = await open_map(gql, code, subject, purpose)
    assert error_codes(body) == [expected]
    assert body["data"] == {"mapView": None}


async def test_denied_fields_are_left_out_and_masked_ones_masked_as_the_api_masks_them(
    gql: GraphQL, district: District
) -> None:
    """A plan made by hand: houses' addresses read, their use masked (no masked form: null),
    their floors not granted; events' status read, reporters masked, categories not granted."""
    rules = (
        Rule.make("p", "*", "houses", "id|code|address|location|gridCode", GRID_1),
        Rule.make("p", "*", "houses", "use", GRID_1, Act.MASK),
        Rule.make("p", "*", "events", "id|location|status|gridCode", GRID_1),
        Rule.make("p", "*", "events", "reporter", GRID_1, Act.MASK),
        Rule.make("p", "*", "people", "house|gridCode", GRID_1),
    )
    plan = AccessPlan(Principal("p", "person", "grid_office", (), ()), None, 0, (), rules)
    body = await gql(MAP, {"code": PATROL}, plan=plan)
    houses = features(body, "houses")
    assert houses
    for feature in houses:
        assert feature["properties"]["use"] is None
        assert "floors" not in feature["properties"]
        assert feature["properties"]["address"]
    reporters = {e["id"]: e["reporter"] for e in district.events}
    events = features(body, "open-events")
    assert events
    api = await gql(
        """{ events(first: 500, filter: {open: true}) { edges { node { id reporter } } } }""",
        plan=plan,
    )
    from_api = {node["id"]: node["reporter"] for node in nodes(data_of(api)["events"])}
    for feature in events:
        properties = feature["properties"]
        assert set(properties) == {"status", "reporter"}
        key = int(from_global_id(feature["id"], "Event")[1])
        assert properties["reporter"] == masked_name(reporters[key]) != reporters[key]
        assert properties["reporter"] == from_api[feature["id"]]


async def test_rows_whose_location_is_not_shown_are_not_drawn(
    gql: GraphQL, district: District
) -> None:
    """Events are read in a whole street, their location only in one grid (and masked, which
    for a location shows nothing, in another): only that grid's events are drawn."""
    rules = (
        Rule.make("p", "*", "events", "id|status|gridCode", "440306001"),
        Rule.make("p", "*", "events", "location", GRID_1),
        Rule.make("p", "*", "events", "location", "440306001002", Act.MASK),
    )
    plan = AccessPlan(Principal("p", "person", "grid_office", (), ()), None, 0, (), rules)
    events = features(await gql(MAP, {"code": PATROL}, plan=plan), "open-events")
    assert ids(events) == open_events(district, GRID_1)
    api = await gql(
        "{ events(first: 500, filter: {open: true}) { edges { node { id gridCode } } } }",
        plan=plan,
    )
    listed = nodes(data_of(api)["events"])
    assert {n["gridCode"][:12] for n in listed} == {"440306001001", "440306001002"}
    assert ids(events) < {n["id"] for n in listed}


async def test_an_area_code_and_a_box_cut_the_layers(gql: GraphQL, district: District) -> None:
    street = await open_map(gql, PATROL, STREET, areaCode=GRID_1)
    worker = await open_map(gql, PATROL, WORKER_1)
    for layer in ("houses", "open-events", "residents"):
        assert ids(features(street, layer)) == ids(features(worker, layer)), layer
    area = area_shape(district, GRID_1)
    grids = features(street, "grids")
    assert {f["properties"]["code"] for f in grids} == {GRID_1}
    # A box over the western half of the grid: only what lies in it.
    min_lon, min_lat, max_lon, max_lat = area.bounds
    half = [min_lon, min_lat, (min_lon + max_lon) / 2, max_lat]
    cut = await open_map(gql, PATROL, WORKER_1, bbox=half)
    houses = features(cut, "houses")
    expected = {
        to_global_id("House", h["code"])
        for h in district.houses
        if h["grid_code"] == GRID_1 and h["lon"] <= half[2]
    }
    assert ids(houses) == expected
    assert 0 < len(expected) < len(features(worker, "houses"))
    for feature in features(cut, "grids"):
        assert shape(feature["geometry"]).envelope.intersects(box(*half))
    # An area outside the viewer's: nothing of theirs, the public areas that overlap it.
    elsewhere = await open_map(gql, PATROL, WORKER_1, areaCode=GRID_2)
    assert not features(elsewhere, "houses")
    assert not features(elsewhere, "residents")
    assert {f["properties"]["code"] for f in features(elsewhere, "grids")} == {GRID_2}


@pytest.mark.parametrize(
    "cut",
    [
        {"bbox": [113.8, 22.6, 113.9]},
        {"bbox": [113.9, 22.6, 113.8, 22.7]},
        {"bbox": [113.8, 22.6, 113.9, 91.0]},
        {"bbox": [-181.0, 22.6, 113.9, 22.7]},
        {"areaCode": "4403"},
        {"areaCode": "44030600100100%"},
    ],
)
async def test_a_cut_that_can_not_be_used_is_refused(gql: GraphQL, cut: dict[str, Any]) -> None:
    body = await open_map(gql, PATROL, WORKER_1, **cut)
    assert error_codes(body) == ["BAD_USER_INPUT"]


async def test_a_view_that_does_not_exist_is_null_and_no_principal_sees_nothing(
    gql: GraphQL,
) -> None:
    assert data_of(await open_map(gql, "no-such-view", WORKER_1)) == {"mapView": None}
    assert error_codes(await gql(MAP, {"code": PATROL})) == ["FORBIDDEN"]


async def test_a_layer_beyond_the_bound_is_truncated(
    settings: Settings, engine: AsyncEngine, executor: Executor, access: Access
) -> None:
    bounded = settings.model_copy(update={"view_max_features": 10})
    context = RequestContext.build(bounded, engine, NOTHING)
    try:
        context.identity = Identity(STREET, "person", None, settings.issuer, None)
        context.plan = await access.plan_for(context.identity, None, await context.connection())
        body = await executor.run(executor.prepare(MAP), {"code": PATROL}, None, context)
    finally:
        await context.close()
    houses = layers(body)["houses"]
    assert houses["truncated"] is True
    assert houses["featureCount"] == len(houses["geojson"]["features"]) == 10
    assert layers(body)["grids"]["truncated"] is False  # 8 grids: within the bound


async def test_the_features_are_the_rows_the_api_lists(gql: GraphQL) -> None:
    """The same viewer's houses through ``houses`` and through the view: one set."""
    body = await open_map(gql, PATROL, STREET)
    api = await gql("{ houses(first: 500) { totalCount edges { node { id } } } }", as_=STREET)
    listed = data_of(api)["houses"]
    assert ids(features(body, "houses")) == {n["id"] for n in nodes(listed)}
    assert len(features(body, "houses")) == listed["totalCount"]
    assert shapely.union_all([shape(f["geometry"]) for f in features(body, "grids")]).is_valid
