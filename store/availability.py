"""Whether the database can be reached, and this process's memory of when it could not.

A request that finds the database unreachable — a refused or dropped connection, a connect or
statement timeout, a server shutting down, a SQLite file that can not be opened, a read
replica cancelling a query for a conflict with recovery — must be told
apart from a fault of the hub's: the first is answered 503 and retried, the second is a bug.
:func:`is_unavailable` tells them apart; :class:`DatabaseState` remembers a failure so that for
the next ``retry_seconds`` requests are refused before any statement (a database that hangs
instead of refusing then costs one connect timeout a second, not one per request); the first
checkout the pool's pre-ping accepts marks it up again.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable
from typing import Any

import asyncpg
from sqlalchemy import event
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine

from store.errors import GridhubError

log = logging.getLogger(__name__)

SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
#: SQLSTATEs a hot standby cancels a query with when replaying WAL conflicts with it (rows it
#: reads were vacuumed on the primary, a lock the primary took): the replica could not answer
#: now; the hub reads the primary instead (hub.read_routing).
_RECOVERY_CONFLICTS = frozenset({"40001", "40P01"})
#: SQLite's messages for a file it can not use (the rest of its errors are the hub's own faults).
_SQLITE_UNAVAILABLE = ("unable to open", "database is locked", "disk i/o", "readonly database")


class ServiceUnavailable(GridhubError):
    """The database can not be reached; try again shortly."""

    code = SERVICE_UNAVAILABLE

    def __init__(
        self, message: str = "The service is unavailable for a moment; retry shortly."
    ) -> None:
        super().__init__(message)


def is_unavailable(error: BaseException) -> bool:
    """Whether ``error`` (or what caused it) says the database could not be reached or did not
    answer in time, as opposed to a fault of the hub's (which stays a 500 in the log)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ServiceUnavailable | DisconnectionError | PoolTimeout):
            return True
        if isinstance(current, DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(
            current,
            OSError
            | TimeoutError
            | asyncpg.PostgresConnectionError
            | asyncpg.InterfaceError
            | asyncpg.CannotConnectNowError
            | asyncpg.AdminShutdownError
            | asyncpg.CrashShutdownError
            | asyncpg.QueryCanceledError
            | asyncpg.ReadOnlySQLTransactionError,
        ):
            return True
        if (
            getattr(current, "sqlstate", None) in _RECOVERY_CONFLICTS
            and "recovery" in str(current).lower()
        ):
            return True  # a read replica cancelled the query: replaying conflicted with it
        if isinstance(current, sqlite3.OperationalError) and str(current).lower().startswith(
            _SQLITE_UNAVAILABLE
        ):
            return True
        orig = getattr(current, "orig", None)
        if isinstance(orig, BaseException):
            current = orig
        else:
            current = current.__cause__ or current.__context__
    return False


class DatabaseState:
    """What this process last saw of its database (see the module doc)."""

    def __init__(self, retry_seconds: float = 1.0, clock: Callable[[], float] = time.monotonic):
        self.retry_seconds = retry_seconds
        self._clock = clock
        self.down_since: float | None = None
        self.last_failure = 0.0
        self.reason: str | None = None

    @property
    def up(self) -> bool:
        return self.down_since is None

    @property
    def refusing(self) -> bool:
        """Down, and tried less than ``retry_seconds`` ago: refuse without trying."""
        return (
            self.down_since is not None and self._clock() - self.last_failure < self.retry_seconds
        )

    def failed(self, error: BaseException) -> None:
        now = self._clock()
        if self.down_since is None:
            self.down_since = now
            log.warning("The database is unavailable: %s", error)
        self.last_failure = now
        self.reason = f"{type(error).__name__}: {error}"[:200]

    def succeeded(self) -> None:
        if self.down_since is not None:
            log.warning("The database is back after %.1f s", self._clock() - self.down_since)
        self.down_since = None
        self.reason = None

    def watch(self, engine: AsyncEngine) -> None:
        """Mark the database up whenever the engine hands out a connection that works (the
        pool pre-pings it on checkout)."""
        event.listen(engine.sync_engine, "engine_connect", self._connected)

    def _connected(self, *_: Any) -> None:
        if self.down_since is not None:
            self.succeeded()


#: Probes still cleaning up after their deadline (kept so the loop does not drop them).
_ABANDONED: set[asyncio.Task[str | None]] = set()
#: What a probe leaves of its deadline for the answer to leave the process.
_ANSWER_MARGIN = 0.2


async def probe(engine: AsyncEngine, seconds: float) -> str | None:
    """Whether the database answers and takes writes within ``seconds``: None if so, else why
    not — said within ``seconds`` whatever the database does.

    The check runs as a task of its own that is left behind at the deadline: cancelling a
    connection that hangs makes SQLAlchemy and asyncpg close it, and that close waits on the
    same silent server (it took a 5 s probe to 7 s); the task finishes its cleanup on its own.
    """
    budget = max(seconds - _ANSWER_MARGIN, seconds / 2)
    task = asyncio.ensure_future(_probe(engine))
    done, _ = await asyncio.wait({task}, timeout=budget)
    if task in done:
        return task.result()
    task.cancel()
    _ABANDONED.add(task)
    task.add_done_callback(_forget)
    return "the database is unreachable (no answer in time)"


def _forget(task: asyncio.Task[str | None]) -> None:
    _ABANDONED.discard(task)
    if not task.cancelled():
        task.exception()  # retrieved: a late failure is expected, not an unhandled one


async def _probe(engine: AsyncEngine) -> str | None:
    from sqlalchemy import text

    try:
        async with engine.connect() as connection:
            if connection.dialect.name == "postgresql":
                writable = await connection.scalar(
                    text(
                        "SELECT NOT pg_is_in_recovery()"
                        " AND current_setting('transaction_read_only') = 'off'"
                    )
                )
                if not writable:
                    return "the database is read-only"
            else:
                await connection.execute(text("SELECT 1"))
    except Exception as error:
        if not is_unavailable(error) and not isinstance(error, DBAPIError):
            raise
        return f"the database is unreachable ({type(error).__name__})"
    return None
