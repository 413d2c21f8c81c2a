"""``removed(type:, since:)``: the ids of shared rows removed since a time, for apps that keep
a copy in step with ``changedSince`` (docs/app-developers.md, "Syncing incrementally")."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import strawberry

from resolvers import removals
from resolvers.context import RequestContext
from resolvers.ids import to_global_id
from schema.base import Info
from schema.relay import Connection

#: Types of no shared field: a removal is the id of a row gone, cut by the plan as that type's
#: rows are, and asked for only where the plan shows the type's ``updatedAt`` in full.
REMOVAL_TYPES = frozenset({"Removal"})


@strawberry.enum(description="A shared type whose rows are listed at the root.")
class SharedType(enum.Enum):
    PERSON = "people"
    HOUSE = "houses"
    ENTITY = "entities"
    EVENT = "events"


#: GraphQL type of each list, and how its tombstones' keys become the rows' ids.
_TYPE_OF = {"people": "Person", "houses": "House", "entities": "Entity", "events": "Event"}


@strawberry.type(description="A row that is gone: its id, and when it went.")
class Removal:
    id: strawberry.ID = strawberry.field(description="The global id the row had.")
    removed_at: datetime


def _removal(type_name: str, key_type: type[str] | type[int]) -> Any:
    def build(row: Any, context: RequestContext) -> Removal:
        key = int(row.row_key) if key_type is int else row.row_key
        return Removal(id=strawberry.ID(to_global_id(type_name, key)), removed_at=row.removed_at)

    return build


async def resolve_removed(
    info: Info,
    type: SharedType,
    since: datetime,
    first: int | None = None,
    after: str | None = None,
) -> Connection[Removal]:
    """Rows of ``type`` removed at or after ``since`` in the areas the caller may see them,
    oldest first."""
    context = info.context
    resource = type.value
    page, count = await removals.removed_page(context, resource, since, first, after)
    type_name = _TYPE_OF[resource]
    context.field_reads.add((type_name, "id"))  # the audit entry names what was read
    key_type = removals.RESOURCES[resource].key_type
    return Connection.build(page, count, _removal(type_name, key_type), context)
