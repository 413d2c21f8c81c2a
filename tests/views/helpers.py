"""Helpers the view tests share: opening a map as someone, defining test views, areas."""

from __future__ import annotations

from typing import Any

import orjson
import shapely
from shapely.geometry import shape
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine

from demo import District
from store.models import View, ViewVersion
from tests.conftest import GraphQL

#: Test views' codes start with this; they are removed after each test.
PREFIX = "test-"
PATROL = "grid-office-patrol"
WORKER_1 = "worker-440306001001001"
WORKER_2 = "worker-440306001001002"
STREET = "street-440306001"

MAP = """query Map($code: String!, $bbox: [Float!], $areaCode: String) {
  mapView(code: $code, bbox: $bbox, areaCode: $areaCode) {
    code name department description version extent purpose
    layers { code name source fields style { colour size labelField }
      featureCount truncated geojson } } }"""

DEFINE = """mutation Define($input: DefineViewInput!) { defineView(input: $input) {
  changed view { code name department description purpose version createdBy updatedBy
    layers { code name source filter fields aggregate { by minCount }
      style { colour size labelField } }
    versions { version change changedBy definition } } } }"""


async def open_map(
    gql: GraphQL, code: str, as_: str, purpose: str | None = None, **variables: Any
) -> dict[str, Any]:
    """The response body of ``mapView(code)`` as ``as_``."""
    return await gql(MAP, {"code": code, **variables}, as_=as_, purpose=purpose)


def layers(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The map's layers by code (the body must have no errors)."""
    assert "errors" not in body, body["errors"]
    return {layer["code"]: layer for layer in body["data"]["mapView"]["layers"]}


def features(body: dict[str, Any], layer: str) -> list[dict[str, Any]]:
    return list(layers(body)[layer]["geojson"]["features"])


def area_shape(district: District, code: str) -> Any:
    """The polygon of an area of the district."""
    row = next(g for g in district.grids if g["code"] == code)
    return shape(orjson.loads(row["geometry"]))


def covers(area: Any, geometry: dict[str, Any]) -> bool:
    """Whether a feature's geometry lies in ``area`` (points on its edge count)."""
    return bool(shapely.covers(area.buffer(1e-9), shape(geometry)))


def house_layer(code: str = "houses", **changes: Any) -> dict[str, Any]:
    return {
        "code": code,
        "name": "房屋",
        "source": "HOUSES",
        "fields": ["address", "use"],
        "style": {"colour": "#1E88E5"},
        **changes,
    }


def view_input(code: str = f"{PREFIX}houses", **changes: Any) -> dict[str, Any]:
    return {"code": code, "name": "测试视图", "layers": [house_layer()], **changes}


async def forget_test_views(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(delete(View).where(View.code.startswith(PREFIX)))
        await connection.execute(
            delete(ViewVersion).where(ViewVersion.view_code.startswith(PREFIX))
        )
