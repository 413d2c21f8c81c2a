"""PostGIS, where the PostgreSQL server offers it: the grids' polygons as an indexed geometry.

The hub keeps each grid's polygon as GeoJSON text (``grids.geometry``), which both back ends
hold. Where PostGIS is installed, migration ``0024`` enables the extension and adds
``grids.geom``, a stored geometry generated from that text (so it can never disagree with it),
under a GiST index over the grids of level ``grid``; placing a reported point is then one
indexed ``ST_Covers`` in the database (:mod:`events.placement`). Without PostGIS nothing of
this exists and placement runs in shapely. The models do not declare these objects (SQLite has
none of them), so comparing the database with the models leaves them out
(:func:`store.audit_partitions.compared_with_models`).
"""

from __future__ import annotations

from sqlalchemy import Connection, text

#: The generated geometry column of ``grids`` and its index.
GEOMETRY_COLUMN = "geom"
GEOMETRY_INDEX = "ix_grids_geom_grid"
#: Tables and views the extension itself creates in the database's schema.
EXTENSION_OBJECTS = frozenset({"spatial_ref_sys", "geography_columns", "geometry_columns"})


def available(connection: Connection) -> bool:
    """Whether the server has PostGIS to install (its package is on the machine)."""
    found = connection.execute(
        text("SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'")
    ).first()
    return found is not None


def installed(connection: Connection) -> bool:
    """Whether the database has the extension."""
    found = connection.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'postgis'")).first()
    return found is not None


def add_geometry(connection: Connection) -> None:
    """The generated ``grids.geom`` and its GiST index (PostGIS installed)."""
    connection.execute(
        text(
            f"ALTER TABLE grids ADD COLUMN IF NOT EXISTS {GEOMETRY_COLUMN} geometry(Geometry, 4326)"
            " GENERATED ALWAYS AS (ST_SetSRID(ST_GeomFromGeoJSON(geometry), 4326)) STORED"
        )
    )
    connection.execute(
        text(
            f"CREATE INDEX IF NOT EXISTS {GEOMETRY_INDEX} ON grids USING gist ({GEOMETRY_COLUMN})"
            " WHERE level = 'grid'"
        )
    )


def drop_geometry(connection: Connection) -> None:
    connection.execute(text(f"DROP INDEX IF EXISTS {GEOMETRY_INDEX}"))
    connection.execute(text(f"ALTER TABLE grids DROP COLUMN IF EXISTS {GEOMETRY_COLUMN}"))
