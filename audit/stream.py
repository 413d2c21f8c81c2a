"""Reading the log back as streams, in chain order, in bounded memory.

Verification and export both walk a chain's entries in ``seq`` order with its checkpoints
placed right after the entry they cover. The rows come through server-side cursors
(``AsyncConnection.stream`` with ``yield_per``), so a chain of millions of entries never sits in
memory; a chain at a time, so no query sorts across chains.

Within a chain the checkpoints' cursor is opened before the entries' cursor, and the search
index's after both: on PostgreSQL (read committed) each cursor sees the database as it was when
it opened, so a checkpoint seen always has its entries seen too, and an entry seen its index
rows — a writer appending meanwhile can not make an intact log look cut.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator
from typing import Any, Literal, Protocol

from sqlalchemy import Select, select, union
from sqlalchemy.ext.asyncio import AsyncConnection

from audit.record import ENTRY_FIELDS
from store.models.audit import AuditCheckpoint, AuditEntry, AuditFieldRead, AuditPersonRead

#: Rows fetched per round trip.
YIELD_PER = 256

EventKind = Literal["entry", "checkpoint"]
Event = tuple[EventKind, dict[str, Any]]

ENTRY_COLUMNS = [getattr(AuditEntry, name) for name in (*ENTRY_FIELDS, "hash")]
CHECKPOINT_COLUMNS = [
    AuditCheckpoint.writer_id,
    AuditCheckpoint.number,
    AuditCheckpoint.seq,
    AuditCheckpoint.head_hash,
    AuditCheckpoint.at,
    AuditCheckpoint.key_id,
    AuditCheckpoint.final,
    AuditCheckpoint.signature,
]


class Progress(Protocol):
    """Where long walks report how far they got (the CLI draws a rich progress bar)."""

    def start(self, total: int | None, unit: str) -> None: ...

    def advance(self, amount: int) -> None: ...


async def writer_ids(connection: AsyncConnection, writer_id: str | None = None) -> list[str]:
    """Every chain in the database: writers with entries or checkpoints (these may outlive
    their entries, which is how a chain whose every entry was deleted is still noticed)."""
    if writer_id is not None:
        return [writer_id]
    query = union(
        select(AuditEntry.writer_id).distinct(), select(AuditCheckpoint.writer_id).distinct()
    )
    return sorted((await connection.execute(query)).scalars())


async def _stream(
    connection: AsyncConnection, query: Select[*tuple[Any, ...]]
) -> AsyncGenerator[dict[str, Any], None]:
    result = await connection.stream(query.execution_options(yield_per=YIELD_PER))
    try:
        # A partition per round trip: iterating an async result row by row would switch
        # greenlets for every row, which costs more than the verification itself.
        async for rows in result.mappings().partitions():
            for row in rows:
                yield dict(row)
    finally:
        await result.close()


async def chain_events(
    connection: AsyncConnection,
    writer_id: str,
    *,
    after_seq: int = 0,
    last_seq: int | None = None,
    after_number: int = 0,
) -> AsyncGenerator[Event, None]:
    """A chain's entries after ``after_seq`` (up to ``last_seq``) in order, each checkpoint
    (numbered after ``after_number``) right after the entry it covers.

    A checkpoint that covers an entry the stream does not have comes before the next entry it
    does have, or at the end: exactly where the verifier notices the gap.
    """
    checkpoints_query = (
        select(*CHECKPOINT_COLUMNS)
        .where(AuditCheckpoint.writer_id == writer_id, AuditCheckpoint.number > after_number)
        .order_by(AuditCheckpoint.number)
    )
    entries_query = (
        select(*ENTRY_COLUMNS)
        .where(AuditEntry.writer_id == writer_id, AuditEntry.seq > after_seq)
        .order_by(AuditEntry.seq)
    )
    if last_seq is not None:
        checkpoints_query = checkpoints_query.where(AuditCheckpoint.seq <= last_seq)
        entries_query = entries_query.where(AuditEntry.seq <= last_seq)
    async with contextlib.aclosing(_stream(connection, checkpoints_query)) as checkpoints:
        checkpoint = await anext(checkpoints, None)
        async with contextlib.aclosing(_stream(connection, entries_query)) as entries:
            async for entry in entries:
                while checkpoint is not None and checkpoint["seq"] < entry["seq"]:
                    yield "checkpoint", checkpoint
                    checkpoint = await anext(checkpoints, None)
                yield "entry", entry
        while checkpoint is not None:
            yield "checkpoint", checkpoint
            checkpoint = await anext(checkpoints, None)


IndexGroup = tuple[int, list[tuple[Any, ...]]]


async def _grouped(
    connection: AsyncConnection, query: Select[*tuple[Any, ...]]
) -> AsyncGenerator[IndexGroup, None]:
    """(seq, rows) for each entry that has index rows, in seq order."""
    seq: int | None = None
    rows: list[tuple[Any, ...]] = []
    async with contextlib.aclosing(_stream(connection, query)) as stream:
        async for row in stream:
            if row["seq"] != seq:
                if seq is not None:
                    yield seq, rows
                seq, rows = row["seq"], []
            rows.append(tuple(value for name, value in row.items() if name != "seq"))
    if seq is not None:
        yield seq, rows


def person_index(
    connection: AsyncConnection, writer_id: str, after_seq: int = 0
) -> AsyncGenerator[IndexGroup, None]:
    """The chain's ``audit_person_reads`` rows as (seq, [(person_id, at), …])."""
    query = (
        select(AuditEntry.seq, AuditPersonRead.person_id, AuditPersonRead.at)
        .join(AuditEntry, AuditEntry.id == AuditPersonRead.entry_id)
        .where(AuditEntry.writer_id == writer_id, AuditEntry.seq > after_seq)
        .order_by(AuditEntry.seq, AuditPersonRead.person_id)
    )
    return _grouped(connection, query)


def field_index(
    connection: AsyncConnection, writer_id: str, after_seq: int = 0
) -> AsyncGenerator[IndexGroup, None]:
    """The chain's ``audit_field_reads`` rows as (seq, [(type, field, decision, at), …])."""
    query = (
        select(
            AuditEntry.seq,
            AuditFieldRead.resource_type,
            AuditFieldRead.field,
            AuditFieldRead.decision,
            AuditFieldRead.at,
        )
        .join(AuditEntry, AuditEntry.id == AuditFieldRead.entry_id)
        .where(AuditEntry.writer_id == writer_id, AuditEntry.seq > after_seq)
        .order_by(
            AuditEntry.seq,
            AuditFieldRead.resource_type,
            AuditFieldRead.field,
            AuditFieldRead.decision,
        )
    )
    return _grouped(connection, query)
