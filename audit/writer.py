"""The audit writer: one chain per process, group commit, nothing lost.

:meth:`AuditWriter.record` returns only once the entry's transaction has committed, so the
request layer sends a response only for a request whose entry is durable; when the write fails,
``record`` raises :class:`AuditUnavailable` and the request is answered with that error and no
data (fail closed). ``record`` is :meth:`~AuditWriter.submit` then
:meth:`~AuditWriter.committed`: the request layer submits the entry as soon as its answer is
complete and gives its database connection back while the entry is written, so the two round
trips overlap instead of adding up.

Concurrent requests share transactions: ``record`` puts the entry on a queue and waits; one
flusher task takes everything queued (up to ``max_batch``), gives each entry the next ``seq``,
hashes it onto the chain, and inserts the entries and any checkpoint that fell due in one
transaction (:mod:`audit.batch`; on PostgreSQL one statement, :mod:`audit.batch_postgresql`). A
busy hub thus commits once per batch rather than once per request; an idle one commits each
entry at once (the flusher does not wait to fill a batch). The entries' search-index rows are
the :class:`~audit.indexer.SearchIndexer`'s: on SQLite in the same transaction, on PostgreSQL
right after it, where no request waits for them.

The chain state (``seq``, head hash) advances only when a transaction commits. After a failed
transaction the writer reads its chain's head back from the database before the next one: a
commit whose acknowledgement was lost (the connection dropped after ``COMMIT``) did happen, and
the next batch must continue after it rather than reuse its ``seq`` values.

While the process's :class:`~store.availability.DatabaseState` says the database was found
unreachable less than a second ago, a batch fails at once without trying, so the refusals of
an outage are answered quickly; the first batch after the database is back reads the chain's
head and goes on. An :class:`AuditObserver` (the metrics) hears of each entry committed
or lost and of the queue's depth.

Each writer has its own ``writer_id`` (a new chain per process start), so any number of
processes — uvicorn workers, replicas — write to one database without coordinating; on SQLite
they take turns through the database's write lock, on PostgreSQL they never touch each other's
rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from audit.batch import (
    Batch,
    ChainState,
    Clock,
    Queued,
    Receipt,
    build_batch,
    read_chain_state,
)
from audit.batch_postgresql import PostgresqlBatches
from audit.indexer import SearchIndexer
from audit.keys import AuditKeys
from audit.record import AuditRecord
from store.availability import ServiceUnavailable, is_unavailable
from store.errors import GridhubError
from store.models.audit import AuditCheckpoint, AuditEntry

if TYPE_CHECKING:
    from store.availability import DatabaseState

__all__ = [
    "AuditObserver",
    "AuditUnavailable",
    "AuditWriter",
    "CheckpointSettings",
    "Receipt",
    "Submitted",
    "Witness",
    "WriterStats",
]

log = logging.getLogger(__name__)


class AuditUnavailable(GridhubError):
    """The entry could not be made durable, so the request must not be answered with data."""

    code = "AUDIT_UNAVAILABLE"

    def __init__(
        self, message: str = "The audit log is unavailable; the request was not answered."
    ) -> None:
        super().__init__(message)


class Witness(Protocol):
    """Where checkpoints are also kept, outside the database (:mod:`audit.witness`)."""

    async def attest(self, checkpoints: Sequence[Mapping[str, Any]]) -> None: ...


class AuditObserver(Protocol):
    """Hears what becomes of entries (the metrics implement it)."""

    def queued(self, depth: int) -> None:
        """The queue holds ``depth`` entries not yet committed."""

    def committed(self, record: AuditRecord, lag: float) -> None:
        """``record`` committed ``lag`` seconds after it was handed to the writer."""

    def lost(self, record: AuditRecord, code: str) -> None:
        """``record`` could not be committed (``code`` says why); its request had no data."""


@dataclass
class WriterStats:
    """Counters for tests and monitoring: group commit shows as ``transactions < entries``."""

    entries: int = 0
    transactions: int = 0
    failed_transactions: int = 0
    checkpoints: int = 0
    #: Checkpoints appended to the witness.
    witnessed: int = 0


@dataclass(frozen=True)
class Submitted:
    """An entry handed to the writer (:meth:`AuditWriter.submit`), not yet known committed."""

    record: AuditRecord
    #: Resolved by the flusher; None when the writer refused the entry at once (not running).
    future: asyncio.Future[Receipt] | None
    started: float = field(default_factory=time.perf_counter)


def _retrieve(future: asyncio.Future[Receipt]) -> None:
    """Mark a future's exception as seen: its caller may have gone (a cancelled request)."""
    if not future.cancelled():
        future.exception()


class CheckpointSettings(Protocol):
    """How often the writer signs its chain's head (``hub.settings.Settings`` has both)."""

    @property
    def audit_checkpoint_entries(self) -> int: ...
    @property
    def audit_checkpoint_seconds(self) -> float: ...


class AuditWriter(PostgresqlBatches):
    """Writes this process's chain; see the module doc for the guarantees.

    ``clock`` stamps each entry when :meth:`record` is called (tests pass a fake one); an
    entry's ``at`` never goes back within a chain, so a time range is a contiguous run of it.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        keys: AuditKeys,
        settings: CheckpointSettings,
        *,
        clock: Clock | None = None,
        max_batch: int = 512,
        record_timeout: float | None = 30.0,
        database: DatabaseState | None = None,
        observer: AuditObserver | None = None,
        witness: Witness | None = None,
    ) -> None:
        writer_id = uuid.uuid4().hex
        super().__init__(engine, writer_id, SearchIndexer(engine, writer_id))
        self.stats = WriterStats()
        self._keys = keys
        self._every = settings.audit_checkpoint_entries
        self._seconds = settings.audit_checkpoint_seconds
        self._clock: Clock = clock or (lambda: datetime.now(UTC))
        self._max_batch = max_batch
        self._record_timeout = record_timeout
        self._chain = ChainState()
        self._uncertain = False
        self._queue: deque[Queued] = deque()
        self._in_flight: list[Queued] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._unsigned_since: float | None = None  # monotonic time of the oldest unsigned entry
        self._retry_at = 0.0
        self._database = database
        self.observer = observer
        self._witness = witness
        #: Checkpoints committed but not yet appended to the witness (it was unreachable).
        self._unwitnessed: list[dict[str, Any]] = []

    @property
    def queue_depth(self) -> int:
        """Entries handed to the writer and not yet committed (or failed)."""
        return len(self._queue) + len(self._in_flight)

    @property
    def running(self) -> bool:
        """Whether entries are being taken (False before start, after close or a crash)."""
        return self._task is not None and not self._task.done() and not self._closing

    @property
    def seq(self) -> int:
        """The seq of the last committed entry (0 before the first)."""
        return self._chain.seq

    async def start(self) -> None:
        """Start the flusher (and its checkpoint timer) on the running event loop."""
        if self._task is not None:
            raise RuntimeError("the audit writer is already started")
        self._task = asyncio.create_task(self._run(), name=f"audit-writer-{self.writer_id}")
        self._task.add_done_callback(self._stopped)
        self._index.start()

    async def record(self, record: AuditRecord) -> Receipt:
        """Append ``record`` to the log; return once its transaction has committed.

        Raises :class:`AuditUnavailable` when the entry was not committed (or when that is not
        known within ``record_timeout`` seconds). If the caller is cancelled while waiting, the
        entry is still written: the request it records did happen.
        """
        return await self.committed(self.submit(record))

    def submit(self, record: AuditRecord) -> Submitted:
        """Hand ``record`` to the flusher and return at once, so that the caller can finish
        other work (give its connection back) while the entry is written; the request may be
        answered only after :meth:`committed` has returned for it."""
        if self._task is None or self._task.done() or self._closing:
            return Submitted(record, None)
        future: asyncio.Future[Receipt] = asyncio.get_running_loop().create_future()
        future.add_done_callback(_retrieve)
        self._queue.append(Queued(record, self._clock(), future))
        self._wake.set()
        if self.observer is not None:
            self.observer.queued(self.queue_depth)
        return Submitted(record, future)

    async def committed(self, submitted: Submitted) -> Receipt:
        """Wait until a submitted entry's transaction has committed; see :meth:`record`."""
        record, future = submitted.record, submitted.future
        if future is None:
            self._lost(record, AuditUnavailable.code)
            raise AuditUnavailable()
        try:
            async with asyncio.timeout(self._record_timeout):
                receipt = await asyncio.shield(future)
        except TimeoutError:
            log.error("Audit entry not committed within %ss", self._record_timeout)
            self._lost(record, AuditUnavailable.code)
            raise AuditUnavailable() from None
        except AuditUnavailable as error:
            self._lost(record, error.code)
            raise
        if self.observer is not None:
            self.observer.committed(record, time.perf_counter() - submitted.started)
        return receipt

    def _lost(self, record: AuditRecord, code: str) -> None:
        if self.observer is not None:
            self.observer.lost(record, code)

    async def close(self) -> None:
        """Write what is queued, seal the chain with a final checkpoint, stop the flusher."""
        if self._task is None or self._closing:
            return
        self._closing = True
        self._wake.set()
        try:
            # Shielded: a caller cancelled meanwhile must not cut the final checkpoint short.
            await asyncio.shield(self._task)
        except asyncio.CancelledError:
            if not self._task.cancelled():
                raise  # the caller was cancelled, not the flusher
        finally:
            await self._index.close()

    async def indexed(self) -> None:
        """Return once every entry committed so far has its search-index rows (see
        :mod:`audit.indexer`); bound the wait with :func:`asyncio.timeout`."""
        await self._index.settled()

    # The flusher.

    def _stopped(self, task: asyncio.Task[None]) -> None:
        """Whatever stopped the flusher, nobody may wait for it forever."""
        for queued in [*self._in_flight, *self._queue]:
            if not queued.future.done():
                queued.future.set_exception(AuditUnavailable())
        self._queue.clear()
        if not task.cancelled() and task.exception() is not None:
            log.error("The audit writer stopped", exc_info=task.exception())

    def _timer_delay(self) -> float | None:
        """Seconds until the unsigned entries are due for a checkpoint; None if none are."""
        if self._unsigned_since is None or self._chain.sealed:
            return None
        due = max(self._unsigned_since + self._seconds, self._retry_at)
        return max(0.0, due - time.monotonic())

    async def _run(self) -> None:
        try:
            await self._flush_until_closed()
        finally:
            await self._release_connection()

    async def _flush_until_closed(self) -> None:
        while True:
            if not self._queue:
                if self._closing:
                    break
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._timer_delay()):
                        await self._wake.wait()
            self._wake.clear()
            count = min(len(self._queue), self._max_batch)
            batch = [self._queue.popleft() for _ in range(count)]
            delay = self._timer_delay()
            if batch or (delay is not None and delay <= 0):
                await self._flush(batch, checkpoint=delay is not None and delay <= 0)
                if self.observer is not None:
                    self.observer.queued(self.queue_depth)
        if self._chain.seq > 0 and not self._chain.sealed:
            if not await self._flush([], checkpoint=True, final=True):
                log.error("Could not seal audit chain %s at #%s", self.writer_id, self._chain.seq)

    async def _flush(self, queued: list[Queued], *, checkpoint: bool, final: bool = False) -> bool:
        """Write one batch in one transaction; resolve its futures. True if it committed."""
        # Kept while the transaction runs: if the flusher is cancelled in the middle (the loop
        # shutting down), _stopped fails these callers instead of leaving them waiting.
        self._in_flight = queued
        try:
            if (queued or checkpoint) and self._database is not None and self._database.refusing:
                raise ServiceUnavailable()  # found unreachable less than a second ago: fail fast
            if self._uncertain:
                await self._resync()
            batch = build_batch(
                self._chain,
                queued,
                writer_id=self.writer_id,
                keys=self._keys,
                every=self._every,
                clock=self._clock,
                checkpoint=checkpoint,
                final=final,
            )
            if batch.entries or batch.checkpoints:
                await self._write(batch)
        except Exception as error:
            self._uncertain = True
            self.stats.failed_transactions += 1
            self._retry_at = time.monotonic() + min(self._seconds, 1.0)
            unavailable = is_unavailable(error)
            if not unavailable:
                log.error("Audit write failed: %s", error, exc_info=error)
            for item in queued:
                if not item.future.done():
                    item.future.set_exception(AuditUnavailable())
            self._in_flight = []
            if unavailable and queued:
                log.warning(
                    "%s audit entries not written: the database is unavailable (their requests"
                    " are answered SERVICE_UNAVAILABLE): %s",
                    len(queued),
                    ", ".join(item.record.request_id for item in queued),
                )
            return False
        self._in_flight = []
        if self._database is not None:
            self._database.succeeded()
        had_unsigned = self._chain.signed_seq < self._chain.seq
        self._chain = batch.chain
        self._index.committed(self._chain.seq)
        self.stats.transactions += bool(batch.entries or batch.checkpoints)
        self.stats.entries += len(batch.entries)
        self.stats.checkpoints += len(batch.checkpoints)
        if self._chain.signed_seq >= self._chain.seq:
            self._unsigned_since = None
        elif not had_unsigned or batch.checkpoints:
            self._unsigned_since = time.monotonic()
        for item, values in zip(queued, batch.entries, strict=True):
            if not item.future.done():
                receipt = Receipt(self.writer_id, values["seq"], values["hash"], values["at"])
                item.future.set_result(receipt)
        if self._witness is not None and (batch.checkpoints or self._unwitnessed):
            await self._attest(batch.checkpoints)
        return True

    async def _attest(self, checkpoints: list[dict[str, Any]]) -> None:
        """Append committed checkpoints to the witness, after the requests they cover were
        answered; what can not be appended now is tried again with the next checkpoint."""
        assert self._witness is not None
        pending = [*self._unwitnessed, *checkpoints]
        try:
            await self._witness.attest(pending)
        except Exception as error:
            self._unwitnessed = pending
            log.error(
                "Audit witness %s not written (%s checkpoints wait for it): %s",
                self._witness,
                len(pending),
                error,
            )
        else:
            self._unwitnessed = []
            self.stats.witnessed += len(pending)

    async def _write(self, batch: Batch) -> None:
        if self._engine.dialect.name == "postgresql":
            await self._write_postgresql(batch)
            return
        async with self._engine.begin() as connection:
            if batch.entries:
                await connection.execute(insert(AuditEntry), batch.entries)
                first, last = batch.entries[0]["seq"], batch.entries[-1]["seq"]
                await self._index.write_in(
                    connection,
                    first,
                    last,
                    people=any(values["person_ids"] for values in batch.entries),
                    fields=any(values["reads"] for values in batch.entries),
                )
            if batch.checkpoints:
                await connection.execute(insert(AuditCheckpoint), batch.checkpoints)

    async def _resync(self) -> None:
        """Take the chain's state from the database: the truth after an uncertain commit."""
        chain = await read_chain_state(self._engine, self.writer_id)
        if chain.seq != self._chain.seq:
            log.warning(
                "Audit chain %s continues from #%s: a commit reported as failed did happen",
                self.writer_id,
                chain.seq,
            )
        self._chain = chain
        self._index.committed(chain.seq)
        self._uncertain = False
        if chain.signed_seq < chain.seq and self._unsigned_since is None:
            self._unsigned_since = time.monotonic()
