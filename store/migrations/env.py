"""Alembic environment: runs migrations through the hub's async engine on either back end."""

from __future__ import annotations

import asyncio
import os
from types import SimpleNamespace

from alembic import context
from sqlalchemy.engine import Connection

from store.audit_partitions import compared_with_models
from store.engine import DEFAULT_DATABASE_URL, create_engine, normalise_database_url
from store.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_object=compared_with_models(connection.dialect.name),
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async(url: str) -> None:
    engine = create_engine(
        SimpleNamespace(
            database_url=url, database_connect_timeout=10.0, database_statement_timeout=600.0
        )
    )
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_run)
    finally:
        await engine.dispose()


def run_migrations_online() -> None:
    # Run by `alembic` itself, without the hub: the URL from alembic.ini or the environment.
    url = config.get_main_option("sqlalchemy.url") or os.environ.get(
        "GRIDHUB_DATABASE_URL", DEFAULT_DATABASE_URL
    )
    url = normalise_database_url(url)
    asyncio.run(_run_async(url))


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
