"""Retention: whole past months leave only once exported and verified, behind a signed retention
checkpoint from which ``verify`` still proves the rest of each chain; what it refuses removes
nothing. On PostgreSQL the months' partitions are dropped."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from audit.keys import AuditKeys
from audit.retention import RetentionRefused, export_path, retain
from audit.verify import Kind, verify_database, verify_file
from audit.writer import AuditWriter
from store.audit_partitions import Month, ensure_months, is_partitioned, months_of
from store.models import AuditEntry, AuditPersonRead, AuditRetention
from tests.audit.conftest import MakeWriter
from tests.audit.helpers import record

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
AUGUST, SEPTEMBER, OCTOBER = Month(2026, 8), Month(2026, 9), Month(2026, 10)


class Clock:
    """A clock the test moves: each reading a millisecond after the last."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        self.at += timedelta(milliseconds=1)
        return self.at


async def _write_months(
    make_writer: MakeWriter, months: list[Month], per_month: int = 12
) -> AuditWriter:
    """One chain with ``per_month`` entries in each month (checkpoints every 10), closed."""
    clock = Clock(months[0].start)
    writer = await make_writer(clock=clock)
    for month in months:
        clock.at = max(clock.at, month.start + timedelta(days=2))
        for _ in range(per_month):
            await writer.record(record())
    await writer.close()
    return writer


async def _partition_months(engine: AsyncEngine, months: list[Month]) -> None:
    """On PostgreSQL, the months' partitions (the entries wait in the default ones till then)."""
    async with engine.begin() as connection:
        if await is_partitioned(connection):
            await ensure_months(connection, months)


async def _count(engine: AsyncEngine, model: type[AuditEntry] | type[AuditPersonRead]) -> int:
    async with engine.connect() as connection:
        return int((await connection.execute(select(func.count()).select_from(model))).scalar_one())


async def test_retention_removes_whole_months_and_the_rest_still_verifies(
    make_writer: MakeWriter, audit_engine: AsyncEngine, audit_keys: AuditKeys, tmp_path: Path
) -> None:
    await _write_months(make_writer, [AUGUST, SEPTEMBER, OCTOBER])
    await _write_months(make_writer, [SEPTEMBER, OCTOBER], per_month=5)  # a second chain
    await _partition_months(audit_engine, [AUGUST, SEPTEMBER, OCTOBER])

    result = await retain(audit_engine, audit_keys, OCTOBER, tmp_path, now=NOW)

    assert [item.month for item in result.exports] == [AUGUST, SEPTEMBER]
    assert [item.entries for item in result.exports] == [12, 12 + 5]
    assert result.entries == 29
    assert len(result.chains) == 2
    async with audit_engine.connect() as connection:
        oldest = (await connection.execute(select(func.min(AuditEntry.at)))).scalar_one()
        if await is_partitioned(connection):
            assert min(await months_of(connection)) == OCTOBER
            assert "audit_entries_y2026m09" in result.dropped
            assert "audit_person_reads_y2026m08" in result.dropped
    assert Month.of(oldest) == OCTOBER
    assert await _count(audit_engine, AuditEntry) == 12 + 5
    # Index rows went with their entries.
    async with audit_engine.connect() as connection:
        old_rows = await connection.scalar(
            select(func.count()).where(AuditPersonRead.at < OCTOBER.start)
        )
    assert old_rows == 0

    report = await verify_database(audit_engine, audit_keys.public_keys)
    assert report.ok, report.lines()
    assert report.entries == 17
    assert sum("retention checkpoint" in line for line in report.ranges) == 2
    # Each export verifies offline with the public keys alone.
    for item in result.exports:
        exported = verify_file(export_path(tmp_path, item.month), audit_keys.public_keys)
        assert exported.ok
        assert exported.entries == item.entries


async def test_after_retention_tampering_is_still_found(
    make_writer: MakeWriter, audit_engine: AsyncEngine, audit_keys: AuditKeys, tmp_path: Path
) -> None:
    writer = await _write_months(make_writer, [SEPTEMBER, OCTOBER])
    await _partition_months(audit_engine, [SEPTEMBER, OCTOBER])
    await retain(audit_engine, audit_keys, OCTOBER, tmp_path, now=NOW)

    # A forged retention checkpoint (cut further on, to hide October's first entries).
    async with audit_engine.begin() as connection:
        await connection.execute(update(AuditRetention).values(seq=AuditRetention.seq + 3))
    forged = await verify_database(audit_engine, audit_keys.public_keys)
    assert forged.problem is not None
    assert forged.problem.kind is Kind.SIGNATURE

    # The retention checkpoint removed: the chain starts with entries missing.
    async with audit_engine.begin() as connection:
        await connection.execute(delete(AuditRetention))
    removed = await verify_database(audit_engine, audit_keys.public_keys)
    assert removed.problem is not None
    assert removed.problem.kind is Kind.REMOVED
    assert removed.problem.writer_id == writer.writer_id


async def test_an_entry_changed_after_the_cut_is_found(
    make_writer: MakeWriter, audit_engine: AsyncEngine, audit_keys: AuditKeys, tmp_path: Path
) -> None:
    await _write_months(make_writer, [SEPTEMBER, OCTOBER])
    await retain(audit_engine, audit_keys, OCTOBER, tmp_path, now=NOW)
    async with audit_engine.begin() as connection:
        first_kept = await connection.scalar(select(func.min(AuditEntry.seq)))
        await connection.execute(
            update(AuditEntry).where(AuditEntry.seq == first_kept).values(purpose="改过的")
        )
    report = await verify_database(audit_engine, audit_keys.public_keys)
    assert report.problem is not None
    assert report.problem.kind is Kind.CHANGED
    assert report.problem.seq == first_kept


async def test_retention_twice_moves_the_cut_on(
    make_writer: MakeWriter, audit_engine: AsyncEngine, audit_keys: AuditKeys, tmp_path: Path
) -> None:
    await _write_months(make_writer, [AUGUST, SEPTEMBER, OCTOBER])
    await retain(audit_engine, audit_keys, SEPTEMBER, tmp_path, now=NOW)
    second = await retain(audit_engine, audit_keys, OCTOBER, tmp_path, now=NOW)
    assert [item.month for item in second.exports] == [SEPTEMBER]
    async with audit_engine.connect() as connection:
        cuts = (await connection.execute(select(AuditRetention.seq))).scalars().all()
    assert sorted(cuts) == [12, 24]
    report = await verify_database(audit_engine, audit_keys.public_keys)
    assert report.ok, report.lines()
    assert report.entries == 12


async def _refused(call: Callable[[], object], match: str) -> None:
    with pytest.raises(RetentionRefused, match=match):
        await call()  # type: ignore[misc]


async def test_the_current_month_is_never_removed(
    make_writer: MakeWriter, audit_engine: AsyncEngine, audit_keys: AuditKeys, tmp_path: Path
) -> None:
    await _write_months(make_writer, [OCTOBER, Month(2026, 11)])
    for before in (Month(2026, 12), Month(2027, 1)):
        await _refused(
            lambda before=before: retain(audit_engine, audit_keys, before, tmp_path, now=NOW),
            "current month",
        )
    assert await _count(audit_engine, AuditEntry) == 24
    assert not export_path(tmp_path, OCTOBER).exists()


async def test_a_tampered_month_is_refused_and_nothing_removed(
    make_writer: MakeWriter, audit_engine: AsyncEngine, audit_keys: AuditKeys, tmp_path: Path
) -> None:
    await _write_months(make_writer, [SEPTEMBER, OCTOBER])
    async with audit_engine.begin() as connection:
        await connection.execute(
            update(AuditEntry).where(AuditEntry.seq == 4).values(purpose="改过的")
        )
    await _refused(
        lambda: retain(audit_engine, audit_keys, OCTOBER, tmp_path, now=NOW), "does not verify"
    )
    assert await _count(audit_engine, AuditEntry) == 24
    assert not export_path(tmp_path, SEPTEMBER).exists()
    async with audit_engine.connect() as connection:
        assert await connection.scalar(select(func.count()).select_from(AuditRetention)) == 0


async def test_a_tail_no_checkpoint_signed_is_refused(
    audit_engine: AsyncEngine, audit_keys: AuditKeys, audit_settings: object, tmp_path: Path
) -> None:
    """A chain whose process was killed before signing its last September entries: retention
    would have to vouch for them itself, so it refuses."""
    clock = Clock(SEPTEMBER.start + timedelta(days=3))
    settings = audit_settings.model_copy(update={"audit_checkpoint_entries": 1000})  # type: ignore[attr-defined]
    writer = AuditWriter(audit_engine, audit_keys, settings, clock=clock)
    await writer.start()
    for _ in range(5):
        await writer.record(record())
    assert writer._task is not None
    writer._task.cancel()  # killed: no checkpoint covers its entries, no final one
    with pytest.raises(asyncio.CancelledError):
        await writer._task
    await _refused(
        lambda: retain(audit_engine, audit_keys, OCTOBER, tmp_path, now=NOW), "no checkpoint"
    )
    assert await _count(audit_engine, AuditEntry) == 5


async def test_partitions_are_made_ahead_and_rows_in_the_default_move_in(
    make_writer: MakeWriter, audit_engine: AsyncEngine, audit_keys: AuditKeys, backend: str
) -> None:
    if backend != "postgresql":
        pytest.skip("SQLite keeps one table (nothing is partitioned)")
    async with audit_engine.connect() as connection:
        assert await is_partitioned(connection)
        made = await months_of(connection)
    # The migration made the current month and three ahead.
    current = Month.of(datetime.now(UTC))
    assert current in made
    assert current.next().next().next() in made

    far = Month(2031, 5)
    clock = Clock(far.start + timedelta(days=1))
    writer = await make_writer(clock=clock)
    for _ in range(3):
        await writer.record(record())
    await writer.close()
    await writer.indexed()

    async def where(table: str) -> set[str]:
        async with audit_engine.connect() as connection:
            rows = await connection.execute(
                text(f"SELECT DISTINCT tableoid::regclass::text FROM {table} WHERE at >= :at"),
                {"at": far.start},
            )
            return set(rows.scalars())

    assert await where("audit_entries") == {"audit_entries_default"}
    await _partition_months(audit_engine, [far])
    assert await where("audit_entries") == {"audit_entries_y2031m05"}
    assert await where("audit_person_reads") == {"audit_person_reads_y2031m05"}
    report = await verify_database(audit_engine, audit_keys.public_keys)
    assert report.ok, report.lines()
    assert report.entries == 3
    async with audit_engine.begin() as connection:
        await connection.execute(text("DROP TABLE audit_entries_y2031m05"))
        await connection.execute(text("DROP TABLE audit_person_reads_y2031m05"))
        await connection.execute(text("DROP TABLE audit_field_reads_y2031m05"))
