"""Each catalogue resource's recheck period: how long one of its records stays verified.

The period is a setting on the resource (``catalog_resources.recheck_days``), set by operators
with ``gridhub tasks recheck``. Several resources can describe one kind of record (people are in
the civil-affairs and public-security resources alike): the shortest period among them counts.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from store.errors import BadUserInput
from store.models import CatalogResource
from tasks.records import RECORD_OF_TYPE, Record

RESOURCES = CatalogResource.__table__
#: The longest period one may set: ten years.
MAX_DAYS = 3650


async def recheck_periods(connection: AsyncConnection) -> Mapping[Record, int]:
    """Per kind of record, the shortest recheck period among its resources (those with one)."""
    rows = await connection.execute(
        select(RESOURCES.c.graphql_type, func.min(RESOURCES.c.recheck_days))
        .where(RESOURCES.c.recheck_days.is_not(None))
        .group_by(RESOURCES.c.graphql_type)
    )
    return {
        RECORD_OF_TYPE[graphql_type]: int(days)
        for graphql_type, days in rows
        if graphql_type in RECORD_OF_TYPE
    }


async def set_recheck_period(connection: AsyncConnection, code: str, days: int | None) -> None:
    """Set (or with None, clear) resource ``code``'s recheck period."""
    if days is not None and not 1 <= days <= MAX_DAYS:
        raise BadUserInput(f"a recheck period is 1 to {MAX_DAYS} days, not {days}")
    result = await connection.execute(
        update(RESOURCES).where(RESOURCES.c.code == code).values(recheck_days=days)
    )
    if not result.rowcount:
        raise BadUserInput(f"no catalogue resource {code!r}")
