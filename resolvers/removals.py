"""Rows removed from the shared data since a time, by id: what an app that syncs incrementally
drops from its copy (``removed(type:, since:)``).

The tombstones (``removed_rows``) keep the removed row's grid, so they are cut by the plan's row
predicate exactly as the row was: a caller learns only of removals in the areas where it may
see that type's rows. Asking since a time also tells when a row went, so the caller must be
able to read ``updatedAt`` of the type in full, as ``changedSince`` requires.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from policies import row_scope as scoping
from resolvers import filters
from resolvers.context import RequestContext
from resolvers.lists import CountThunk
from resolvers.loaders import Page, page_of
from resolvers.pagination import page_args
from resolvers.resources import RESOURCES, Resource
from store.errors import BadUserInput
from store.models import RemovedRow

REMOVED = RemovedRow.__table__

#: The shared lists whose removals can be asked for (rooms are listed only under their house,
#: and leave with it or are kept by an app through ``House.rooms``).
LISTED = ("houses", "people", "entities", "events")

#: Per list, its tombstones as a paged list (keyset on the tombstone's id: removal order); the
#: name in a cursor keeps one list's cursor off another's.
TOMBSTONES: dict[str, Resource] = {
    name: Resource(f"removed_{name}", REMOVED, REMOVED.c.id, int) for name in LISTED
}


async def removed_page(
    context: RequestContext,
    resource: str,
    since: datetime,
    first: int | None,
    after: str | None,
) -> tuple[Page, CountThunk]:
    """A page of ``resource``'s tombstones removed at or after ``since`` that the plan shows,
    oldest first, and their lazy count."""
    if since.tzinfo is None:
        raise BadUserInput(
            "`since` needs a time zone (e.g. 2026-01-01T00:00:00+08:00)", field="since"
        )
    filters.checked(context.plan, RESOURCES[resource], ((filters.CHANGED_SINCE, since),))
    listed = TOMBSTONES[resource]
    settings = context.settings
    args = page_args(
        first, after, listed, default=settings.default_page_size, cap=settings.max_page_size
    )
    conditions = [
        REMOVED.c.target == resource,
        REMOVED.c.removed_at >= since,
        *scoping.row_scope(context.plan, "removals.since", resource, REMOVED.c.grid_code),
    ]
    statement = select(REMOVED.c.id, REMOVED.c.row_key, REMOVED.c.removed_at).where(*conditions)
    if args.after is not None:
        statement = statement.where(REMOVED.c.id > args.after)
    rows = await context.rows(statement.order_by(REMOVED.c.id).limit(args.first + 1))

    async def count() -> int:
        total = await context.rows(select(func.count()).select_from(REMOVED).where(*conditions))
        return int(total[0][0])

    return page_of(listed, rows, args), count
