"""The migrations build exactly the tables the models declare, on the back end under test
(the audit log's monthly partitions on PostgreSQL aside: see store.audit_partitions)."""

from __future__ import annotations

import warnings
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.exc import SAWarning
from sqlalchemy.ext.asyncio import AsyncEngine

from store.audit_partitions import compared_with_models
from store.models import Base


async def test_models_and_migrations_agree(engine: AsyncEngine) -> None:
    def diff(connection: Any) -> list[Any]:
        include = compared_with_models(connection.dialect.name)
        context = MigrationContext.configure(connection, opts={"include_object": include})
        with warnings.catch_warnings():
            # PostGIS's geometry (store.spatial) is no type SQLAlchemy knows; it is left out.
            warnings.filterwarnings("ignore", "Did not recognize type 'geometry'", SAWarning)
            return compare_metadata(context, Base.metadata)

    async with engine.connect() as connection:
        assert await connection.run_sync(diff) == []
