"""Rate limits: a token bucket per client and per person, in memory or shared through Redis.

A bucket holds up to ``burst`` tokens and gains ``rate`` tokens a second; each request takes
one, and a request that finds the bucket empty is refused with HTTP 429 and ``Retry-After`` (the
whole seconds until a token is there, at least 1). The check runs right after the token is
verified and before the query is parsed or planned, so a refused request costs no database
statement but its audit entry (outcome ``denied``, code ``RATE_LIMITED``).

**Whose bucket.** A department app's requests take from its OAuth client's bucket
(``client:<client_id>``); a person's from their subject's (``person:<subject>``). The limit is
chosen by principal kind (``GRIDHUB_RATE_LIMIT_CLIENT_*``, ``GRIDHUB_RATE_LIMIT_PERSON_*``) or,
for one principal, by ``GRIDHUB_RATE_LIMIT_PRINCIPALS``. Not by role: roles live in the
database, and a limit that has to read the database to decide can not protect it.
``POST /oauth/token`` has two more: per client id tried, and per client address, so a guesser
of secrets is slowed whichever of the two it varies (each guess costs the hub a scrypt hash).

**Where the buckets live.** In one process, in a dictionary bounded by
``GRIDHUB_RATE_LIMIT_BUCKETS``: a bucket that has refilled to full is the same as no bucket, so
it is dropped; past the bound the least recently used one goes. With ``GRIDHUB_REDIS_URL`` set,
every process takes from the same buckets in Redis, through one Lua script that refills and
takes atomically on Redis's own clock (hub processes' clocks may differ). If Redis can not be
reached the limiter **fails open to the process's own buckets** — each process then enforces
the budget's rate alone, its buckets empty when the outage began, so the whole hub allows up to
(processes × rate) and no extra burst — and tries Redis again a second later: a Redis outage
must not become a hub outage, and a per-process limit still stands. A dropped connection
(Redis restarted) is retried once on a new one before anything falls back.
"""

from __future__ import annotations

import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import orjson
from starlette.responses import Response

from audit.record import Outcome
from hub.settings import RateLimit, Settings

if TYPE_CHECKING:
    from auth.principal import Identity
    from hub.audit_facts import Facts

log = logging.getLogger(__name__)

RATE_LIMITED = "RATE_LIMITED"
#: Seconds the limiter keeps to its own buckets after Redis failed, before asking it again.
REDIS_RETRY_SECONDS = 1.0
Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class Admission:
    """A bucket's answer to one request: admitted, or refused until ``retry_after``."""

    allowed: bool
    retry_after: float = 0.0  # seconds until a token is there (0 when allowed)

    @property
    def retry_after_header(self) -> str:
        """``Retry-After`` in whole seconds, rounded up, at least 1 (RFC 9110 §10.2.3)."""
        return str(max(1, math.ceil(self.retry_after)))


class Limiter(Protocol):
    async def take(self, key: str, limit: RateLimit) -> Admission: ...

    async def aclose(self) -> None: ...


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float
    full_at: float  # when it will have refilled to ``burst``: from then on, no bucket will do


class MemoryLimiter:
    """Token buckets in this process, at most ``max_buckets`` of them.

    ``clock`` is monotonic seconds (tests pass one they move on instead of sleeping).
    ``start_empty``: every bucket was empty when the limiter started (or was last
    :meth:`clear`-ed) and has filled at its rate since, instead of starting with its burst.
    That is the fallback's way (:class:`RedisLimiter`): the shared bucket in Redis may have been
    spent already, and a full bucket in each of N processes would hand out N bursts the moment
    Redis goes away. Such buckets are never dropped for being full (a full bucket is no longer
    the same as none), only past the bound.
    """

    def __init__(
        self,
        max_buckets: int = 100_000,
        clock: Clock = time.monotonic,
        *,
        start_empty: bool = False,
    ) -> None:
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self._max = max_buckets
        self._clock = clock
        self._start_empty = start_empty
        self._empty_since = clock()

    def __len__(self) -> int:
        return len(self._buckets)

    async def take(self, key: str, limit: RateLimit) -> Admission:
        return self.take_now(key, limit)

    def take_now(self, key: str, limit: RateLimit) -> Admission:
        now = self._clock()
        self._evict(now)
        bucket = self._buckets.pop(key, None)
        if bucket is None and self._start_empty:
            tokens = min(float(limit.burst), (now - self._empty_since) * limit.rate)
        elif bucket is None:
            tokens = float(limit.burst)
        elif now >= bucket.full_at:
            tokens = float(limit.burst)
        else:
            tokens = min(limit.burst, bucket.tokens + (now - bucket.at) * limit.rate)
        if tokens >= 1:
            tokens -= 1
            admission = Admission(True)
        else:
            admission = Admission(False, (1 - tokens) / limit.rate)
        full_at = now + (limit.burst - tokens) / limit.rate
        self._buckets[key] = _Bucket(tokens, now, full_at)  # the most recently used go last
        return admission

    def _evict(self, now: float) -> None:
        """Drop buckets that are full again (from the least recently used end: a few per call,
        so the cost stays constant) and, past the bound, the least recently used."""
        buckets = self._buckets
        for _ in range(0 if self._start_empty else 4):
            if not buckets:
                return
            key, oldest = next(iter(buckets.items()))
            if now < oldest.full_at:
                break
            del buckets[key]
        while len(buckets) >= self._max:
            buckets.popitem(last=False)

    def clear(self) -> None:
        """Forget every bucket: from now on they count as empty (``start_empty``) or full."""
        self._buckets.clear()
        self._empty_since = self._clock()

    async def aclose(self) -> None:
        self._buckets.clear()


#: Refill and take in one step on Redis's clock. KEYS[1] the bucket; ARGV rate, burst.
#: Returns {1, "0"} when a token was taken, else {0, seconds until one is there}; the bucket
#: expires once it would be full again, so idle buckets cost Redis nothing.
TOKEN_BUCKET_LUA = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1])
local at = tonumber(state[2])
if tokens == nil or at == nil then
  tokens = burst
else
  tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
end
local allowed = 0
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
else
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / rate * 1000) + 1000)
return {allowed, tostring(wait)}
"""


class RedisLimiter:
    """Buckets shared by every process through Redis; the process's own when Redis fails.

    A command that finds its pooled connection dropped (Redis restarted, a proxy or Redis's
    own ``timeout`` closed it) is sent once more on a new connection before anything falls
    back: after a restart every pooled connection is stale, and without the retry each one
    would cost a fallback (and a second of the process's own buckets) in turn. A command that
    times out is not retried: Redis is slow or gone, and a second wait would only double the
    delay. The fallback's buckets start empty (:class:`MemoryLimiter`), and are emptied each
    time the limiter falls back, so an outage hands out no burst.
    """

    def __init__(
        self,
        url: str,
        prefix: str,
        fallback: MemoryLimiter,
        timeout: float = 0.5,
        on_error: Callable[[], None] | None = None,
        client_name: str = "gridhub-rate-limits",
    ) -> None:
        from redis.asyncio import Redis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff
        from redis.exceptions import ConnectionError as RedisConnectionError

        self._redis: Any = Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), retries=1, supported_errors=(RedisConnectionError,)),
            client_name=client_name,
        )
        self._script = self._redis.register_script(TOKEN_BUCKET_LUA)
        self._prefix = prefix
        self._fallback = fallback
        self._on_error = on_error
        self._local_until = 0.0  # monotonic time before which Redis is not asked
        self._down = False  # whether the last command to Redis failed
        self._logged_at: float | None = None  # when the fallback was last logged

    async def take(self, key: str, limit: RateLimit) -> Admission:
        from redis.exceptions import RedisError

        if time.monotonic() < self._local_until:
            return self._fallback.take_now(key, limit)  # Redis failed a moment ago
        try:
            allowed, wait = await self._script(
                keys=[self._prefix + key], args=[repr(limit.rate), str(limit.burst)]
            )
        except (RedisError, OSError) as error:
            now = time.monotonic()
            if self._logged_at is None or now - self._logged_at > 60:
                log.warning("Rate limits fall back to this process's own buckets: %s", error)
                self._logged_at = now
            if not self._down:  # Redis answered until now: an outage begins
                self._down = True
                self._fallback.clear()
            self._local_until = now + REDIS_RETRY_SECONDS
            if self._on_error is not None:
                self._on_error()
            return self._fallback.take_now(key, limit)
        self._down = False
        return Admission(bool(allowed), float(wait))

    async def aclose(self) -> None:
        await self._redis.aclose()


class RateLimits:
    """The app's limits: which bucket and budget a request takes from, and the answer if none."""

    def __init__(self, settings: Settings, limiter: Limiter) -> None:
        self.enabled = settings.rate_limits
        self.limiter = limiter
        self._client = RateLimit(
            rate=settings.rate_limit_client_rate, burst=settings.rate_limit_client_burst
        )
        self._person = RateLimit(
            rate=settings.rate_limit_person_rate, burst=settings.rate_limit_person_burst
        )
        self._principals = settings.rate_limit_principals
        self._token = RateLimit(
            rate=settings.rate_limit_token_rate, burst=settings.rate_limit_token_burst
        )
        self._address = RateLimit(
            rate=settings.rate_limit_address_rate, burst=settings.rate_limit_address_burst
        )

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        clock: Clock = time.monotonic,
        on_redis_error: Callable[[], None] | None = None,
    ) -> RateLimits:
        if not settings.redis_url:
            return cls(settings, MemoryLimiter(settings.rate_limit_buckets, clock))
        fallback = MemoryLimiter(settings.rate_limit_buckets, clock, start_empty=True)
        limiter = RedisLimiter(
            settings.redis_url, settings.redis_prefix, fallback, on_error=on_redis_error
        )
        return cls(settings, limiter)

    def bucket_of(self, identity: Identity) -> tuple[str, RateLimit]:
        """The bucket a principal's requests take from, and its budget."""
        limit = self._principals.get(identity.subject)
        if identity.kind == "client":
            key = f"client:{identity.client_id or identity.subject}"
            return key, limit or self._client
        return f"person:{identity.subject}", limit or self._person

    async def check(self, identity: Identity) -> Admission:
        if not self.enabled:
            return Admission(True)
        key, limit = self.bucket_of(identity)
        return await self.limiter.take(key, limit)

    async def check_token_address(self, address: str | None) -> Admission:
        """``/oauth/token``, before anything is read: the caller's address."""
        if not self.enabled or address is None:
            return Admission(True)
        return await self.limiter.take(f"token-address:{address}", self._address)

    async def check_token_client(self, client_id: str) -> Admission:
        """``/oauth/token``, before the secret is checked: the client id tried."""
        if not self.enabled:
            return Admission(True)
        return await self.limiter.take(f"token-client:{client_id}", self._token)

    async def aclose(self) -> None:
        await self.limiter.aclose()


def too_many_requests(admission: Admission) -> Response:
    """429 with ``Retry-After`` and a GraphQL-shaped error."""
    seconds = int(admission.retry_after_header)
    body = {
        "errors": [
            {
                "message": f"Too many requests; retry after {seconds} s",
                "extensions": {"code": RATE_LIMITED, "retryAfter": seconds},
            }
        ]
    }
    return Response(
        orjson.dumps(body),
        status_code=429,
        media_type="application/json",
        headers={"Retry-After": admission.retry_after_header},
    )


def too_many_token_requests(admission: Admission) -> Response:
    """429 with ``Retry-After`` in the shape of RFC 6749 §5.2 (``error``, ``error_description``),
    which OAuth client libraries parse; they do not look for GraphQL's ``errors``. RFC 6749
    registers no code for this, so the code is the hub's own, ``rate_limited``."""
    seconds = int(admission.retry_after_header)
    body = {
        "error": RATE_LIMITED.lower(),
        "error_description": f"Too many token requests; retry after {seconds} s",
    }
    return Response(
        orjson.dumps(body),
        status_code=429,
        media_type="application/json",
        headers={
            "Retry-After": admission.retry_after_header,
            "Cache-Control": "no-store",
            "Pragma": "no-cache",
        },
    )


def refuse(facts: Facts, admission: Admission, *, oauth: bool = False) -> Response:
    """The refusal, and what its audit entry says; ``oauth``: shaped for ``/oauth/token``."""
    facts.outcome, facts.error_code = Outcome.DENIED, RATE_LIMITED
    return too_many_token_requests(admission) if oauth else too_many_requests(admission)
