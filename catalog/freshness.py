"""Whether a catalogue resource is stale: a feed that fills it is late against the update
frequency its declaration promises.

A feed declares how often its department sends it (``update_frequency``). It is late when its
last successful run finished longer ago than that period and half of it again (a daily feed
sent at 02:00 is late from 14:00 the next day), or when it has never run successfully. A
resource is stale when any of its feeds is late; an ``IRREGULAR`` feed is never late. A resource
no feed fills is neither stale nor fresh: the hub expects no delivery of it, so its staleness is
unknown (null); its ``lastUpdated`` still says when its rows last changed.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from store.models import FeedDeclaration, FeedRun

#: Each declared update frequency (by its name in a feed file) and its period; IRREGULAR has none.
PERIODS: Mapping[str, timedelta] = {
    "REAL_TIME": timedelta(hours=1),
    "DAILY": timedelta(days=1),
    "WEEKLY": timedelta(days=7),
    "MONTHLY": timedelta(days=31),
    "QUARTERLY": timedelta(days=92),
    "YEARLY": timedelta(days=366),
}
#: How much of a period a feed may run behind before it counts as late.
GRACE = 0.5


@dataclass(frozen=True, slots=True)
class FeedFreshness:
    feed: str
    update_frequency: str
    #: When its last successful run finished; None if it never ran successfully.
    last_success: datetime | None

    def late(self, now: datetime) -> bool:
        period = PERIODS.get(self.update_frequency.upper())
        if period is None:
            return False
        if self.last_success is None:
            return True
        return now - self.last_success > period * (1 + GRACE)


async def feeds_of(
    connection: AsyncConnection, resource_codes: Collection[str]
) -> dict[str, list[FeedFreshness]]:
    """The feeds that fill each of the resources, with their last successful run (one
    statement for them all)."""
    feeds, runs = FeedDeclaration.__table__, FeedRun.__table__
    succeeded = and_(runs.c.feed == feeds.c.code, runs.c.status == "succeeded")
    statement = (
        select(
            feeds.c.resource_code,
            feeds.c.code,
            feeds.c.update_frequency,
            func.max(runs.c.finished_at).label("last_success"),
        )
        .select_from(feeds.outerjoin(runs, succeeded))
        .where(feeds.c.resource_code.in_(list(resource_codes)))
        .group_by(feeds.c.resource_code, feeds.c.code, feeds.c.update_frequency)
        .order_by(feeds.c.code)
    )
    found: dict[str, list[FeedFreshness]] = {}
    for row in await connection.execute(statement):
        found.setdefault(row.resource_code, []).append(
            FeedFreshness(row.code, row.update_frequency, row.last_success)
        )
    return found


def stale(feeds: Collection[FeedFreshness], now: datetime) -> bool | None:
    """True when a feed of the resource is late, False when none is, None when it has none."""
    if not feeds:
        return None
    return any(feed.late(now) for feed in feeds)
