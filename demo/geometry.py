"""Area polygons: a convex district split into streets, communities and grids by Voronoi cells.

Every parent is convex and every Voronoi cell is convex, so each child (cell ∩ parent) is a convex
polygon again, and the children of one parent cover it without gap or overlap (全覆盖、无交叉).
Coordinates are never rounded, so neighbours keep their shared edges exactly as GEOS computed them.
"""

from __future__ import annotations

import json
import random
from typing import Any

import shapely
from shapely.geometry import MultiPoint, Polygon, mapping
from shapely.geometry.polygon import orient

#: A convex outline roughly over Bao'an, WGS 84 longitude/latitude, counter-clockwise.
DISTRICT_OUTLINE = Polygon(
    [
        (113.800, 22.550),
        (113.900, 22.560),
        (113.950, 22.660),
        (113.935, 22.775),
        (113.860, 22.800),
        (113.765, 22.800),
        (113.740, 22.720),
    ]
)

#: Seeds are resampled while any cell is smaller than this share of the average cell.
MIN_CELL_SHARE = 0.3
#: Lloyd relaxation steps (move each seed to its cell's centroid): evens out the cell sizes.
RELAX_STEPS = 2
MAX_ATTEMPTS = 100


def random_point_in(polygon: Polygon, rng: random.Random) -> tuple[float, float]:
    """A uniform random point strictly inside ``polygon``, rounded to 1e-6° (about 0.1 m)."""
    min_x, min_y, max_x, max_y = polygon.bounds
    for _ in range(10_000):
        x = round(rng.uniform(min_x, max_x), 6)
        y = round(rng.uniform(min_y, max_y), 6)
        if shapely.contains_xy(polygon, x, y):
            return x, y
    raise ValueError("polygon too thin to sample a point from")


def split(parent: Polygon, count: int, rng: random.Random) -> list[Polygon]:
    """Cut a convex ``parent`` into ``count`` convex polygons that tile it, none of them tiny."""
    if count == 1:
        return [parent]
    least = MIN_CELL_SHARE * parent.area / count
    for _ in range(MAX_ATTEMPTS):
        seeds = [random_point_in(parent, rng) for _ in range(count)]
        cells = _cells(parent, seeds)
        for _ in range(RELAX_STEPS):
            if cells is None:
                break
            seeds = [(cell.centroid.x, cell.centroid.y) for cell in cells]
            cells = _cells(parent, seeds)
        if cells is not None and min(cell.area for cell in cells) >= least:
            return cells
    raise RuntimeError(f"could not split a polygon into {count} even cells")


def _cells(parent: Polygon, seeds: list[tuple[float, float]]) -> list[Polygon] | None:
    """The Voronoi cells of ``seeds`` clipped to ``parent``, in seed order; None if degenerate."""
    regions = shapely.voronoi_polygons(MultiPoint(seeds), extend_to=parent, ordered=True)
    cells = []
    for region in regions.geoms:
        cell = region.intersection(parent)
        if not isinstance(cell, Polygon) or cell.is_empty:
            return None
        cells.append(orient(cell, 1.0))
    return cells if len(cells) == len(seeds) else None


def to_geojson(polygon: Polygon) -> str:
    """GeoJSON text of a polygon, with JSON arrays (lists) where shapely gives tuples."""
    return json.dumps(_lists(mapping(polygon)))


def _lists(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _lists(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_lists(item) for item in value]
    return value
