"""Retention: whole months of the log leave the database only once exported and verified.

``gridhub audit retain --before 2026-10 --export-dir DIR`` removes every entry before the start
of that month (UTC), in this order, and stops at the first refusal with nothing removed:

1. ``--before`` must not be later than the current month: the current month is never removed.
2. Each month with entries is exported (:mod:`audit.export`) to ``DIR/audit-YYYY-MM.jsonl``
   and the file is verified with the public keys alone (:func:`audit.verify.verify_file`); it
   must hold exactly the month's entries.
3. Each chain with entries to remove is checked in the database, from where it starts (its
   genesis or its previous retention checkpoint) up to the first checkpoint that covers its last
   entry to remove: the removed part must be intact and signed, or the retention checkpoint
   would vouch for entries nobody signed. A chain cut off before any checkpoint covered its last
   old entries (its process was killed) is refused, and said so.
4. In one transaction: a retention checkpoint per chain (:class:`~store.models.AuditRetention`,
   signed with the audit key: the chain's seq and hash where it was cut, the number of its last
   checkpoint before, the export files and their SHA-256), then the months' rows go: on
   PostgreSQL their partitions are dropped (and any of their rows in a default partition
   deleted), on SQLite the rows are deleted.

Checkpoints stay (a few per thousand entries): the witness holds them, and the retention
checkpoint names the last one before the cut. ``gridhub audit verify`` then starts each cut
chain at its retention checkpoint (:mod:`audit.verify.retention`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from audit.chain import b64encode, retention_message
from audit.export import export
from audit.keys import AuditKeys
from audit.stream import chain_events
from audit.verify.file import verify_file
from audit.verify.retention import retention_anchor
from audit.verify.walk import Anchor, ChainChecker
from store.audit_partitions import (
    PARTITIONED_TABLES,
    Month,
    is_partitioned,
    months_between,
    months_of,
    partition_name,
)
from store.models.audit import (
    AuditCheckpoint,
    AuditEntry,
    AuditFieldRead,
    AuditPersonRead,
    AuditRetention,
)

#: How long dropping partitions waits for its lock before retention gives up (nothing removed).
LOCK_TIMEOUT = "10s"


class RetentionRefused(Exception):
    """Retention removed nothing; the message says why."""


@dataclass(frozen=True)
class MonthExport:
    month: Month
    path: Path
    entries: int
    sha256: str


@dataclass(frozen=True)
class ChainCut:
    """Where retention cut one chain."""

    writer_id: str
    seq: int
    head_hash: str
    checkpoints: int


@dataclass
class RetentionResult:
    before: Month
    exports: list[MonthExport] = field(default_factory=list)
    chains: list[ChainCut] = field(default_factory=list)
    entries: int = 0
    #: Partitions dropped (PostgreSQL), by table name.
    dropped: list[str] = field(default_factory=list)


def export_path(export_dir: Path, month: Month) -> Path:
    return export_dir / f"audit-{month}.jsonl"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


async def _months_with_entries(connection: AsyncConnection, before: Month) -> list[Month]:
    oldest = (
        await connection.execute(
            select(func.min(AuditEntry.at)).where(AuditEntry.at < before.start)
        )
    ).scalar_one()
    if oldest is None:
        return []
    return [month for month in months_between(Month.of(oldest), before) if month < before]


async def _count(connection: AsyncConnection, start: datetime, end: datetime) -> int:
    query = select(func.count()).where(AuditEntry.at >= start, AuditEntry.at < end)
    return int((await connection.execute(query)).scalar_one())


async def _export_month(
    engine: AsyncEngine,
    month: Month,
    export_dir: Path,
    public_keys: Mapping[str, Ed25519PublicKey],
) -> MonthExport:
    path = export_path(export_dir, month)
    partial = path.with_name(path.name + ".part")
    with partial.open("w", encoding="utf-8", newline="") as out:
        summary = await export(engine, out, since=month.start, until=month.end)
        out.flush()
        os.fsync(out.fileno())
    report = verify_file(partial, public_keys)
    if not report.ok:
        raise RetentionRefused(
            f"{month}: its export does not verify ({report.problem}); nothing was removed"
        )
    if report.entries != summary.entries:
        raise RetentionRefused(
            f"{month}: its export verified {report.entries} of {summary.entries} entries; "
            "nothing was removed"
        )
    async with engine.connect() as connection:
        expected = await _count(connection, month.start, month.end)
    if summary.entries != expected:
        raise RetentionRefused(
            f"{month}: the export holds {summary.entries} entries, the database {expected} "
            "(written meanwhile?); nothing was removed"
        )
    partial.replace(path)
    return MonthExport(month, path, summary.entries, _sha256(path))


async def _cut(
    connection: AsyncConnection,
    writer_id: str,
    last_old: int,
    public_keys: Mapping[str, Ed25519PublicKey],
    boundary: datetime,
) -> ChainCut:
    """Check chain ``writer_id`` up to the checkpoint covering ``last_old`` and say where to
    cut it; :class:`RetentionRefused` if it can not be cut there."""
    newer = (
        await connection.execute(
            select(func.min(AuditEntry.seq)).where(
                AuditEntry.writer_id == writer_id, AuditEntry.at >= boundary
            )
        )
    ).scalar_one()
    if newer is not None and newer <= last_old:
        raise RetentionRefused(
            f"chain {writer_id}: its entry #{newer} is after {boundary:%Y-%m-%d} and #{last_old} "
            "before it (its clock went back): its old entries are not a whole first part of it"
        )
    retained, problem, _ = await retention_anchor(connection, writer_id, public_keys)
    if problem is not None:
        raise RetentionRefused(f"the log does not verify: {problem}")
    anchor = retained or Anchor()
    checker = ChainChecker(writer_id, public_keys, anchor, require_signed=True)
    after_number = anchor.checkpoints if anchor.seq else -1
    head: str | None = None
    events = chain_events(connection, writer_id, after_seq=anchor.seq, after_number=after_number)
    async with contextlib.aclosing(events):
        async for kind, values in events:
            if kind == "checkpoint":
                checker.checkpoint(values)
            else:
                checker.entry(values)
                if checker.accepted == last_old:
                    head = values["hash"]
            if checker.problem is not None or checker.signed_seq >= last_old:
                break
    if checker.problem is None and checker.signed_seq < last_old:
        checker.end()
    if checker.problem is not None:
        raise RetentionRefused(f"the log does not verify: {checker.problem}")
    if head is None or checker.signed_seq < last_old:
        raise RetentionRefused(
            f"chain {writer_id}: no checkpoint covers its entries up to #{last_old} (its "
            "process stopped before signing them), so retention would vouch for entries nobody "
            "signed; nothing was removed"
        )
    number = (
        await connection.execute(
            select(func.max(AuditCheckpoint.number)).where(
                AuditCheckpoint.writer_id == writer_id, AuditCheckpoint.seq <= last_old
            )
        )
    ).scalar_one()
    return ChainCut(writer_id, last_old, head, int(number or 0))


async def retain(
    engine: AsyncEngine,
    keys: AuditKeys,
    before: Month,
    export_dir: Path,
    now: datetime | None = None,
) -> RetentionResult:
    """Export, verify and remove every entry before ``before`` (see the module doc);
    :class:`RetentionRefused` when anything stops it, with nothing removed."""
    current = Month.of(now or datetime.now(UTC))
    if before > current:
        raise RetentionRefused(
            f"--before {before} would remove the current month ({current}) or later: only "
            "whole past months are removed"
        )
    if not await asyncio.to_thread(export_dir.is_dir):
        raise RetentionRefused(f"{export_dir} is not a directory")
    public_keys = keys.public_keys
    result = RetentionResult(before)
    boundary = before.start
    async with engine.connect() as connection:
        months = await _months_with_entries(connection, before)
    for month in months:
        async with engine.connect() as connection:
            if not await _count(connection, month.start, month.end):
                continue
        result.exports.append(await _export_month(engine, month, export_dir, public_keys))
    async with engine.connect() as connection:
        chains = (
            await connection.execute(
                select(AuditEntry.writer_id, func.max(AuditEntry.seq), func.count())
                .where(AuditEntry.at < boundary)
                .group_by(AuditEntry.writer_id)
                .order_by(AuditEntry.writer_id)
            )
        ).all()
        for writer_id, last_old, count in chains:
            result.chains.append(await _cut(connection, writer_id, last_old, public_keys, boundary))
            result.entries += count
    if result.entries != sum(item.entries for item in result.exports):
        raise RetentionRefused(
            "entries before the cut were written while exporting; nothing was removed"
        )
    exports = [{"name": item.path.name, "sha256": item.sha256} for item in result.exports]
    try:
        async with engine.begin() as connection:
            await _record(connection, keys, result.chains, boundary, exports)
            result.dropped = await _remove(connection, before, boundary)
    except DBAPIError as error:
        raise RetentionRefused(
            f"the months could not be removed ({error.orig}); nothing was removed"
        ) from None
    return result


async def _record(
    connection: AsyncConnection,
    keys: AuditKeys,
    cuts: list[ChainCut],
    boundary: datetime,
    exports: list[dict[str, str]],
) -> None:
    at = datetime.now(UTC)
    rows: list[dict[str, Any]] = []
    for cut in cuts:
        values: dict[str, Any] = {
            "writer_id": cut.writer_id,
            "seq": cut.seq,
            "head_hash": cut.head_hash,
            "checkpoints": cut.checkpoints,
            "before": boundary,
            "at": at,
            "exports": exports,
            "key_id": keys.key_id,
        }
        values["signature"] = b64encode(keys.sign(retention_message(values)))
        rows.append(values)
    if rows:
        await connection.execute(insert(AuditRetention), rows)


async def _remove(connection: AsyncConnection, before: Month, boundary: datetime) -> list[str]:
    """Remove every entry and index row before ``boundary``; the partitions dropped."""
    dropped: list[str] = []
    if await is_partitioned(connection):
        await connection.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
        for table in PARTITIONED_TABLES:
            for month in await months_of(connection, table):
                if month < before:
                    name = partition_name(table, month)
                    await connection.execute(text(f"DROP TABLE {name}"))
                    dropped.append(name)
            default = partition_name(table, None)
            await connection.execute(
                text(f"DELETE FROM {default} WHERE at < :boundary"), {"boundary": boundary}
            )
        return dropped
    for model in (AuditPersonRead, AuditFieldRead, AuditEntry):
        await connection.execute(delete(model).where(model.at < boundary))
    return dropped
