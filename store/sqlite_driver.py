"""The SQLite driver under the engine: aiosqlite, with one thread hop per statement.

aiosqlite runs every call on the SQLite connection in a thread of its own and hands each one
over through a queue: a thread switch there and back, which on a busy machine costs more than
the small statement itself. SQLAlchemy's stock adapter makes four such calls per statement
(open a cursor, execute, fetch the rows, close the cursor) and one more to roll back every
connection that goes back to the pool, though nothing was begun. This adapter makes one per
statement — the cursor is opened, run, read and closed in the SQLite thread in one call — and
rolls back or commits only while a transaction is open, so a request that reads a row and
writes its audit entry switches threads a handful of times instead of some twenty.

Everything else is the stock adapter's: the same ``sqlite3`` connection in the same thread,
the same errors, the same transactions (``sqlite3``'s implicit ``BEGIN`` before a write).
Server-side cursors (``AsyncConnection.stream``) keep the stock behaviour: they fetch in parts.
"""

from __future__ import annotations

import collections
import sqlite3
from typing import Any

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util import EMPTY_DICT
from sqlalchemy.util.concurrency import await_

__all__ = ["OneHopDbapi", "one_hop_dbapi"]

#: A statement's outcome as the SQLite thread hands it back: description, rows (None for a
#: statement that returns none), rowcount, lastrowid.
_Outcome = tuple[Any, list[Any] | None, int, int | None]


def _run(connection: sqlite3.Connection, operation: str, parameters: Any, many: bool) -> _Outcome:
    """In the SQLite thread: run one statement on a cursor of its own, read it out, close it."""
    cursor = connection.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else None
        return description, rows, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


class OneHopCursor(AsyncAdapt_aiosqlite_cursor):
    """A cursor that holds its statement's outcome rather than an aiosqlite cursor."""

    __slots__ = ("_description", "_rowcount", "_lastrowid")

    def __init__(self, adapt_connection: Any) -> None:  # no aiosqlite cursor: no hop
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> Any:
        return self._lastrowid

    @property
    def arraysize(self) -> int:
        return 1

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        pass

    def execute(self, operation: Any, parameters: Any = None) -> Any:
        try:
            return await_(self._run(operation, parameters, many=False))
        except Exception as error:
            self._adapt_connection._handle_exception(error)

    def executemany(self, operation: Any, seq_of_parameters: Any) -> Any:
        try:
            return await_(self._run(operation, seq_of_parameters, many=True))
        except Exception as error:
            self._adapt_connection._handle_exception(error)

    async def _run(self, operation: Any, parameters: Any, *, many: bool) -> None:
        driver: aiosqlite.Connection = self._connection  # type: ignore[assignment]
        async with self._adapt_connection._execute_mutex:
            outcome = await driver._execute(_run, driver._conn, operation, parameters, many)
        self._description, rows, self._rowcount, self._lastrowid = outcome
        self._rows = collections.deque(rows) if rows is not None else collections.deque()

    async def _async_soft_close(self) -> None:
        """Nothing to close: the SQLite cursor was closed in its thread."""

    def close(self) -> None:
        self._rows.clear()

    def setinputsizes(self, *inputsizes: Any) -> None:
        pass


class OneHopConnection(AsyncAdapt_aiosqlite_connection):
    """Opens :class:`OneHopCursor`; ends a transaction only when one is open."""

    __slots__ = ()

    _cursor_cls = OneHopCursor

    def _in_transaction(self) -> bool:
        """Whether the SQLite connection holds an open transaction (read without a hop:
        ``sqlite3_get_autocommit`` is safe from any thread)."""
        connection = self._connection._connection
        return connection is not None and connection.in_transaction

    def rollback(self) -> None:
        if self._in_transaction():
            super().rollback()

    def commit(self) -> None:
        if self._in_transaction():
            super().commit()


class OneHopDbapi(AsyncAdapt_aiosqlite_dbapi):
    """The DBAPI module the engine is given (``module=``): the stock one's connections, with
    :class:`OneHopConnection`'s behaviour."""

    def connect(self, *arg: Any, **kw: Any) -> AsyncAdapt_aiosqlite_connection:
        connection = super().connect(*arg, **kw)
        connection.__class__ = OneHopConnection
        return connection


def one_hop_dbapi() -> OneHopDbapi | None:
    """The adapter, or None where this aiosqlite lacks the call it relies on (the engine then
    keeps SQLAlchemy's stock adapter)."""
    if not callable(getattr(aiosqlite.Connection, "_execute", None)):
        return None
    return OneHopDbapi(aiosqlite, sqlite3)
