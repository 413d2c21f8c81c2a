"""Provenance on the shared types: ``sources`` (which department's feed run last set a row) and
``updatedAt`` (when the row last changed), read from the columns every shared row carries
(``store.models.provenance.Tracked``).

A row holds one source, the last one: ``sources`` is a list so that a row set by no feed (the
demo's generated rows, a citizen's report) answers ``[]`` rather than an object of nulls, and so
that more sources can be listed later without breaking a client. The field-by-field history of
who changed what is ``recordHistory``, cut per field by the plan; ``sources`` does not repeat
it, since a department named there could tell of a field the caller may not see.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry

#: Types shared only through a declared field (``sources`` on each shared type).
PROVENANCE_TYPES = frozenset({"Source"})

UPDATED_AT = "When the row last changed (a feed run, a correction, an event's handling)."
SOURCES = (
    "What last set the row: the department, its feed and run, and when the hub received "
    "it; empty when no feed has set it (generated or reported in the hub)."
)


@strawberry.type(description="A department's feed run that set a row (one data, one source).")
class Source:
    department: str = strawberry.field(description="The department's code, e.g. `housing`.")
    feed: str = strawberry.field(description="The feed's code (see the catalogue).")
    run: int = strawberry.field(description="The run's id: `feedRun(id:)` tells what it did.")
    received_at: datetime = strawberry.field(description="When the hub received the run.")


def sources_of(row: Any) -> list[Source]:
    """The row's source as a list of at most one."""
    if row.source_feed is None:
        return []
    return [
        Source(
            department=row.source_department,
            feed=row.source_feed,
            run=row.source_run,
            received_at=row.source_at,
        )
    ]


def tracked(row: Any) -> dict[str, Any]:
    """The provenance values of a shared row, for its type's ``from_row`` to guard."""
    return {"updated_at": row.updated_at, "sources": sources_of(row)}
