"""PostGIS and shapely place every point in the same grid (PostgreSQL with PostGIS only).

Points are drawn inside grids, on their edges and corners (a vertex, a point along an edge,
shared by two grids or on the district's rim), and outside the district; for each, the indexed
``ST_Covers`` of :func:`events.placement.grid_by_postgis` and the shapely path must name the
same grid, or both none, and the report path's one statement (grid and nearest house,
:func:`events.placement.place_postgis`) must agree with both steps taken apart. On SQLite,
or where PostGIS is not installed, the test is skipped.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import shape
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from demo import District
from events import placement
from store.models import Grid

pytestmark = pytest.mark.usefixtures("postgis")


@pytest.fixture(scope="module")
async def postgis(backend: str, engine: AsyncEngine) -> None:
    if backend != "postgresql":
        pytest.skip("PostGIS is PostgreSQL's")
    async with engine.connect() as connection:
        if not await placement.postgis_installed(connection):
            pytest.skip("PostGIS is not installed on this server")


def _rings(district: District) -> list[tuple[str, list[tuple[float, float]]]]:
    found = []
    for grid in district.grids:
        if grid["level"] != "grid":
            continue
        polygon = shape(orjson.loads(grid["geometry"]))
        for part in getattr(polygon, "geoms", [polygon]):
            found.append((grid["code"], list(part.exterior.coords)))
    return found


@st.composite
def points(draw: Any, rings: list[tuple[str, list[tuple[float, float]]]]) -> tuple[float, float]:
    """A point inside a grid, on one of its edges or vertices, or anywhere near the district."""
    _, ring = draw(st.sampled_from(rings))
    kind = draw(st.sampled_from(("vertex", "edge", "inside", "near")))
    i = draw(st.integers(0, len(ring) - 2))
    (x1, y1), (x2, y2) = ring[i], ring[i + 1]
    if kind == "vertex":
        return x1, y1
    t = draw(st.floats(0, 1))
    if kind == "edge":
        return x1 + t * (x2 - x1), y1 + t * (y2 - y1)
    cx = sum(x for x, _ in ring[:-1]) / (len(ring) - 1)
    cy = sum(y for _, y in ring[:-1]) / (len(ring) - 1)
    if kind == "inside":
        return cx + t * (x1 - cx), cy + t * (y1 - cy)
    dx = draw(st.floats(-0.05, 0.05))
    dy = draw(st.floats(-0.05, 0.05))
    return x1 + dx, y1 + dy


async def test_postgis_and_shapely_name_the_same_grid(
    engine: AsyncEngine, district: District
) -> None:
    rings = _rings(district)
    seen: dict[str, int] = {"in a grid": 0, "outside": 0}

    @settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
    @given(point=points(rings))
    def check(point: tuple[float, float]) -> None:
        lon, lat = point
        answers.append((lon, lat))

    answers: list[tuple[float, float]] = []
    check()
    async with engine.connect() as connection:
        for lon, lat in answers:
            by_postgis = await placement.grid_by_postgis(connection, lon, lat)
            by_shapely = await placement.grid_by_shapely(connection, lon, lat)
            assert by_postgis == by_shapely, (lon, lat)
            # The report path's single statement: the same grid, and the same nearest house.
            house = None
            if by_shapely is not None:
                house = await placement.place_house(connection, by_shapely, lon, lat, None)
            assert await placement.place_postgis(connection, lon, lat) == (by_shapely, house)
            seen["outside" if by_shapely is None else "in a grid"] += 1
    assert seen["in a grid"] > 100, seen
    assert seen["outside"] > 5, seen


async def test_a_report_is_placed_by_postgis_here(engine: AsyncEngine) -> None:
    """Where PostGIS is installed the report path uses it (and the geometry follows the text)."""
    async with engine.connect() as connection:
        assert await placement.uses_postgis(connection)
        code, geometry = (
            await connection.execute(
                select(Grid.code, Grid.geometry).where(Grid.level == "grid").limit(1)
            )
        ).one()
        centre = shape(orjson.loads(geometry)).representative_point()
        assert await placement.grid_by_postgis(connection, centre.x, centre.y) == code
