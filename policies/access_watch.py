"""Hearing about access changes instead of asking for them: PostgreSQL LISTEN/NOTIFY.

Without this, every request reads its principal, the principal's areas and the policy version
(one statement, a round trip to the database) so that a change made anywhere — ``gridhub
policy`` in another process, another hub worker, a hand-written ``DELETE`` — takes effect on the
next request. On PostgreSQL, triggers on ``principals``, ``principal_grids`` and
``policy_version`` (migration 0004) send a notification on the channel :data:`CHANNEL` when a
transaction that changed them commits; a :class:`AccessWatch` listens on one connection of its
own and bumps its :attr:`~AccessWatch.generation`, and :class:`policies.access.Access` keeps what
it read for a principal only as long as the generation it read it under is current.

It fails safe: while the listening connection is down (the database restarted, the network
dropped it) the watch is not :attr:`~AccessWatch.live`, nothing is kept, and every request reads
again; once it reconnects, the generation moves on (notifications may have been missed while
it was down), so nothing read before is used. A change reaches a running hub when PostgreSQL
delivers the notification, milliseconds after the commit. SQLite has no notifications: there,
every request reads (it is one process on one file, and the read is cheap).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import asyncpg
from sqlalchemy.engine import make_url

CHANNEL = "gridhub_access"
#: Seconds between checks that the listening connection is still there (and reconnects).
CHECK_EVERY = 2.0
log = logging.getLogger(__name__)


class AccessWatch:
    """The generation of the access tables as far as this process has heard."""

    def __init__(self, database_url: str) -> None:
        url = make_url(database_url)
        self._dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
        self.generation = 0
        self._connection: asyncpg.Connection | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def live(self) -> bool:
        """Whether notifications are being heard (else nothing may be kept)."""
        connection = self._connection
        return connection is not None and not connection.is_closed()

    async def start(self) -> None:
        """Listen (if the database answers; else keep trying in the background)."""
        await self._connect()
        self._task = asyncio.create_task(self._keep_listening(), name="gridhub-access-watch")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._drop()

    def _changed(self, *_: object) -> None:  # asyncpg passes connection, pid, channel, payload
        self.generation += 1

    async def _connect(self) -> None:
        try:
            connection = await asyncpg.connect(self._dsn, timeout=5)
            await connection.add_listener(CHANNEL, self._changed)
        except (OSError, asyncpg.PostgresError, TimeoutError) as error:
            log.warning("Not listening for access changes (reading per request): %s", error)
            return
        connection.add_termination_listener(self._lost)
        # Whatever was read before this connection listened may have changed unheard.
        self.generation += 1
        self._connection = connection

    def _lost(self, *_: object) -> None:  # asyncpg passes the connection
        self.generation += 1
        log.warning("Lost the access-change listener; reading per request until it is back")

    async def _drop(self) -> None:
        """Close the listening connection on purpose: first stop listening for its loss, which
        is then no loss (a clean shutdown does not warn of one)."""
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.remove_termination_listener(self._lost)
            if not connection.is_closed():
                with contextlib.suppress(Exception):
                    await connection.close(timeout=2)

    async def _keep_listening(self) -> None:
        while True:
            await asyncio.sleep(CHECK_EVERY)
            if not self.live:
                await self._drop()
                await self._connect()
