"""Following events as they change: one change detector per process, fanned out to its streams.

Department apps and grid workers' apps subscribe to "events dispatched to my department" and
"events in my grid" instead of polling the whole list. Every writer of an event sets its
``updated_at``; this module turns those changes into the ids of changed events, once per
process, and hands them to every open stream (:class:`Subscriber`), which then reads the ones
it may deliver under its caller's plan, freshly compiled for each delivery (:func:`deliverable`).

How changes are heard:

- **PostgreSQL**: statement-level triggers on ``events`` (migration 0019) ``NOTIFY`` the
  channel :data:`CHANNEL` with the changed ids when the writing transaction commits (``*`` for
  a statement that changed very many). :class:`EventFeed` listens on one connection of its own;
  on ``*``, and whenever the listening connection is (re)made, it reads what changed by
  ``updated_at`` instead, so nothing committed while it was not listening is lost. While the
  connection is down it reads by ``updated_at`` every :attr:`EventFeed.poll_seconds`.
- **SQLite** has no notifications: the feed reads ``updated_at`` every ``poll_seconds``. It
  reads :data:`LOOKBACK` behind the newest change it has seen and remembers which (id,
  ``updated_at``) pairs it handed out, so a transaction that stamped its rows a moment before
  it committed is still heard, and heard once.

Streams are ended (not cut) when the server stops: :func:`server_stopping` ends every stream of
the process so that each can send its last message and close, before the server waits for its
connections to finish.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from sqlalchemy import Row, func, or_, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from policies import row_scope as scoping
from policies.areas import check_area_code, under_area
from policies.field_rules import Plan
from resolvers.resources import EVENTS
from store.errors import BadUserInput, Forbidden

CHANNEL = "gridhub_events"
#: The payload of a notification that names no ids: read what changed by ``updated_at``.
EVERYTHING = "*"
#: How far behind the newest change seen a poll reads again (a writer's stamp may be a moment
#: older than its commit).
LOOKBACK = timedelta(seconds=5)
#: Seconds between checks that the listening connection (PostgreSQL) is still there.
CHECK_EVERY = 2.0
#: Most ids one statement puts in ``IN (…)`` (SQLite binds at most 32,766 values).
CHUNK = 1000
#: Most deliveries one process reads at once: each holds a pooled connection while it compiles
#: the plan and reads, and the plan's compilation may take another; bounded well under the
#: pool's size so that many streams woken by one change queue here, not in the pool.
DELIVERING_AT_ONCE = 6
#: Most changed ids a stream holds undelivered: a stream that falls this far behind is ended
#: (its client reconnects and catches up with ``changedSince``) rather than holding memory.
MOST_PENDING = 50_000

log = logging.getLogger(__name__)
#: Every feed of the process, for :func:`server_stopping`.
_FEEDS: weakref.WeakSet[EventFeed] = weakref.WeakSet()


class Ended(Exception):
    """Raised by :meth:`Subscriber.changes` once the stream has to end (see ``reason``)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


#: Why a stream ended: the server stops, or the stream fell too far behind.
SERVER_STOPPING = "SERVER_STOPPING"
STREAM_OVERFLOW = "STREAM_OVERFLOW"


class Subscriber:
    """One stream's inbox: the ids of the events changed since it last looked."""

    def __init__(self, feed: EventFeed) -> None:
        self._feed = feed
        self._pending: set[int] = set()
        self._wake = asyncio.Event()
        self._ended: str | None = None

    def push(self, ids: set[int]) -> None:
        if self._ended is not None:
            return
        self._pending |= ids
        if len(self._pending) > MOST_PENDING:
            self._pending.clear()
            self.end(STREAM_OVERFLOW)
        self._wake.set()

    def end(self, reason: str) -> None:
        if self._ended is None:
            self._ended = reason
        self._wake.set()

    async def changes(self, within: float) -> set[int]:
        """The ids changed since the last call, waiting up to ``within`` seconds for some
        (an empty set when none came: time for a heartbeat); :class:`Ended` once it ends."""
        if not self._pending and self._ended is None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(within):
                    await self._wake.wait()
        self._wake.clear()
        if self._ended is not None:
            raise Ended(self._ended)
        found, self._pending = self._pending, set()
        return found

    def close(self) -> None:
        """Leave the feed (the stream is over); nothing is pushed to it any more."""
        self._ended = self._ended or "closed"
        self._feed._subscribers.discard(self)


class EventFeed:
    """The process's change detector for ``events`` and its open streams."""

    def __init__(
        self, engine: AsyncEngine, database_url: str | None = None, poll_seconds: float = 0.5
    ) -> None:
        self._engine = engine
        self.poll_seconds = poll_seconds
        self._listen = engine.dialect.name == "postgresql"
        self._dsn = None
        if self._listen:
            url = make_url(database_url or engine.url)
            self._dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._connection: asyncpg.Connection | None = None
        self._subscribers: set[Subscriber] = set()
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._stopping = False
        #: Held by a stream while it reads a delivery (see :data:`DELIVERING_AT_ONCE`).
        self.delivering = asyncio.Semaphore(DELIVERING_AT_ONCE)
        #: The newest ``updated_at`` seen, and the (id, updated_at) pairs handed out within
        #: :data:`LOOKBACK` of it.
        self._newest: datetime | None = None
        self._seen: dict[tuple[int, datetime], None] = {}
        #: Whether where the changes stood at the start has been read (nothing before is new).
        self._primed = False
        _FEEDS.add(self)

    @property
    def listening(self) -> bool:
        """Whether notifications are being heard (PostgreSQL); else the feed polls."""
        connection = self._connection
        return connection is not None and not connection.is_closed()

    @property
    def streams(self) -> int:
        return len(self._subscribers)

    async def start(self) -> None:
        """Note where the changes stand now (nothing before is delivered), then follow them."""
        try:
            async with self._engine.connect() as connection:
                self._newest = await _newest(connection)
                await self._read_changes(connection, deliver=False)
            self._primed = True
        except Exception as error:  # the database is away: the first read that works primes
            log.warning("Could not read where event changes stand (trying again): %s", error)
        if self._listen:
            await self._connect()
        self._task = asyncio.create_task(self._follow(), name="gridhub-event-feed")

    def subscribe(self) -> Subscriber:
        subscriber = Subscriber(self)
        if self._stopping:
            subscriber.end(SERVER_STOPPING)
        else:
            self._subscribers.add(subscriber)
        return subscriber

    def stop_streams(self) -> None:
        """End every stream (the server stops): each sends its last message and closes."""
        self._stopping = True
        for subscriber in list(self._subscribers):
            subscriber.end(SERVER_STOPPING)

    async def close(self) -> None:
        self.stop_streams()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._drop()
        _FEEDS.discard(self)

    # -- hearing changes ------------------------------------------------------------------------

    def _fan_out(self, ids: set[int]) -> None:
        if ids:
            for subscriber in list(self._subscribers):
                subscriber.push(ids)

    def _heard(self, _connection: object, _pid: int, _channel: str, payload: object) -> None:
        if not isinstance(payload, str):
            return
        if payload == EVERYTHING:
            self._wake.set()  # read what changed by updated_at
            return
        try:
            ids = {int(part) for part in payload.split(",") if part}
        except ValueError:
            log.warning("Ignored a malformed %s notification", CHANNEL)
            return
        self._fan_out(ids)

    async def _follow(self) -> None:
        """Poll (SQLite; PostgreSQL while not listening, or when told ``*``); on PostgreSQL,
        check the listening connection every :data:`CHECK_EVERY` seconds and remake it."""
        while True:
            if self._listen and self.listening:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(CHECK_EVERY):
                        await self._wake.wait()
                if not self._wake.is_set() and self.listening:
                    continue
            else:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.poll_seconds):
                        await self._wake.wait()
            self._wake.clear()
            if self._listen and not self.listening:
                await self._drop()
                await self._connect()
            try:
                async with self._engine.connect() as connection:
                    if not self._primed:
                        self._newest = await _newest(connection)
                    await self._read_changes(connection, deliver=self._primed)
                self._primed = True
            except Exception as error:  # the database is away: try again next round
                log.warning("Could not read changed events: %s", error)

    async def _read_changes(self, connection: AsyncConnection, deliver: bool = True) -> None:
        """Hand out the events changed since the newest change seen (less :data:`LOOKBACK`)
        that were not handed out already."""
        table = EVENTS.table
        statement = select(table.c.id, table.c.updated_at)
        if self._newest is not None:
            statement = statement.where(table.c.updated_at > _read_from(self._newest))
        fresh: set[int] = set()
        for key, at in (await connection.execute(statement)).all():
            if (key, at) not in self._seen:
                self._seen[(key, at)] = None
                fresh.add(key)
            if self._newest is None or at > self._newest:
                self._newest = at
        if self._newest is not None:
            horizon = self._newest - LOOKBACK
            self._seen = {pair: None for pair in self._seen if pair[1] > horizon}
        if deliver:
            self._fan_out(fresh)

    async def _connect(self) -> None:
        assert self._dsn is not None
        try:
            connection = await asyncpg.connect(self._dsn, timeout=5)
            await connection.add_listener(CHANNEL, self._heard)
        except (OSError, asyncpg.PostgresError, TimeoutError) as error:
            log.warning("Not listening for event changes (polling): %s", error)
            return
        connection.add_termination_listener(self._lost)
        self._connection = connection
        self._wake.set()  # what committed while nobody listened is read by updated_at

    def _lost(self, *_: object) -> None:
        log.warning("Lost the event-change listener; polling until it is back")
        self._wake.set()

    async def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.remove_termination_listener(self._lost)
            if not connection.is_closed():
                with contextlib.suppress(Exception):
                    await connection.close(timeout=2)


def _read_from(newest: datetime, now: datetime | None = None) -> datetime:
    """Where a poll starts reading: :data:`LOOKBACK` behind the newest change seen, but not
    further back than twice that behind the clock. A write still committing was stamped a moment
    ago; reading from ``newest - LOOKBACK`` whatever the time read every row of a bulk load (the
    demo's events share one stamp) again at every poll, for ever."""
    now = now or datetime.now(UTC)
    return min(newest, max(newest - LOOKBACK, now - 2 * LOOKBACK))


async def _newest(connection: AsyncConnection) -> datetime | None:
    table = EVENTS.table
    found: datetime | None = (
        await connection.execute(select(func.max(table.c.updated_at)))
    ).scalar_one()
    if found is not None:
        # func.max loses the column's type on SQLite: read back through it
        found = table.c.updated_at.type.process_result_value(found, connection.dialect)  # type: ignore[attr-defined]
    return found


def server_stopping() -> None:
    """End every stream of this process: the server is stopping (``hub.http_protocol`` calls
    this when uvicorn starts its graceful shutdown, before it waits for connections)."""
    for feed in list(_FEEDS):
        feed.stop_streams()


# -- what one stream delivers -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Scope:
    """The events a subscription follows, before the plan cuts them: those handled by one
    department, or those under some areas (a grid worker's grids, a community's or street's
    staff's area)."""

    department: str | None = None
    areas: tuple[str, ...] | None = None


#: The subscription fields (GraphQL names) and what each follows.
DEPARTMENT = "eventsDispatchedToMyDepartment"
GRID = "eventsInMyGrid"
SUBSCRIPTIONS = (DEPARTMENT, GRID)


def scope_of(
    field: str, arguments: dict[str, Any], department: str | None, areas: Sequence[str]
) -> Scope:
    """What subscribing to ``field`` follows for a principal of ``department`` assigned
    ``areas``: FORBIDDEN for a principal without a department, or without areas, or asking
    for an area outside its own; BAD_USER_INPUT for a code that is no area code."""
    if field == DEPARTMENT:
        if not department:
            raise Forbidden("Only a principal of a department follows its department's events")
        return Scope(department=department)
    if field == GRID:
        if not areas:
            raise Forbidden("Only a principal assigned grids or an area follows events there")
        wanted = arguments.get("gridCode")
        if wanted is None:
            return Scope(areas=tuple(areas))
        check_area_code(wanted)
        if not any(wanted.startswith(area) for area in areas):
            raise Forbidden(f"Area {wanted} is not under your areas", gridCode=wanted)
        return Scope(areas=(wanted,))
    raise BadUserInput(
        f"{field} is not a subscription: subscribe to one of {', '.join(SUBSCRIPTIONS)}"
    )


async def deliverable(
    connection: AsyncConnection, plan: Plan, scope: Scope, ids: set[int]
) -> list[Row[Any]]:
    """The changed events ``ids`` that the stream follows and the plan shows, by id: the
    plan's row predicate is in the statement (site ``stream.events``)."""
    table = EVENTS.table
    where = scoping.row_scope(plan, "stream.events", "events", table.c.grid_code)
    if scope.department is not None:
        where.append(table.c.handling_department_code == scope.department)
    if scope.areas is not None:
        where.append(or_(*(under_area(table.c.grid_code, area) for area in scope.areas)))
    found: list[Row[Any]] = []
    ordered = sorted(ids)
    for start in range(0, len(ordered), CHUNK):
        chunk = ordered[start : start + CHUNK]
        statement = select(table).where(table.c.id.in_(chunk), *where).order_by(table.c.id)
        found.extend((await connection.execute(statement)).all())
    return found
