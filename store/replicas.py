"""PostgreSQL streaming replicas: which of them may answer reads now, and how far each has got.

A :class:`ReplicaSet` holds one engine per replica and checks them all every ``every`` seconds
(:meth:`ReplicaSet.check`): it samples the primary's WAL position (``pg_current_wal_lsn()``)
and asks each replica how far it has replayed (``pg_last_wal_replay_lsn()``). A replica is
**in rotation** while it answers and has replayed at least what the primary had written
``max_lag`` seconds ago; otherwise it is taken out (with the reason) and put back by a later
check once it answers and has caught up. A request that finds a replica failing takes it out at
once (:meth:`ReplicaSet.failed`); the next check decides whether it comes back.

Lag is judged by time, not bytes: the set keeps the primary's positions of the last
``max_lag`` seconds, so "lagging" means "has not yet replayed what the primary had ``max_lag``
seconds ago", whatever the write rate. An idle primary's position does not move, so an idle
replica stays in rotation.

:meth:`ReplicaSet.choose` picks a replica for one request, in turn among those in rotation;
given a WAL position (the caller's last write, for reading one's own writes) it picks only a
replica known to have replayed past it, or none (read the primary).

A server that is not in recovery is taken as the primary itself, at its own current position
(the tests point a "replica" at the primary's database; a promoted replica is not a replica any
more: remove it from the list).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = logging.getLogger(__name__)

#: The primary's position now, in bytes since 0/0.
PRIMARY_POSITION = text("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn")
#: A replica's replayed position (a server not in recovery: its own current position).
REPLICA_POSITION = text(
    "SELECT pg_is_in_recovery(), CASE WHEN pg_is_in_recovery()"
    " THEN pg_last_wal_replay_lsn() - '0/0'::pg_lsn"
    " ELSE pg_current_wal_lsn() - '0/0'::pg_lsn END"
)

Clock = Callable[[], float]


def replica_name(url: str) -> str:
    """How logs and metrics name a replica: host, port and database, never a password."""
    parsed = make_url(url)
    return f"{parsed.host or 'localhost'}:{parsed.port or 5432}/{parsed.database or ''}"


def format_lsn(position: int) -> str:
    """A WAL position as PostgreSQL writes it (``16/B374D848``)."""
    return f"{position >> 32:X}/{position & 0xFFFFFFFF:X}"


async def primary_position(connection: AsyncConnection) -> int:
    """Where the primary's WAL is now: every transaction committed before this call ends at or
    before it (what a replica must have replayed for a reader to see those commits)."""
    return int(await connection.scalar(PRIMARY_POSITION) or 0)


@dataclass
class Replica:
    """One replica: its engine, and what the last check (or failed request) found."""

    name: str
    engine: AsyncEngine
    #: Whether reads may go to it. Out until a first check finds it caught up.
    in_rotation: bool = False
    #: The WAL position it had replayed at the last check that reached it (None: never reached).
    replayed: int | None = None
    #: Why it is out of rotation (None while in).
    reason: str | None = "not checked yet"
    #: Monotonic time of the last change in or out of rotation.
    since: float = 0.0


@dataclass
class ReplicaSet:
    """The replicas of one primary, checked in the background (see the module doc)."""

    primary: AsyncEngine
    replicas: list[Replica]
    #: Seconds of the primary's writes a replica may be behind and still answer reads.
    max_lag: float = 5.0
    #: Seconds between checks.
    every: float = 1.0
    #: Seconds a check waits for one server before counting it unreachable.
    timeout: float = 2.0
    clock: Clock = time.monotonic
    #: Called with a replica whenever it goes in or out of rotation (metrics, logs).
    on_change: Callable[[Replica], None] | None = None
    _positions: deque[tuple[float, int]] = field(default_factory=deque, init=False)
    _turn: int = field(default=0, init=False)
    _task: asyncio.Task[None] | None = field(default=None, init=False)

    @classmethod
    def of(
        cls,
        primary: AsyncEngine,
        replicas: Iterable[tuple[str, AsyncEngine]],
        **options: object,
    ) -> ReplicaSet:
        members = [Replica(name, engine) for name, engine in replicas]
        return cls(primary, members, **options)  # type: ignore[arg-type]

    # Choosing

    @property
    def in_rotation(self) -> list[Replica]:
        return [replica for replica in self.replicas if replica.in_rotation]

    def choose(self, after: int | None = None) -> Replica | None:
        """A replica for the next read, in turn among those in rotation; with ``after`` (a WAL
        position), only one known to have replayed at least that far. None: read the primary."""
        count = len(self.replicas)
        for step in range(count):
            replica = self.replicas[(self._turn + step) % count]
            if not replica.in_rotation:
                continue
            if after is not None and (replica.replayed is None or replica.replayed < after):
                continue
            self._turn = (self._turn + step + 1) % count
            return replica
        return None

    def failed(self, replica: Replica, error: BaseException) -> None:
        """A request found ``replica`` failing: out of rotation until a check finds it well."""
        self._set(replica, False, f"failed a request ({type(error).__name__})")

    # Checking

    async def check(self) -> None:
        """One round: sample the primary's position, then ask every replica how far it has
        replayed, and put each in or out of rotation."""
        now = self.clock()
        try:
            async with asyncio.timeout(self.timeout):
                async with self.primary.connect() as connection:
                    position = await primary_position(connection)
        except Exception as error:  # the primary's outage is the hub's to report, not ours
            log.debug("Replica check: the primary's position is unknown: %s", error)
        else:
            self.sampled(now, position)
        horizon = self.horizon(now)
        await asyncio.gather(*(self._check_one(replica, horizon) for replica in self.replicas))

    def sampled(self, at: float, position: int) -> None:
        """The primary's WAL was at ``position`` at (monotonic) time ``at``."""
        self._positions.append((at, position))

    def horizon(self, now: float) -> int | None:
        """The primary's position ``max_lag`` seconds ago (the oldest known, if none is that
        old yet): what a replica must have replayed to be in rotation. Older samples go."""
        positions = self._positions
        while len(positions) > 1 and positions[1][0] <= now - self.max_lag:
            positions.popleft()
        return positions[0][1] if positions else None

    async def _check_one(self, replica: Replica, horizon: int | None) -> None:
        try:
            async with asyncio.timeout(self.timeout):
                async with replica.engine.connect() as connection:
                    row = (await connection.execute(REPLICA_POSITION)).one()
        except Exception as error:
            self._set(replica, False, f"unreachable ({type(error).__name__})")
            return
        self.judge(replica, None if row[1] is None else int(row[1]), horizon)

    def judge(self, replica: Replica, replayed: int | None, horizon: int | None) -> None:
        """Put ``replica`` in or out of rotation by how far it has ``replayed``: in when it has
        replayed at least the ``horizon`` (:meth:`horizon`)."""
        replica.replayed = replayed
        if replayed is None:
            self._set(replica, False, "has not replayed anything yet")
        elif horizon is not None and replayed < horizon:
            self._set(replica, False, f"more than {self.max_lag:g} s behind the primary")
        else:
            self._set(replica, True, None)

    def _set(self, replica: Replica, in_rotation: bool, reason: str | None) -> None:
        changed = replica.in_rotation != in_rotation
        replica.in_rotation, replica.reason = in_rotation, reason
        if not changed:
            return
        replica.since = self.clock()
        if in_rotation:
            log.warning("Read replica %s is in rotation", replica.name)
        else:
            log.warning("Read replica %s is out of rotation: %s", replica.name, reason)
        if self.on_change is not None:
            self.on_change(replica)

    # Running

    async def start(self) -> None:
        """Check once (so replicas that are well answer from the first request), then keep
        checking in the background."""
        await self.check()
        self._task = asyncio.create_task(self._keep_checking(), name="gridhub-replica-checks")

    async def _keep_checking(self) -> None:
        while True:
            await asyncio.sleep(self.every)
            try:
                await self.check()
            except Exception:  # never let one bad round stop the checks
                log.exception("Checking the read replicas failed")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for replica in self.replicas:
            await replica.engine.dispose()
