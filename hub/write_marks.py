"""Reading one's own writes: where in the primary's WAL each principal's last write ended.

After a request that writes (a GraphQL mutation), the hub notes the primary's WAL position
(``pg_current_wal_lsn()``, taken after the write committed) against the principal's subject; a
later read of that principal goes only to a replica known to have replayed past it, else to
the primary (:meth:`store.replicas.ReplicaSet.choose`). A mark is kept for
:data:`MARK_SECONDS`: by then every replica in rotation has replayed far past it (one that
lags more than ``GRIDHUB_REPLICA_MAX_LAG`` is out of rotation).

**Where the marks live.** In one process, in a bounded dictionary. With ``GRIDHUB_REDIS_URL``
set (as it is wherever several hub processes share the rate limits), also in Redis, so that a
principal whose write went through one process and whose next read goes to another still reads
its write. A mark only moves forward (one Lua step). If Redis can not be asked, the hub can not
know whether another process took a write of this principal, so the read goes to the primary
(safe, and what a hub without replicas does for every read); Redis is asked again a second
later.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

#: Seconds a principal's write mark is kept.
MARK_SECONDS = 300.0
#: Most principals whose marks a process keeps in memory.
MAX_MARKS = 100_000
#: Seconds the marks stay away from Redis after it failed.
REDIS_RETRY_SECONDS = 1.0
#: A position past every real one: "this principal wrote, where is not known" (the primary).
UNKNOWN = 1 << 63

#: Keep the greater of the stored and the new position; KEYS[1] the mark, ARGV position, ms.
_FORWARD_LUA = """
local old = tonumber(redis.call('GET', KEYS[1]) or '0')
local new = tonumber(ARGV[1])
if new > old then old = new end
redis.call('SET', KEYS[1], string.format('%.0f', old), 'PX', ARGV[2])
return 1
"""

Clock = Callable[[], float]


class UnknownMark(Exception):
    """The marks could not be asked (Redis is down): read the primary."""


class WriteMarks:
    """Each principal's last write position, in memory and, if given, in Redis."""

    def __init__(
        self,
        redis_url: str | None = None,
        prefix: str = "gridhub:",
        *,
        seconds: float = MARK_SECONDS,
        max_marks: int = MAX_MARKS,
        clock: Clock = time.monotonic,
        timeout: float = 0.5,
    ) -> None:
        self._local: OrderedDict[str, tuple[int, float]] = OrderedDict()
        self._seconds = seconds
        self._max = max_marks
        self._clock = clock
        self._prefix = prefix + "wrote:"
        self._redis: Any = None
        self._forward: Any = None
        self._redis_down_until = 0.0
        if redis_url:
            from redis.asyncio import Redis

            self._redis = Redis.from_url(
                redis_url,
                socket_timeout=timeout,
                socket_connect_timeout=timeout,
                client_name="gridhub-write-marks",
            )
            self._forward = self._redis.register_script(_FORWARD_LUA)

    @property
    def shared(self) -> bool:
        """Whether marks are shared with other processes (through Redis)."""
        return self._redis is not None

    async def wrote(self, subject: str, position: int) -> None:
        """``subject``'s write ended at ``position`` (:data:`UNKNOWN` if it could not be read)."""
        now = self._clock()
        old = self._live(subject, now)
        self._local[subject] = (max(position, old or 0), now + self._seconds)
        self._local.move_to_end(subject)
        while len(self._local) > self._max:
            self._local.popitem(last=False)
        if self._redis is None:
            return
        from redis.exceptions import RedisError

        try:  # tried even just after Redis failed: writes are rare, and a lost mark matters
            await self._forward(
                keys=[self._prefix + subject], args=[str(position), int(self._seconds * 1000)]
            )
        except (RedisError, OSError) as error:
            self._redis_failed(error)

    async def position(self, subject: str) -> int | None:
        """Where ``subject``'s last write ended, if it wrote in the last :data:`MARK_SECONDS`;
        :class:`UnknownMark` if that can not be known now (Redis is down)."""
        now = self._clock()
        local = self._live(subject, now)
        if self._redis is None:
            return local
        if now < self._redis_down_until:
            raise UnknownMark(subject)
        from redis.exceptions import RedisError

        try:
            stored = await self._redis.get(self._prefix + subject)
        except (RedisError, OSError) as error:
            self._redis_failed(error)
            raise UnknownMark(subject) from error
        shared = None if stored is None else int(stored)
        if local is None:
            return shared
        return local if shared is None else max(local, shared)

    def _live(self, subject: str, now: float) -> int | None:
        kept = self._local.get(subject)
        if kept is None:
            return None
        if kept[1] <= now:
            del self._local[subject]
            return None
        return kept[0]

    def _redis_failed(self, error: BaseException) -> None:
        now = self._clock()
        if now >= self._redis_down_until:
            log.warning("Write marks: Redis unreachable, reads go to the primary: %s", error)
        self._redis_down_until = now + REDIS_RETRY_SECONDS

    async def aclose(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
