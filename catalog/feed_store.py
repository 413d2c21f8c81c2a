"""Feed declarations in the database (``feeds``): read them back, save a new one.

Nothing here commits: ``gridhub catalog sync`` writes the feeds in the transaction that writes
the resources they fill.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from catalog.feed_files import FeedDefinition
from store.models import FeedDeclaration

FEEDS = FeedDeclaration.__table__


async def declarations(connection: AsyncConnection) -> dict[str, FeedDefinition]:
    """Every stored feed, by code."""
    rows = await connection.execute(select(FEEDS.c.definition, FEEDS.c.source))
    return {
        row.definition["code"]: FeedDefinition.from_json(row.definition, row.source) for row in rows
    }


async def get(connection: AsyncConnection, code: str) -> FeedDefinition | None:
    row = (
        await connection.execute(
            select(FEEDS.c.definition, FEEDS.c.source).where(FEEDS.c.code == code)
        )
    ).first()
    return None if row is None else FeedDefinition.from_json(row.definition, row.source)


async def save(connection: AsyncConnection, feed: FeedDefinition, *, by: str, at: datetime) -> None:
    """Store ``feed`` as its code's declaration (replacing the one before)."""
    await connection.execute(delete(FEEDS).where(FEEDS.c.code == feed.code))
    await connection.execute(
        insert(FEEDS).values(
            code=feed.code,
            name=feed.name,
            department_code=feed.department,
            resource_code=feed.resource,
            target=feed.target,
            mode=feed.mode,
            format=feed.format,
            update_frequency=feed.update_frequency,
            definition=feed.as_json(),
            source=feed.source,
            updated_at=at,
            updated_by=by,
        )
    )
