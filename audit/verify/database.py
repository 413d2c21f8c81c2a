"""Verifying the log in the database: every chain (or one), streaming, with its search index.

Entries past their chain's index mark (``audit_index_marks``: their rows are written just after
they commit, see :mod:`audit.indexer`) are left out of the index comparison and counted in the
report as not yet searchable; a hub writes what any chain lacks within a minute.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from audit.stream import (
    CHECKPOINT_COLUMNS,
    Progress,
    chain_events,
    field_index,
    person_index,
    writer_ids,
)
from audit.verify.checkpoints import checkpoint_problem
from audit.verify.index import IndexCursor, index_difference, index_mark
from audit.verify.report import Problem, Report, UnsignedTail
from audit.verify.retention import retention_anchor
from audit.verify.walk import Anchor, ChainChecker
from audit.verify.witness import compare_with_witness
from store.models.audit import AuditCheckpoint, AuditEntry

#: Report progress every this many entries.
PROGRESS_EVERY = 1000


async def _anchor(
    connection: AsyncConnection,
    writer_id: str,
    from_seq: int | None,
    public_keys: Mapping[str, Ed25519PublicKey],
) -> tuple[Anchor, Problem | None]:
    """Where ``--from SEQ`` starts a chain: after its newest checkpoint before SEQ, if any."""
    if from_seq is None or from_seq <= 1:
        return Anchor(), None
    query = (
        select(*CHECKPOINT_COLUMNS)
        .where(AuditCheckpoint.writer_id == writer_id, AuditCheckpoint.seq < from_seq)
        .order_by(AuditCheckpoint.number.desc())
        .limit(1)
    )
    row = (await connection.execute(query)).mappings().first()
    if row is None:
        return Anchor(), None
    values = dict(row)
    anchor = Anchor(row["seq"], row["head_hash"], row["number"], sealed=bool(row["final"]))
    return anchor, checkpoint_problem(writer_id, values, public_keys)


async def verify_database(
    engine: AsyncEngine,
    public_keys: Mapping[str, Ed25519PublicKey],
    *,
    from_seq: int | None = None,
    writer_id: str | None = None,
    progress: Progress | None = None,
    witness: Path | None = None,
) -> Report:
    """Verify every chain in the database (or one, ``writer_id``), streaming.

    With ``from_seq``, each chain is checked from its newest checkpoint before ``from_seq``
    (that checkpoint's signature is checked and its head anchors the rest), or from its start
    if it has none: the part checked always hangs on a signed head or on the genesis, and
    costs at most ``audit_checkpoint_entries`` entries more than asked.

    A chain whose oldest entries retention removed is checked from its retention checkpoint
    (:mod:`audit.verify.retention`), or from a later ``from_seq`` checkpoint.

    With ``witness`` (a witness file, :mod:`audit.witness`), an intact database is then
    compared with it: every checkpoint it holds must be in the database as written.
    """
    report = Report(source="database")
    async with engine.connect() as connection:
        if progress is not None:
            count = select(func.count()).select_from(AuditEntry)
            if from_seq is not None:
                count = count.where(AuditEntry.seq >= from_seq)
            if writer_id is not None:
                count = count.where(AuditEntry.writer_id == writer_id)
            progress.start((await connection.execute(count)).scalar_one(), "entries")
        for chain in await writer_ids(connection, writer_id):
            anchor, problem = await _anchor(connection, chain, from_seq, public_keys)
            report.chains += 1
            after_retention = False
            if problem is None:
                retained, problem, line = await retention_anchor(connection, chain, public_keys)
                if retained is not None and retained.seq >= anchor.seq:
                    anchor, after_retention = retained, True
                    report.ranges.append(str(line))
            if problem is not None:
                report.problem = problem
                break
            if anchor.seq and not after_retention:
                report.ranges.append(
                    f"chain {chain}: checked from #{anchor.seq + 1}, after signed checkpoint "
                    f"{anchor.checkpoints} (--from {from_seq})"
                )
            mark = await index_mark(connection, chain)
            checker = ChainChecker(chain, public_keys, anchor, require_signed=True)
            last = await _check_chain(connection, checker, anchor, progress, mark)
            checker.add_to(report)
            if mark is not None and last > mark and checker.problem is None:
                report.unindexed.append(UnsignedTail(chain, max(mark, anchor.seq) + 1, last))
            if checker.problem is not None:
                break
    if witness is not None and report.ok:
        check = await compare_with_witness(engine, public_keys, witness, writer_id)
        report.problem = check.problem
        if check.problem is None:
            report.ranges.append(check.line())
    return report


async def _check_chain(
    connection: AsyncConnection,
    checker: ChainChecker,
    anchor: Anchor,
    progress: Progress | None,
    mark: int | None,
) -> int:
    """Walk the chain, comparing the index rows of its entries up to ``mark``; return the
    seq of the last entry accepted."""
    chain = checker.writer_id
    last = anchor.seq
    # From the chain's start, its genesis checkpoint (number 0) comes first.
    after_number = anchor.checkpoints if anchor.seq else -1
    events = chain_events(connection, chain, after_seq=anchor.seq, after_number=after_number)
    people: IndexCursor | None = None
    fields: IndexCursor | None = None
    # An index mismatch is reported once the next entry links to its entry: a problem the
    # chain finds there may blame the same entry more exactly (it was inserted, say).
    mismatch: tuple[int, str] | None = None
    unreported = 0
    async with contextlib.AsyncExitStack() as stack:
        events = await stack.enter_async_context(contextlib.aclosing(events))
        async for kind, values in events:
            if kind == "checkpoint":
                checker.checkpoint(values)
            else:
                checker.entry(values)
                unreported += 1
                if unreported >= PROGRESS_EVERY and progress is not None:
                    progress.advance(unreported)
                    unreported = 0
                if mismatch is not None and (checker.accepted or checker.problem):
                    checker.index_mismatch(*mismatch)
                    break
                if checker.accepted is not None:
                    last = checker.accepted
                if checker.accepted is not None and (mark is None or checker.accepted <= mark):
                    if people is None or fields is None:  # opened after the entries' cursor
                        people = IndexCursor(
                            await stack.enter_async_context(
                                contextlib.aclosing(person_index(connection, chain, anchor.seq))
                            )
                        )
                        fields = IndexCursor(
                            await stack.enter_async_context(
                                contextlib.aclosing(field_index(connection, chain, anchor.seq))
                            )
                        )
                    seq = checker.accepted
                    difference = index_difference(
                        values, await people.rows_of(seq), await fields.rows_of(seq)
                    )
                    if difference is not None:
                        mismatch = (seq, difference)
            if checker.problem is not None:
                break
        checker.end()
        if mismatch is not None:
            checker.index_mismatch(*mismatch)
    if progress is not None and unreported:
        progress.advance(unreported)
    return last
