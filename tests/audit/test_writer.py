"""The writer: group commit, no gaps or duplicates, checkpoints, failing closed, many writers."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, event, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from audit.keys import AuditKeys
from audit.verify import verify_database
from audit.writer import AuditUnavailable, AuditWriter
from hub.settings import Settings
from store.engine import create_engine
from store.models import (
    AuditCheckpoint,
    AuditEntry,
    AuditFieldRead,
    AuditIndexMark,
    AuditPersonRead,
)
from tests.audit.conftest import MakeWriter
from tests.audit.helpers import record

ROOT = Path(__file__).parent.parent.parent


async def _seqs(engine: AsyncEngine, writer_id: str | None = None) -> list[int]:
    query = select(AuditEntry.seq).order_by(AuditEntry.seq)
    if writer_id is not None:
        query = query.where(AuditEntry.writer_id == writer_id)
    async with engine.connect() as connection:
        return list((await connection.execute(query)).scalars())


async def _checkpoints(engine: AsyncEngine) -> list[tuple[int, int, bool]]:
    query = select(AuditCheckpoint.number, AuditCheckpoint.seq, AuditCheckpoint.final).order_by(
        AuditCheckpoint.writer_id, AuditCheckpoint.number
    )
    async with engine.connect() as connection:
        return [tuple(row) for row in await connection.execute(query)]  # type: ignore[misc]


async def _intact(engine: AsyncEngine, keys: AuditKeys) -> Any:
    report = await verify_database(engine, keys.public_keys)
    assert report.ok, report.lines()
    return report


async def test_concurrent_records_share_transactions_with_no_gap_or_duplicate(
    make_writer: MakeWriter, audit_engine: AsyncEngine, audit_keys: AuditKeys
) -> None:
    writer = await make_writer()
    receipts = await asyncio.gather(*(writer.record(record()) for _ in range(200)))
    assert sorted(receipt.seq for receipt in receipts) == list(range(1, 201))
    assert len({receipt.hash for receipt in receipts}) == 200
    assert await _seqs(audit_engine) == list(range(1, 201))
    assert writer.stats.entries == 200
    assert writer.stats.transactions < 200 / 4, writer.stats
    await writer.close()
    report = await _intact(audit_engine, audit_keys)
    assert (report.entries, report.chains, report.sealed_chains) == (200, 1, 1)


async def test_record_returns_only_after_the_commit(
    make_writer: MakeWriter, audit_engine: AsyncEngine
) -> None:
    writer = await make_writer()
    receipt = await writer.record(record())
    # A fresh connection (another process, in effect) sees it at once.
    async with audit_engine.connect() as connection:
        stored = (
            await connection.execute(
                select(AuditEntry.hash).where(
                    AuditEntry.writer_id == receipt.writer_id, AuditEntry.seq == receipt.seq
                )
            )
        ).scalar_one()
    assert stored == receipt.hash


async def test_search_index_rows_are_written_for_every_entry(
    make_writer: MakeWriter, audit_engine: AsyncEngine
) -> None:
    writer = await make_writer()
    receipt = await writer.record(record(12, person_ids=["p-1", "p-2"]))
    async with asyncio.timeout(5):
        await writer.indexed()
    async with audit_engine.connect() as connection:
        people = (
            await connection.execute(
                select(AuditPersonRead.person_id, AuditPersonRead.at).order_by(
                    AuditPersonRead.person_id
                )
            )
        ).all()
        fields = (
            await connection.execute(
                select(AuditFieldRead.resource_type, AuditFieldRead.field, AuditFieldRead.decision)
            )
        ).all()
    assert [tuple(row) for row in people] == [("p-1", receipt.at), ("p-2", receipt.at)]
    assert sorted(tuple(row) for row in fields) == [
        ("Person", "idNumber", "MASK"),
        ("Person", "name", "ALLOW"),
    ]


async def test_a_checkpoint_every_n_entries_and_a_final_one_at_close(
    make_writer: MakeWriter, audit_engine: AsyncEngine, audit_keys: AuditKeys
) -> None:
    writer = await make_writer()  # every 10 entries
    for _ in range(25):
        await writer.record(record())
    await asyncio.gather(*(writer.record(record()) for _ in range(10)))
    assert await _checkpoints(audit_engine) == [
        (0, 0, False),  # the genesis checkpoint opens the chain
        (1, 10, False),
        (2, 20, False),
        (3, 30, False),
    ]
    await writer.close()
    assert (await _checkpoints(audit_engine))[-1] == (4, 35, True)
    with pytest.raises(AuditUnavailable):
        await writer.record(record())
    await _intact(audit_engine, audit_keys)


async def test_unsigned_entries_get_a_checkpoint_after_the_interval(
    make_writer: MakeWriter, audit_engine: AsyncEngine
) -> None:
    writer = await make_writer(audit_checkpoint_seconds=0.2)
    for _ in range(3):
        await writer.record(record())
    assert await _checkpoints(audit_engine) == [(0, 0, False)]  # only the genesis
    for _ in range(40):
        await asyncio.sleep(0.05)
        if len(await _checkpoints(audit_engine)) > 1:
            break
    assert await _checkpoints(audit_engine) == [(0, 0, False), (1, 3, False)]
    await asyncio.sleep(0.3)  # nothing unsigned: no new checkpoint
    assert len(await _checkpoints(audit_engine)) == 2


async def test_a_writer_that_was_never_started_or_was_closed_refuses(
    audit_engine: AsyncEngine, audit_keys: AuditKeys, audit_settings: Settings
) -> None:
    writer = AuditWriter(audit_engine, audit_keys, audit_settings)
    with pytest.raises(AuditUnavailable) as raised:
        await writer.record(record())
    assert raised.value.extensions == {"code": "AUDIT_UNAVAILABLE"}
    await writer.start()
    await writer.close()
    await writer.close()  # twice is harmless
    with pytest.raises(AuditUnavailable):
        await writer.record(record())
    assert await _seqs(audit_engine) == []  # nothing written, so nothing to seal


async def test_a_submitted_entry_is_written_while_its_caller_goes_on(
    make_writer: MakeWriter, audit_engine: AsyncEngine, audit_settings: Settings
) -> None:
    """``submit`` returns at once; ``committed`` returns once the entry is in the log. A
    writer that is not running refuses at ``committed``, so a caller can not skip the wait."""
    writer = await make_writer()
    submitted = writer.submit(record(person_ids=["p-1"]))
    assert submitted.future is not None
    assert not submitted.future.done()
    receipt = await writer.committed(submitted)
    assert await _seqs(audit_engine) == [receipt.seq] == [1]
    await writer.close()
    refused = writer.submit(record())
    with pytest.raises(AuditUnavailable):
        await writer.committed(refused)
    assert await _seqs(audit_engine) == [1]


async def test_time_never_goes_back_within_a_chain(
    make_writer: MakeWriter, audit_engine: AsyncEngine
) -> None:
    times = iter(
        datetime(2026, 11, 1, tzinfo=UTC) + timedelta(seconds=s) for s in (5, 3, 9, 1, 1, 10)
    )
    writer = await make_writer(clock=lambda: next(times))
    receipts = [await writer.record(record()) for _ in range(5)]
    assert [r.at.second for r in receipts] == [5, 5, 9, 9, 9]


async def test_a_cancelled_caller_still_gets_its_entry_written(
    make_writer: MakeWriter, audit_engine: AsyncEngine
) -> None:
    writer = await make_writer()
    task = asyncio.create_task(writer.record(record()))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await writer.close()
    assert await _seqs(audit_engine) == [1]


_REFUSE = {
    "sqlite": [
        "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_entries"
        " BEGIN SELECT RAISE(ABORT, 'the disk is full (simulated)'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql"
        " AS $$ BEGIN RAISE EXCEPTION 'the disk is full (simulated)'; END $$",
        "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_entries"
        " FOR EACH STATEMENT EXECUTE FUNCTION refuse_audit()",
    ],
}
_ALLOW = {
    "sqlite": ["DROP TRIGGER refuse_audit"],
    "postgresql": ["DROP TRIGGER refuse_audit ON audit_entries", "DROP FUNCTION refuse_audit()"],
}


@asynccontextmanager
async def _failing(engine: AsyncEngine) -> AsyncIterator[None]:
    """The database refuses every insert into audit_entries while inside (a trigger)."""

    async def run(statements: list[str]) -> None:
        async with engine.begin() as connection:
            for statement in statements:
                await connection.execute(text(statement))

    await run(_REFUSE[engine.dialect.name])
    try:
        yield
    finally:
        await run(_ALLOW[engine.dialect.name])


async def test_a_failed_write_fails_every_caller_of_its_batch_and_leaves_no_gap(
    make_writer: MakeWriter, audit_engine: AsyncEngine, audit_keys: AuditKeys
) -> None:
    writer = await make_writer()
    for _ in range(4):
        await writer.record(record())
    async with _failing(audit_engine):
        results = await asyncio.gather(
            *(writer.record(record()) for _ in range(20)), return_exceptions=True
        )
    assert all(isinstance(result, AuditUnavailable) for result in results)
    assert writer.stats.failed_transactions >= 1
    assert writer.seq == 4
    after = await asyncio.gather(*(writer.record(record()) for _ in range(6)))
    assert sorted(r.seq for r in after) == [5, 6, 7, 8, 9, 10]
    assert await _seqs(audit_engine) == list(range(1, 11))
    await writer.close()
    await _intact(audit_engine, audit_keys)


async def test_a_missing_table_fails_closed_and_the_chain_continues_once_it_is_back(
    make_writer: MakeWriter, audit_engine: AsyncEngine, audit_keys: AuditKeys
) -> None:
    writer = await make_writer()
    for _ in range(3):
        await writer.record(record())

    async def rename(old: str, new: str) -> None:
        async with audit_engine.begin() as connection:
            await connection.execute(text(f"ALTER TABLE {old} RENAME TO {new}"))

    await rename("audit_entries", "audit_entries_away")
    try:
        with pytest.raises(AuditUnavailable):
            await writer.record(record())
        with pytest.raises(AuditUnavailable):  # the resync fails too: still closed
            await writer.record(record())
    finally:
        await rename("audit_entries_away", "audit_entries")
    receipt = await writer.record(record())
    assert receipt.seq == 4
    await writer.close()
    await _intact(audit_engine, audit_keys)


async def test_a_database_that_can_not_be_reached_fails_closed(
    make_writer: MakeWriter, audit_settings: Settings, tmp_path: Path
) -> None:
    unreachable = {
        "sqlite": f"sqlite+aiosqlite:///{tmp_path / 'no-such-folder' / 'gridhub.db'}",
        "postgresql": "postgresql+asyncpg://postgres@127.0.0.1:1/gridhub",  # nothing listens
    }
    backend = "sqlite" if audit_settings.is_sqlite else "postgresql"
    engine = create_engine(audit_settings.model_copy(update={"database_url": unreachable[backend]}))
    try:
        writer = await make_writer(engine=engine)
        results = await asyncio.gather(
            *(writer.record(record()) for _ in range(5)), return_exceptions=True
        )
        assert all(isinstance(result, AuditUnavailable) for result in results), results
        assert writer.seq == 0
        await writer.close()  # nothing was written: nothing to seal, and no hang
    finally:
        await engine.dispose()


async def test_callers_are_failed_not_left_waiting_when_the_flusher_is_cancelled(
    make_writer: MakeWriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = await make_writer()
    stuck = asyncio.Event()

    async def hang(_batch: Any) -> None:
        stuck.set()
        await asyncio.Event().wait()  # a transaction that never ends

    monkeypatch.setattr(writer, "_write", hang)
    waiting = asyncio.create_task(writer.record(record()))
    queued = asyncio.create_task(writer.record(record()))
    await stuck.wait()
    assert writer._task is not None
    writer._task.cancel()  # as when the event loop shuts down without close()
    for task in (waiting, queued):
        with pytest.raises(AuditUnavailable):
            await task
    with pytest.raises(AuditUnavailable):
        await writer.record(record())


class _AcknowledgementLost:
    """An engine whose next batch commits and is then reported failed.

    SQLite writes a batch in a transaction: the loss is raised after ``begin()`` committed.
    PostgreSQL writes it as one autocommitted statement: a failure is raised once the
    statement has run (and so committed) — a timeout that fired as its answer was on the way
    (:meth:`watch` puts it in the writer).
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self.dialect = engine.dialect
        self.armed = False

    def watch(self, writer: AuditWriter) -> None:
        execute = writer._execute_batch

        async def then_fail(connection: AsyncConnection, batch: Any) -> None:
            await execute(connection, batch)
            if self.armed:
                self.armed = False
                raise TimeoutError("no answer in time, though the batch committed (simulated)")

        writer._execute_batch = then_fail  # type: ignore[method-assign]

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncConnection]:
        async with self._engine.begin() as connection:
            yield connection
        if self.armed:
            self.armed = False
            raise ConnectionResetError("connection lost after COMMIT (simulated)")

    def connect(self) -> Any:
        return self._engine.connect()


async def test_a_commit_reported_as_failed_is_taken_up_not_repeated(
    make_writer: MakeWriter, audit_engine: AsyncEngine, audit_keys: AuditKeys
) -> None:
    flaky = _AcknowledgementLost(audit_engine)
    writer = await make_writer(engine=flaky)  # type: ignore[arg-type]
    flaky.watch(writer)
    await writer.record(record())
    flaky.armed = True
    with pytest.raises(AuditUnavailable):
        await writer.record(record())  # it did commit, as #2 of the chain
    assert not flaky.armed, "the loss was not simulated"
    receipt = await writer.record(record())
    assert receipt.seq == 3
    assert await _seqs(audit_engine) == [1, 2, 3]
    await writer.close()
    await _intact(audit_engine, audit_keys)


def _postgresql_only(engine: AsyncEngine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL writes a batch as one statement on a held connection")


async def test_a_sequential_entry_costs_one_statement_on_the_held_connection(
    make_writer: MakeWriter, audit_engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What makes an idle hub's audit cheap: per request, one round trip on the writer's own
    connection — no BEGIN, no COMMIT, no pool checkout with its pre-ping, no index rows (they
    follow in a statement of their own, on another connection)."""
    _postgresql_only(audit_engine)
    writer = await make_writer()
    await writer.record(record())  # opens the writer's connection
    async with asyncio.timeout(5):
        await writer.indexed()
    assert writer._held is not None
    held = (await writer._held[1].get_raw_connection()).dbapi_connection
    batches: list[object] = []
    on_held: list[str] = []
    elsewhere: list[str] = []
    batch_statement = writer._batch_statement

    async def counted(connection: AsyncConnection) -> Any:
        batches.append((await connection.get_raw_connection()).dbapi_connection)
        return await batch_statement(connection)

    def log(conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        (on_held if conn.connection.dbapi_connection is held else elsewhere).append(statement)

    monkeypatch.setattr(writer, "_batch_statement", counted)
    event.listen(audit_engine.sync_engine, "before_cursor_execute", log)
    try:
        for _ in range(3):
            await writer.record(record(person_ids=("11", "12")))
            async with asyncio.timeout(5):
                await writer.indexed()
    finally:
        event.remove(audit_engine.sync_engine, "before_cursor_execute", log)
    assert batches == [held] * 3  # the batch statement, prepared once, on the held connection
    assert on_held == []  # and nothing else there: no BEGIN, no COMMIT, no pre-ping
    index = [s for s in elsewhere if "INSERT INTO audit_person_reads" in s]
    assert len(index) == 3, elsewhere
    assert not any("INSERT INTO audit_entries" in s for s in elsewhere)
    await writer.close()


async def test_an_answer_does_not_wait_for_its_search_index_rows(
    make_writer: MakeWriter,
    audit_engine: AsyncEngine,
    audit_keys: AuditKeys,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """PostgreSQL writes the index rows after the entry commits: while they are held up, the
    entry is committed and its caller answered; verify counts it as not yet searchable, and
    once the rows are written every check passes."""
    _postgresql_only(audit_engine)
    writer = await make_writer()
    held_up = asyncio.Event()
    index = writer._index
    write = index._write

    async def slow(*arguments: Any) -> None:
        await held_up.wait()
        await write(*arguments)

    monkeypatch.setattr(index, "_write", slow)
    receipt = await writer.record(record(person_ids=["p-9"]))
    assert await _seqs(audit_engine, writer.writer_id) == [receipt.seq]
    async with audit_engine.connect() as connection:
        assert await connection.scalar(select(func.count()).select_from(AuditPersonRead)) == 0
    report = await _intact(audit_engine, audit_keys)
    assert [(t.first_seq, t.last_seq) for t in report.unindexed] == [(1, 1)]
    assert any("not yet in the search index" in line for line in report.lines())
    held_up.set()
    async with asyncio.timeout(5):
        await writer.indexed()
    async with audit_engine.connect() as connection:
        people = (await connection.execute(select(AuditPersonRead.person_id))).scalars().all()
    assert people == ["p-9"]
    report = await _intact(audit_engine, audit_keys)
    assert report.unindexed == []
    await writer.close()


async def test_index_rows_a_stopped_process_left_unwritten_are_written_by_the_next(
    make_writer: MakeWriter, audit_engine: AsyncEngine, audit_keys: AuditKeys
) -> None:
    """A chain whose mark is behind its entries — its process stopped between the entries'
    commit and their index rows, or someone moved the mark back and removed rows — gets its
    rows from the next writer to start; until then verify says which entries lack them."""
    first = await make_writer()
    for number in range(4):
        await first.record(record(number, person_ids=[f"p-{number}"]))
    await first.close()
    async with audit_engine.begin() as connection:
        ids = (
            await connection.execute(
                select(AuditEntry.id).where(AuditEntry.seq > 2).order_by(AuditEntry.seq)
            )
        ).scalars()
        await connection.execute(
            delete(AuditPersonRead).where(AuditPersonRead.entry_id.in_(list(ids)))
        )
        await connection.execute(update(AuditIndexMark).values(seq=2))
    report = await _intact(audit_engine, audit_keys)
    assert [(t.writer_id, t.first_seq, t.last_seq) for t in report.unindexed] == [
        (first.writer_id, 3, 4)
    ]
    await make_writer()  # its indexer looks for chains left behind as it starts
    async with asyncio.timeout(10):
        # The state to wait for is in the database, written by another task: poll it.
        while (await _intact(audit_engine, audit_keys)).unindexed:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    async with audit_engine.connect() as connection:
        people = (await connection.execute(select(AuditPersonRead.person_id))).scalars().all()
    assert sorted(people) == ["p-0", "p-1", "p-2", "p-3"]


async def test_a_connection_lost_while_idle_costs_no_request_its_answer(
    make_writer: MakeWriter, audit_engine: AsyncEngine, audit_keys: AuditKeys
) -> None:
    """The server drops the writer's idle connection (a restart, an idle timeout): the next
    entry is written on a new connection instead of failing its request."""
    _postgresql_only(audit_engine)
    writer = await make_writer()
    await writer.record(record())
    async with audit_engine.connect() as connection:
        killed = await connection.scalar(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                " AND query LIKE 'WITH entries AS%'"
            )
        )
    assert killed == 1
    receipt = await writer.record(record())
    assert receipt.seq == 2
    assert writer.stats.failed_transactions == 0
    assert await _seqs(audit_engine, writer.writer_id) == [1, 2]
    await writer.close()
    await _intact(audit_engine, audit_keys)


async def test_writers_of_one_database_each_keep_their_own_chain(
    make_writer: MakeWriter,
    audit_engine: AsyncEngine,
    audit_keys: AuditKeys,
    audit_settings: Settings,
) -> None:
    engines = [create_engine(audit_settings) for _ in range(3)]
    try:
        writers = [await make_writer(engine=engine) for engine in engines]
        await asyncio.gather(*(writer.record(record()) for writer in writers for _ in range(60)))
        for writer in writers:
            assert await _seqs(audit_engine, writer.writer_id) == list(range(1, 61))
            await writer.close()
    finally:
        for engine in engines:
            await engine.dispose()
    report = await _intact(audit_engine, audit_keys)
    assert (report.entries, report.chains, report.sealed_chains) == (180, 3, 3)


WRITER_PROCESS = """
import asyncio, sys
from pathlib import Path
from audit.keys import AuditKeys
from audit.writer import AuditWriter
from store.engine import create_engine
from hub.settings import Settings
from tests.audit.helpers import record

async def main(url, key_dir, count):
    settings = Settings(database_url=url, audit_key_dir=Path(key_dir),
                        audit_checkpoint_entries=10, _env_file=None)
    engine = create_engine(settings)
    writer = AuditWriter(engine, AuditKeys.load_or_create(settings.audit_key_dir), settings)
    await writer.start()
    await asyncio.gather(*(writer.record(record()) for _ in range(count)))
    for _ in range(count):
        await writer.record(record())
    await writer.close()
    await engine.dispose()

asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
"""


async def test_separate_processes_write_to_one_database_at_once(
    audit_engine: AsyncEngine, audit_keys: AuditKeys, audit_settings: Settings
) -> None:
    """Uvicorn workers or replicas: real processes, one database, SQLite's lock included."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = [audit_settings.database_url, str(audit_settings.audit_key_dir), "40"]
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            WRITER_PROCESS,
            *args,
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(3)
    ]
    for process in processes:
        _, stderr = await process.communicate()
        assert process.returncode == 0, stderr.decode()
    report = await _intact(audit_engine, audit_keys)
    assert (report.entries, report.chains, report.sealed_chains) == (240, 3, 3)
    async with audit_engine.connect() as connection:
        duplicates = (
            await connection.execute(
                select(func.count()).select_from(
                    select(AuditEntry.request_id)
                    .group_by(AuditEntry.request_id, AuditEntry.writer_id)
                    .having(func.count() > 1)
                    .subquery()
                )
            )
        ).scalar_one()
    assert duplicates == 0
