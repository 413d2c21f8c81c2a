"""Placing a reported point: the grid whose polygon holds it, and the house it is at.

Grids are stored as GeoJSON text with their bounding boxes (:class:`store.models.Grid`), so
both back ends cut the candidates by box in SQL and shapely decides which polygon covers the
point. On PostgreSQL with PostGIS installed, :func:`grid_by_postgis` answers in the database
instead; both take the lowest grid code when a point lies on a boundary two grids share, so
they always agree (a test holds them to it).

These reads are the hub's own work, not answers: the grid found is checked against the
reporter's area before anything is written (:mod:`events.owners`), and the house is shown back
only through the plan, as every event's house is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import orjson
import shapely
from shapely.geometry import shape
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from store import spatial
from store.errors import BadUserInput
from store.models import Grid, House

#: A house is the event's when it stands this close to the point (metres) and no code was given.
NEAREST_HOUSE_METRES = 50.0
_EARTH_METRES = 6_371_000.0


@dataclass(frozen=True, slots=True)
class Placement:
    grid_code: str
    house_code: str | None


def check_point(lon: float, lat: float) -> None:
    """Refuse coordinates that are no point on Earth (NaN, out of range)."""
    if not (math.isfinite(lon) and math.isfinite(lat)) or abs(lon) > 180 or abs(lat) > 90:
        raise BadUserInput(
            "`location` needs lon in [-180, 180] and lat in [-90, 90]", field="location"
        )


async def grid_by_shapely(connection: AsyncConnection, lon: float, lat: float) -> str | None:
    """The lowest code of the grids (level ``grid``) whose polygon covers the point."""
    t = Grid.__table__
    rows = await connection.execute(
        select(t.c.code, t.c.geometry)
        .where(
            t.c.level == "grid",
            t.c.min_lon <= lon,
            t.c.max_lon >= lon,
            t.c.min_lat <= lat,
            t.c.max_lat >= lat,
        )
        .order_by(t.c.code)
    )
    point = shapely.Point(lon, lat)
    for code, geometry in rows:
        if _polygon(geometry).covers(point):
            return str(code)
    return None


_POLYGONS: dict[str, shapely.geometry.base.BaseGeometry] = {}


def _polygon(geometry: str) -> shapely.geometry.base.BaseGeometry:
    """The grid's polygon, parsed once per process (keyed by its text: a changed shape is a new
    key; the district has a few thousand grids)."""
    found = _POLYGONS.get(geometry)
    if found is None:
        found = shape(orjson.loads(geometry))
        shapely.prepare(found)
        if len(_POLYGONS) > 20_000:
            _POLYGONS.clear()
        _POLYGONS[geometry] = found
    return found


async def postgis_installed(connection: AsyncConnection) -> bool:
    """Whether the database has PostGIS and the grids' indexed geometry (migration ``0024``
    adds it where the server offers PostGIS; see :mod:`store.spatial`)."""
    if connection.dialect.name != "postgresql":
        return False
    found = await connection.scalar(
        text(
            "SELECT 1 FROM pg_extension, information_schema.columns"
            " WHERE extname = 'postgis' AND table_schema = current_schema()"
            " AND table_name = 'grids' AND column_name = :column"
        ),
        {"column": spatial.GEOMETRY_COLUMN},
    )
    return found is not None


#: One indexed look-up: the GiST index over the grids' geometry (level ``grid``) finds the
#: polygons whose box holds the point, ``ST_Covers`` decides (a point on an edge is covered, as
#: shapely's ``covers`` has it: ``ST_Contains`` would leave a point on the district's own
#: boundary in no grid), and the lowest code wins where two grids share the edge.
_BY_POSTGIS = text(
    f"SELECT code FROM grids WHERE level = 'grid' AND ST_Covers({spatial.GEOMETRY_COLUMN},"
    " ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)) ORDER BY code LIMIT 1"
)


async def grid_by_postgis(connection: AsyncConnection, lon: float, lat: float) -> str | None:
    """As :func:`grid_by_shapely`, in PostGIS (only where :func:`postgis_installed`)."""
    found = await connection.scalar(_BY_POSTGIS, {"lon": lon, "lat": lat})
    return None if found is None else str(found)


#: The grid (as :data:`_BY_POSTGIS`) and, in the same round trip, the grid's house nearest the
#: point, ordered as :func:`place_house` orders them.
_WITH_HOUSE = text(
    "SELECT g.code, h.code AS house, h.lon, h.lat FROM ("
    f"SELECT code FROM grids WHERE level = 'grid' AND ST_Covers({spatial.GEOMETRY_COLUMN},"
    " ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)) ORDER BY code LIMIT 1) AS g"
    " LEFT JOIN LATERAL (SELECT code, lon, lat FROM houses WHERE grid_code = g.code"
    " ORDER BY (lon - :lon) * (lon - :lon) * :scale + (lat - :lat) * (lat - :lat), code"
    " LIMIT 1) AS h ON true"
)


async def place_postgis(
    connection: AsyncConnection, lon: float, lat: float
) -> tuple[str | None, str | None]:
    """The grid and the nearest house (as :func:`place_house` finds it with no code given), in
    one statement: PostGIS only."""
    check_point(lon, lat)
    scale = math.cos(math.radians(lat)) ** 2
    row = (await connection.execute(_WITH_HOUSE, {"lon": lon, "lat": lat, "scale": scale})).first()
    if row is None:
        return None, None
    if row.house is None or metres_between(lon, lat, row.lon, row.lat) > NEAREST_HOUSE_METRES:
        return str(row.code), None
    return str(row.code), str(row.house)


async def place_grid(
    connection: AsyncConnection, lon: float, lat: float, postgis: bool = False
) -> str | None:
    """The grid of the point (None: outside the district)."""
    check_point(lon, lat)
    if postgis:
        return await grid_by_postgis(connection, lon, lat)
    return await grid_by_shapely(connection, lon, lat)


def metres_between(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance (haversine): exact enough at a street's scale."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * _EARTH_METRES * math.asin(math.sqrt(a))


async def place_house(
    connection: AsyncConnection, grid_code: str, lon: float, lat: float, house_code: str | None
) -> str | None:
    """The event's house: the one named (it must stand in the point's grid), else the nearest
    house of the grid within :data:`NEAREST_HOUSE_METRES`, else none (a street matter)."""
    t = House.__table__
    if house_code is not None:
        grid = await connection.scalar(select(t.c.grid_code).where(t.c.code == house_code))
        if grid != grid_code:
            # The same refusal for a code that does not exist: no oracle for codes.
            raise BadUserInput(
                f"No house {house_code!r} in grid {grid_code}, where the point lies",
                field="houseCode",
            )
        return house_code
    scale = math.cos(math.radians(lat)) ** 2
    distance = (t.c.lon - lon) * (t.c.lon - lon) * scale + (t.c.lat - lat) * (t.c.lat - lat)
    row = (
        await connection.execute(
            select(t.c.code, t.c.lon, t.c.lat)
            .where(t.c.grid_code == grid_code)
            .order_by(distance, t.c.code)
            .limit(1)
        )
    ).first()
    if row is None or metres_between(lon, lat, row.lon, row.lat) > NEAREST_HOUSE_METRES:
        return None
    return str(row.code)


_POSTGIS: dict[str, bool] = {}


async def uses_postgis(connection: AsyncConnection) -> bool:
    """Whether to place with PostGIS on this database (asked once per process and database)."""
    key = connection.engine.url.render_as_string(hide_password=True)
    found = _POSTGIS.get(key)
    if found is None:
        found = _POSTGIS[key] = await postgis_installed(connection)
    return found
