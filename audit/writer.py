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
transaction. A busy hub thus commits once per batch rather than once per request; an idle one
commits each entry at once (the flusher does not wait to fill a batch). The entries'
search-index rows are the :class:`~audit.indexer.SearchIndexer`'s: on SQLite in the same
transaction, on PostgreSQL right after it, where no request waits for them.

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
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

import asyncpg
import orjson
from sqlalchemy import insert, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from audit.chain import b64encode, checkpoint_message, entry_hash
from audit.indexer import SearchIndexer
from audit.keys import AuditKeys
from audit.record import ENTRY_FIELDS, GENESIS, AuditRecord
from store.availability import ServiceUnavailable, is_unavailable
from store.errors import GridhubError
from store.models.audit import AuditCheckpoint, AuditEntry

if TYPE_CHECKING:
    from store.availability import DatabaseState

log = logging.getLogger(__name__)

_ENTRY_COLUMNS = ", ".join((*ENTRY_FIELDS, "hash"))
_CHECKPOINT_COLUMNS = "writer_id, number, seq, head_hash, at, key_id, final, signature"
#: A whole batch on PostgreSQL: the entries and the checkpoints in ONE statement of fixed text,
#: prepared once per connection, sent outside any explicit transaction. A single statement is
#: atomic on its own, so this is one round trip where BEGIN, the INSERTs and COMMIT were
#: several; data-modifying CTEs always run to completion, whether or not the final SELECT
#: reads them. The rows arrive as two JSON arrays ($1 the entries, $2 the checkpoints) whose
#: keys are the column names. The entries' search-index rows follow in a statement of their
#: own (:mod:`audit.indexer`).
_BATCH_POSTGRESQL = f"""WITH entries AS (
  INSERT INTO audit_entries ({_ENTRY_COLUMNS})
  SELECT {_ENTRY_COLUMNS} FROM json_populate_recordset(NULL::audit_entries, CAST($1 AS json))
  RETURNING id
), checkpoints AS (
  INSERT INTO audit_checkpoints ({_CHECKPOINT_COLUMNS})
  SELECT {_CHECKPOINT_COLUMNS}
  FROM json_populate_recordset(NULL::audit_checkpoints, CAST($2 AS json))
  RETURNING id
)
SELECT (SELECT count(*) FROM entries), (SELECT count(*) FROM checkpoints)"""


def _connection_lost(error: BaseException) -> bool:
    """Whether ``error`` says the connection itself is gone, so that a new one may succeed."""
    if isinstance(error, DBAPIError):
        return bool(error.connection_invalidated)
    # InternalClientError: the driver found its protocol in a state it did not expect, as
    # when the server's notice that it ended the connection arrived while it was idle.
    return isinstance(
        error,
        asyncpg.ConnectionDoesNotExistError
        | asyncpg.InterfaceError
        | asyncpg.InternalClientError
        | ConnectionError,
    )


Clock = Callable[[], datetime]


class AuditUnavailable(GridhubError):
    """The entry could not be made durable, so the request must not be answered with data."""

    code = "AUDIT_UNAVAILABLE"

    def __init__(
        self, message: str = "The audit log is unavailable; the request was not answered."
    ) -> None:
        super().__init__(message)


class AuditObserver(Protocol):
    """Hears what becomes of entries (the metrics implement it)."""

    def queued(self, depth: int) -> None:
        """The queue holds ``depth`` entries not yet committed."""

    def committed(self, record: AuditRecord, lag: float) -> None:
        """``record`` committed ``lag`` seconds after it was handed to the writer."""

    def lost(self, record: AuditRecord, code: str) -> None:
        """``record`` could not be committed (``code`` says why); its request had no data."""


@dataclass(frozen=True)
class Receipt:
    """Where a committed entry sits in the log."""

    writer_id: str
    seq: int
    hash: str
    at: datetime


@dataclass
class WriterStats:
    """Counters for tests and monitoring: group commit shows as ``transactions < entries``."""

    entries: int = 0
    transactions: int = 0
    failed_transactions: int = 0
    checkpoints: int = 0


@dataclass(frozen=True)
class _Chain:
    """What the last committed transaction left: the state the next batch continues from."""

    seq: int = 0
    head: str = GENESIS
    at: datetime | None = None
    checkpoints: int = 0  # the number of the last checkpoint
    signed_seq: int = 0  # the seq the last checkpoint covers
    sealed: bool = False


@dataclass
class _Queued:
    record: AuditRecord
    at: datetime
    future: asyncio.Future[Receipt]


@dataclass
class _Batch:
    entries: list[dict[str, Any]] = field(default_factory=list)
    checkpoints: list[dict[str, Any]] = field(default_factory=list)
    chain: _Chain = field(default_factory=_Chain)


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


class AuditWriter:
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
    ) -> None:
        self.writer_id = uuid.uuid4().hex
        self.stats = WriterStats()
        self._engine = engine
        self._keys = keys
        self._every = settings.audit_checkpoint_entries
        self._seconds = settings.audit_checkpoint_seconds
        self._clock: Clock = clock or (lambda: datetime.now(UTC))
        self._max_batch = max_batch
        self._record_timeout = record_timeout
        self._chain = _Chain()
        self._uncertain = False
        self._queue: deque[_Queued] = deque()
        self._in_flight: list[_Queued] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._unsigned_since: float | None = None  # monotonic time of the oldest unsigned entry
        self._retry_at = 0.0
        #: PostgreSQL: the connection batches are written on, with the engine it came from,
        #: and the batch statement prepared on its driver connection.
        self._held: tuple[AsyncEngine, AsyncConnection] | None = None
        self._statement: tuple[Any, asyncpg.PreparedStatement] | None = None
        self._database = database
        self.observer = observer
        self._index = SearchIndexer(engine, self.writer_id)
        self._registered = False  # PostgreSQL: the chain's index mark is made

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
        self._queue.append(_Queued(record, self._clock(), future))
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

    async def _release_connection(self) -> None:
        """Give the held connection back to the pool (it is healthy if it is still held)."""
        held, self._held = self._held, None
        self._statement = None
        if held is not None:
            with contextlib.suppress(Exception):
                await held[1].close()

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

    def _checkpoint(
        self, number: int, seq: int, head: str, at: datetime, final: bool
    ) -> dict[str, Any]:
        self._keys.refresh()  # a rotation by `gridhub audit keys rotate` takes effect here
        values: dict[str, Any] = {
            "writer_id": self.writer_id,
            "number": number,
            "seq": seq,
            "head_hash": head,
            "at": at,
            "key_id": self._keys.key_id,
            "final": final,
        }
        values["signature"] = b64encode(self._keys.sign(checkpoint_message(values)))
        return values

    def _prepare(self, queued: list[_Queued], checkpoint: bool, final: bool) -> _Batch:
        """Number, stamp and hash the entries, and sign what falls due; changes no state."""
        chain = self._chain
        batch = _Batch()
        seq, head, floor = chain.seq, chain.head, chain.at
        number, signed = chain.checkpoints, chain.signed_seq
        for item in queued:
            seq += 1
            at = item.at if floor is None or item.at > floor else floor
            floor = at
            values = {
                **item.record.columns(),
                "writer_id": self.writer_id,
                "seq": seq,
                "at": at,
                "prev_hash": head,
            }
            head = values["hash"] = entry_hash(values, built=True)
            batch.entries.append(values)
            if seq - signed >= self._every:
                number += 1
                batch.checkpoints.append(self._checkpoint(number, seq, head, at, False))
                signed = seq
        if final or (checkpoint and seq > signed):
            now = self._clock()
            at = now if floor is None or now > floor else floor
            number += 1
            batch.checkpoints.append(self._checkpoint(number, seq, head, at, final))
            signed = seq
        batch.chain = _Chain(seq, head, floor, number, signed, chain.sealed or final)
        return batch

    async def _flush(self, queued: list[_Queued], *, checkpoint: bool, final: bool = False) -> bool:
        """Write one batch in one transaction; resolve its futures. True if it committed."""
        # Kept while the transaction runs: if the flusher is cancelled in the middle (the loop
        # shutting down), _stopped fails these callers instead of leaving them waiting.
        self._in_flight = queued
        try:
            if (queued or checkpoint) and self._database is not None and self._database.refusing:
                raise ServiceUnavailable()  # found unreachable less than a second ago: fail fast
            if self._uncertain:
                await self._resync()
            batch = self._prepare(queued, checkpoint, final)
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
        return True

    async def _write(self, batch: _Batch) -> None:
        if self._engine.dialect.name == "postgresql":
            await self._write_postgresql(batch)
            return
        async with self._engine.begin() as connection:
            if batch.entries:
                await connection.execute(insert(AuditEntry), batch.entries)
                first, last = batch.entries[0]["seq"], batch.entries[-1]["seq"]
                await self._index.write_in(connection, first, last)
            if batch.checkpoints:
                await connection.execute(insert(AuditCheckpoint), batch.checkpoints)

    async def _write_postgresql(self, batch: _Batch) -> None:
        """The batch as one autocommitted statement on the writer's own connection.

        The connection is held between batches: taking one from the pool costs a round trip
        (its pre-ping) per batch, which on an idle hub is per request. Any failure drops it.
        A held connection that turns out dead (the server restarted, an idle timeout cut it)
        is not the audit log being unavailable: the batch is tried once more on a new
        connection — unless it is found committed after all. Any other failure is the
        caller's ``AuditUnavailable``, and the resync before the next batch reads back
        whether the statement committed.
        """
        reused = self._held is not None and self._held[0] is self._engine
        try:
            await self._execute_batch(await self._connection_for_batch(), batch)
        except Exception as error:
            await self._drop_connection()
            if not (reused and _connection_lost(error)):
                raise
            log.warning("The audit writer's connection was lost while idle; reconnecting")
            connection = await self._connection_for_batch()
            if await self._committed(connection, batch):
                return
            try:
                await self._execute_batch(connection, batch)
            except BaseException:
                await self._drop_connection()
                raise
        except BaseException:
            await self._drop_connection()  # cancelled mid-statement: its state is unknown
            raise

    async def _execute_batch(self, connection: AsyncConnection, batch: _Batch) -> None:
        if not self._registered:
            await self._index.register(connection)
            self._registered = True
        statement = await self._batch_statement(connection)
        written = await statement.fetchrow(
            orjson.dumps(batch.entries).decode(), orjson.dumps(batch.checkpoints).decode()
        )
        if written is None or tuple(written) != (len(batch.entries), len(batch.checkpoints)):
            raise RuntimeError(f"the audit batch wrote {written}, not all of its rows")

    async def _batch_statement(self, connection: AsyncConnection) -> asyncpg.PreparedStatement:
        """The batch statement, prepared on the connection's asyncpg connection.

        It runs there directly rather than through SQLAlchemy: on an idle hub each request
        waits for exactly this statement, and SQLAlchemy's work around it (compiling, adapting
        parameters and rows, switching greenlets) was a tenth of a millisecond of it. The
        connection is in autocommit, so SQLAlchemy has no transaction there to keep track of.
        """
        driver = (await connection.get_raw_connection()).driver_connection
        if self._statement is None or self._statement[0] is not driver:
            self._statement = (driver, await driver.prepare(_BATCH_POSTGRESQL))
        return self._statement[1]

    async def _committed(self, connection: AsyncConnection, batch: _Batch) -> bool:
        """Whether ``batch`` is already in the log (its statement ran before the loss)."""
        if batch.entries:
            last = batch.entries[-1]
            found = await connection.scalar(
                select(AuditEntry.hash).where(
                    AuditEntry.writer_id == self.writer_id, AuditEntry.seq == last["seq"]
                )
            )
            return found == last["hash"]
        last = batch.checkpoints[-1]
        found = await connection.scalar(
            select(AuditCheckpoint.signature).where(
                AuditCheckpoint.writer_id == self.writer_id,
                AuditCheckpoint.number == last["number"],
            )
        )
        return found == last["signature"]

    async def _connection_for_batch(self) -> AsyncConnection:
        held = self._held
        if held is not None and held[0] is self._engine:
            return held[1]
        await self._drop_connection()  # one from an engine no longer in use
        connection = await self._engine.connect()
        try:
            connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
        except BaseException:
            await connection.close()
            raise
        self._held = (self._engine, connection)
        return connection

    async def _drop_connection(self) -> None:
        held, self._held = self._held, None
        self._statement = None
        if held is not None:
            with contextlib.suppress(Exception):
                await held[1].invalidate()
            with contextlib.suppress(Exception):
                await held[1].close()

    async def _resync(self) -> None:
        """Take the chain's state from the database: the truth after an uncertain commit."""
        async with self._engine.connect() as connection:
            last = (
                await connection.execute(
                    select(AuditEntry.seq, AuditEntry.hash, AuditEntry.at)
                    .where(AuditEntry.writer_id == self.writer_id)
                    .order_by(AuditEntry.seq.desc())
                    .limit(1)
                )
            ).first()
            checkpoint = (
                await connection.execute(
                    select(AuditCheckpoint.number, AuditCheckpoint.seq, AuditCheckpoint.final)
                    .where(AuditCheckpoint.writer_id == self.writer_id)
                    .order_by(AuditCheckpoint.number.desc())
                    .limit(1)
                )
            ).first()
        chain = _Chain()
        if last is not None:
            chain = replace(chain, seq=last.seq, head=last.hash, at=last.at)
        if checkpoint is not None:
            chain = replace(
                chain,
                checkpoints=checkpoint.number,
                signed_seq=checkpoint.seq,
                sealed=checkpoint.final,
            )
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
