"""How a batch reaches PostgreSQL: one statement, prepared once, on a connection the writer holds.

A whole batch — its entries and its checkpoints — is ONE statement of fixed text, sent outside
any explicit transaction. A single statement is atomic on its own, so this is one round trip
where BEGIN, the INSERTs and COMMIT were several; data-modifying CTEs always run to completion,
whether or not the final SELECT reads them. The entries' search-index rows follow in a statement
of their own (:mod:`audit.indexer`), where no request waits for them.

The connection is held between batches: taking one from the pool costs a round trip (its
pre-ping) per batch, which on an idle hub is per request.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import asyncpg
import orjson
from asyncpg.prepared_stmt import PreparedStatement
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from audit.batch import Batch
from audit.indexer import SearchIndexer
from audit.record import ENTRY_FIELDS
from store.models.audit import AuditCheckpoint, AuditEntry

log = logging.getLogger(__name__)

_ENTRY_COLUMNS = ", ".join((*ENTRY_FIELDS, "hash"))
_CHECKPOINT_COLUMNS = "writer_id, number, seq, head_hash, at, key_id, final, signature"
#: The rows arrive as two JSON arrays ($1 the entries, $2 the checkpoints) whose keys are the
#: column names; the answer is how many of each were inserted.
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


def connection_lost(error: BaseException) -> bool:
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


class PostgresqlBatches:
    """The PostgreSQL half of :class:`~audit.writer.AuditWriter`: the held connection and the
    prepared batch statement (a base class, so that the writer's tests can reach both)."""

    def __init__(self, engine: AsyncEngine, writer_id: str, index: SearchIndexer) -> None:
        self.writer_id = writer_id
        self._engine = engine
        self._index = index
        #: The connection batches are written on, with the engine it came from, and the batch
        #: statement prepared on its driver connection (SQLAlchemy types that one as Any).
        self._held: tuple[AsyncEngine, AsyncConnection] | None = None
        self._statement: tuple[Any, PreparedStatement] | None = None
        self._registered = False  # the chain's index mark is made

    async def _write_postgresql(self, batch: Batch) -> None:
        """The batch as one autocommitted statement on the writer's own connection.

        Any failure drops the connection. A held connection that turns out dead (the server
        restarted, an idle timeout cut it) is not the audit log being unavailable: the batch
        is tried once more on a new connection — unless it is found committed after all. Any
        other failure is the caller's ``AuditUnavailable``, and the resync before the next
        batch reads back whether the statement committed.
        """
        reused = self._held is not None and self._held[0] is self._engine
        try:
            await self._execute_batch(await self._connection_for_batch(), batch)
        except Exception as error:
            await self._drop_connection()
            if not (reused and connection_lost(error)):
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

    async def _execute_batch(self, connection: AsyncConnection, batch: Batch) -> None:
        if not self._registered:
            await self._index.register(connection)
            self._registered = True
        statement = await self._batch_statement(connection)
        written = await statement.fetchrow(
            orjson.dumps(batch.entries).decode(), orjson.dumps(batch.checkpoints).decode()
        )
        if written is None or tuple(written) != (len(batch.entries), len(batch.checkpoints)):
            raise RuntimeError(f"the audit batch wrote {written}, not all of its rows")

    async def _batch_statement(self, connection: AsyncConnection) -> PreparedStatement:
        """The batch statement, prepared on the connection's asyncpg connection.

        It runs there directly rather than through SQLAlchemy: on an idle hub each request
        waits for exactly this statement, and SQLAlchemy's work around it (compiling, adapting
        parameters and rows, switching greenlets) was a tenth of a millisecond of it. The
        connection is in autocommit, so SQLAlchemy has no transaction there to keep track of.
        """
        driver = (await connection.get_raw_connection()).driver_connection
        if driver is None:
            raise RuntimeError("the audit writer's connection has no driver connection")
        if self._statement is None or self._statement[0] is not driver:
            self._statement = (driver, await driver.prepare(_BATCH_POSTGRESQL))
        return self._statement[1]

    async def _committed(self, connection: AsyncConnection, batch: Batch) -> bool:
        """Whether ``batch`` is already in the log (its statement ran before the loss)."""
        if batch.entries:
            last = batch.entries[-1]
            expected: str = last["hash"]
            found = await connection.scalar(
                select(AuditEntry.hash).where(
                    AuditEntry.writer_id == self.writer_id, AuditEntry.seq == last["seq"]
                )
            )
            return found == expected
        last = batch.checkpoints[-1]
        signature: str = last["signature"]
        found = await connection.scalar(
            select(AuditCheckpoint.signature).where(
                AuditCheckpoint.writer_id == self.writer_id,
                AuditCheckpoint.number == last["number"],
            )
        )
        return found == signature

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

    async def _release_connection(self) -> None:
        """Give the held connection back to the pool (it is healthy if it is still held)."""
        held, self._held = self._held, None
        self._statement = None
        if held is not None:
            with contextlib.suppress(Exception):
                await held[1].close()
