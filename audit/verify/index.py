"""The search index against the entries: each entry's ``audit_person_reads`` and
``audit_field_reads`` rows must say what the entry says, or an auditor's search would miss an
access (a deleted row hides who read whom)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from audit.stream import IndexGroup
from store.models.audit import AuditIndexMark


def index_difference(
    values: Mapping[str, Any],
    people: list[tuple[Any, ...]],
    fields: list[tuple[Any, ...]],
) -> str | None:
    """What differs between an entry and its index rows, as a phrase; None if nothing."""
    at: datetime = values["at"]
    expected_people = set(values["person_ids"])
    found_people = {person for person, _ in people}
    for person in sorted(expected_people - found_people):
        return f"audit_person_reads lacks person {person!r}"
    for person in sorted(found_people - expected_people):
        return f"audit_person_reads holds person {person!r}, whom the entry does not name"
    if any(row_at != at for _, row_at in people):
        return "audit_person_reads has a different time"
    expected_fields = {(r["type"], r["field"], r["decision"]) for r in values["reads"]}
    found_fields = {(kind, name, decision) for kind, name, decision, _ in fields}
    for kind, name, decision in sorted(expected_fields - found_fields):
        return f"audit_field_reads lacks {kind}.{name} ({decision})"
    for kind, name, decision in sorted(found_fields - expected_fields):
        return f"audit_field_reads holds {kind}.{name} ({decision}), which the entry does not"
    if any(row[-1] != at for row in fields):
        return "audit_field_reads has a different time"
    return None


class IndexCursor:
    """Steps through one index stream alongside the entries, one entry's rows at a time."""

    def __init__(self, stream: AsyncIterator[IndexGroup]) -> None:
        self._stream = stream
        self._next: IndexGroup | None = None
        self._done = False

    async def rows_of(self, seq: int) -> list[tuple[Any, ...]]:
        """The rows of the entry ``seq`` (none if it has none); seqs asked for only grow."""
        while not self._done:
            if self._next is None:
                self._next = await anext(self._stream, None)
                if self._next is None:
                    self._done = True
                    break
            if self._next[0] > seq:
                break
            group_seq, rows = self._next
            self._next = None
            if group_seq == seq:
                return rows
        return []


async def index_mark(connection: AsyncConnection, writer_id: str) -> int | None:
    """The seq up to which the chain's search-index rows are written; None if the chain has
    no mark, and then every entry's rows are compared."""
    query = select(AuditIndexMark.seq).where(AuditIndexMark.writer_id == writer_id)
    return (await connection.execute(query)).scalar_one_or_none()
