"""wider policy lines; the grids' polygons as a PostGIS geometry where PostGIS is offered

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-03

A grant's rule names every granted field and the lists it opens, ``|``-joined, in one policy
line value; a grant of a whole event resource already takes 239 characters of the 255 the
columns held, and a type that gains a field would overflow it on PostgreSQL (SQLite enforces
no length). The six values become ``String(2000)``.

On PostgreSQL, where the server offers PostGIS, the extension is enabled (in a savepoint: a
role that may not create it leaves the database as it was) and ``grids`` gains its generated,
GiST-indexed geometry (:mod:`store.spatial`). Without PostGIS nothing changes and events are
placed with shapely.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.exc import DBAPIError

from store import spatial

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

VALUES = ("v0", "v1", "v2", "v3", "v4", "v5")
WIDE = 2000
NARROW = 255


def upgrade() -> None:
    with op.batch_alter_table("casbin_rule") as batch:
        for name in VALUES:
            batch.alter_column(
                name, existing_type=sa.String(length=NARROW), type_=sa.String(length=WIDE)
            )
    connection = op.get_bind()
    if connection.dialect.name != "postgresql":
        return
    if not spatial.installed(connection):
        if not spatial.available(connection):
            return
        try:
            with connection.begin_nested():
                connection.execute(sa.text("CREATE EXTENSION IF NOT EXISTS postgis"))
        except DBAPIError:
            return
    spatial.add_geometry(connection)


def downgrade() -> None:
    connection = op.get_bind()
    if connection.dialect.name == "postgresql":
        spatial.drop_geometry(connection)
    with op.batch_alter_table("casbin_rule") as batch:
        for name in VALUES:
            batch.alter_column(
                name, existing_type=sa.String(length=WIDE), type_=sa.String(length=NARROW)
            )
