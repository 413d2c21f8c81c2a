"""Rate limits: a burst, then 429 with Retry-After; refill; a bucket per client and per person;
one budget across processes through Redis; Redis down falls back to the process's buckets."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from redis.asyncio import Redis as AsyncRedis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.testclient import TestClient

from auth.clients import NewClient
from hub.app import create_app
from hub.rate_limit import REDIS_RETRY_SECONDS, MemoryLimiter, RateLimits, RedisLimiter
from hub.services import services
from hub.settings import RateLimit, Settings
from store.models import AuditEntry
from tests.proxy import TcpProxy
from tests.support import data_of

QUERY = {"query": '{ grid(code: "440306") { name } }'}
WORKER = "worker-440306001001001"
OTHER_WORKER = "worker-440306001001002"
REDIS_URL = os.environ.get("GRIDHUB_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# The bucket itself.


def test_a_bucket_allows_its_burst_then_says_when_to_come_back() -> None:
    clock = FakeClock()
    limiter = MemoryLimiter(clock=clock)
    limit = RateLimit(rate=0.5, burst=3)
    assert [limiter.take_now("k", limit).allowed for _ in range(3)] == [True] * 3
    refused = limiter.take_now("k", limit)
    assert not refused.allowed
    assert refused.retry_after == pytest.approx(2.0)
    assert refused.retry_after_header == "2"
    clock.now += 1.9
    assert not limiter.take_now("k", limit).allowed
    clock.now += 0.2
    assert limiter.take_now("k", limit).allowed
    assert not limiter.take_now("k", limit).allowed


def test_retry_after_is_whole_seconds_and_at_least_one() -> None:
    clock = FakeClock()
    limiter = MemoryLimiter(clock=clock)
    limit = RateLimit(rate=100, burst=1)
    limiter.take_now("k", limit)
    refused = limiter.take_now("k", limit)
    assert refused.retry_after == pytest.approx(0.01)
    assert refused.retry_after_header == "1"


def test_idle_buckets_are_dropped_and_the_number_of_buckets_is_bounded() -> None:
    clock = FakeClock()
    limiter = MemoryLimiter(max_buckets=50, clock=clock)
    limit = RateLimit(rate=1, burst=2)
    for number in range(200):
        limiter.take_now(f"caller-{number}", limit)
    assert len(limiter) <= 50
    clock.now += 10  # every bucket is full again: the same as none
    for number in range(10):
        limiter.take_now(f"late-{number}", limit)
    assert len(limiter) <= 50
    assert len(limiter) < 50  # full buckets went first


@given(
    gaps=st.lists(st.floats(min_value=0, max_value=3), min_size=1, max_size=60),
    rate=st.floats(min_value=0.1, max_value=20),
    burst=st.integers(min_value=1, max_value=10),
)
@hypothesis_settings(max_examples=200, deadline=None)
def test_no_caller_ever_gets_more_than_burst_plus_rate_times_time(
    gaps: list[float], rate: float, burst: int
) -> None:
    clock = FakeClock()
    limiter = MemoryLimiter(clock=clock)
    limit = RateLimit(rate=rate, burst=burst)
    start, allowed = clock.now, 0
    for gap in gaps:
        clock.now += gap
        admission = limiter.take_now("k", limit)
        allowed += admission.allowed
        if not admission.allowed:
            assert admission.retry_after > 0
        assert allowed <= burst + rate * (clock.now - start) + 1e-9


# Through the endpoint.


@pytest.fixture
def limited(settings: Settings) -> Settings:
    """Persons 3 at once then one a second; clients 2 at once; tokens 2 per client id."""
    return settings.model_copy(
        update={
            "rate_limit_person_rate": 1.0,
            "rate_limit_person_burst": 3,
            "rate_limit_client_rate": 1.0,
            "rate_limit_client_burst": 2,
            "rate_limit_token_rate": 0.1,
            "rate_limit_token_burst": 2,
            "rate_limit_address_rate": 0.1,
            "rate_limit_address_burst": 4,
        }
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def client(limited: Settings, clock: FakeClock) -> Iterator[TestClient]:
    with TestClient(create_app(limited)) as client:
        services(client.app).rate_limits = RateLimits.from_settings(limited, clock)
        yield client


def ask(client: TestClient, token: str) -> Any:
    return client.post("/graphql", json=QUERY, headers={"authorization": f"Bearer {token}"})


async def entry_of(engine: AsyncEngine, request_id: str) -> Any:
    async with engine.connect() as connection:
        rows = (
            await connection.execute(select(AuditEntry).where(AuditEntry.request_id == request_id))
        ).all()
    assert len(rows) == 1
    return rows[0]


async def test_a_person_over_their_burst_gets_429_with_retry_after_and_it_is_audited(
    client: TestClient, clock: FakeClock, token_for: Callable[[str], str], engine: AsyncEngine
) -> None:
    token = token_for(WORKER)
    for _ in range(3):
        assert data_of(ask(client, token).json())["grid"]["name"] == "宝安区"
    refused = ask(client, token)
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "1"
    assert refused.json() == {
        "errors": [
            {
                "message": "Too many requests; retry after 1 s",
                "extensions": {"code": "RATE_LIMITED", "retryAfter": 1},
            }
        ]
    }
    entry = await entry_of(engine, refused.headers["x-request-id"])
    assert (entry.outcome, entry.error_code, entry.subject) == ("denied", "RATE_LIMITED", WORKER)
    assert entry.query_hash is None  # refused before the query was read
    assert entry.person_ids == []
    assert entry.reads == []

    clock.now += 1.0  # a token a second
    assert ask(client, token).status_code == 200
    assert ask(client, token).status_code == 429


async def test_the_geojson_url_spends_the_same_budget_and_is_refused_the_same_way(
    client: TestClient, token_for: Callable[[str], str], engine: AsyncEngine
) -> None:
    """A GIS tool polling /views/{code}.geojson is held to the person's budget too."""
    token = token_for(WORKER)
    headers = {"authorization": f"Bearer {token}"}
    url = "/views/grid-office-patrol.geojson?layer=houses"
    for _ in range(3):
        assert client.get(url, headers=headers).status_code == 200
    refused = client.get(url, headers=headers)
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "1"
    assert refused.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    assert "features" not in refused.text
    entry = await entry_of(engine, refused.headers["x-request-id"])
    assert (entry.outcome, entry.error_code) == ("denied", "RATE_LIMITED")
    assert ask(client, token).status_code == 429  # one bucket for the person, whatever the URL


def test_each_person_and_each_client_has_a_bucket_of_its_own(
    client: TestClient, token_for: Callable[[str], str]
) -> None:
    worker, other = token_for(WORKER), token_for(OTHER_WORKER)
    app = token_for("housing-app")
    assert [ask(client, worker).status_code for _ in range(4)] == [200, 200, 200, 429]
    assert [ask(client, other).status_code for _ in range(4)] == [200, 200, 200, 429]
    assert [ask(client, app).status_code for _ in range(3)] == [200, 200, 429]  # client budget


def test_a_principal_can_have_a_budget_of_its_own(
    limited: Settings, token_for: Callable[[str], str]
) -> None:
    roomy = limited.model_copy(
        update={"rate_limit_principals": {WORKER: RateLimit(rate=1, burst=6)}}
    )
    with TestClient(create_app(roomy)) as client:
        services(client.app).rate_limits = RateLimits.from_settings(roomy, FakeClock())
        statuses = [ask(client, token_for(WORKER)).status_code for _ in range(7)]
        others = [ask(client, token_for(OTHER_WORKER)).status_code for _ in range(4)]
    assert statuses == [200] * 6 + [429]
    assert others == [200] * 3 + [429]


def test_rate_limits_can_be_switched_off(
    limited: Settings, token_for: Callable[[str], str]
) -> None:
    with TestClient(create_app(limited.model_copy(update={"rate_limits": False}))) as client:
        assert {ask(client, token_for(WORKER)).status_code for _ in range(6)} == {200}


def test_the_default_budgets_let_a_busy_person_and_app_through(
    settings: Settings, token_for: Callable[[str], str]
) -> None:
    with TestClient(create_app(settings)) as client:
        assert {ask(client, token_for(WORKER)).status_code for _ in range(60)} == {200}


def _token(client: TestClient, app: NewClient, secret: str | None = None) -> Any:
    return client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(app.client_id, secret or app.client_secret),
    )


async def test_guessing_a_secret_is_slowed_per_client_id_and_per_address(
    client: TestClient, demo_clients: dict[str, NewClient], engine: AsyncEngine
) -> None:
    housing, emergency = demo_clients["housing-app"], demo_clients["emergency-app"]
    statuses = [_token(client, housing, "a guess").status_code for _ in range(3)]
    assert statuses == [401, 401, 429]  # two tries for this client id, then wait
    # Even the right secret waits now: a guesser can not tell when it got it right.
    refused = _token(client, housing)
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) >= 1
    # RFC 6749 §5.2's shape, which OAuth client libraries read, not GraphQL's "errors".
    body = refused.json()
    assert set(body) == {"error", "error_description"}
    assert body["error"] == "rate_limited"
    assert refused.headers["retry-after"] in body["error_description"]
    assert refused.headers["cache-control"] == "no-store"
    entry = await entry_of(engine, refused.headers["x-request-id"])
    assert (entry.outcome, entry.error_code, entry.client_id) == (
        "denied",
        "RATE_LIMITED",
        housing.client_id,
    )
    # Another client id from the same address: the address's budget (4) is spent by now.
    by_address = _token(client, emergency)
    assert by_address.status_code == 429
    assert by_address.json()["error"] == "rate_limited"
    assert "retry-after" in by_address.headers


def test_a_token_request_within_budget_gets_its_token(
    client: TestClient, demo_clients: dict[str, NewClient]
) -> None:
    assert _token(client, demo_clients["housing-app"]).status_code == 200


# Across processes, through Redis.


def _redis_answers() -> bool:
    from redis import Redis
    from redis.exceptions import RedisError

    try:
        return bool(Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except RedisError:
        return False


@pytest.fixture
def redis_settings(limited: Settings) -> Settings:
    if not _redis_answers():
        if os.environ.get("CI"):
            pytest.fail(f"Redis does not answer at {REDIS_URL}")
        pytest.skip(f"Redis does not answer at {REDIS_URL}")
    return limited.model_copy(
        update={
            "redis_url": REDIS_URL,
            "redis_prefix": f"gridhub-test-{uuid.uuid4().hex}:",
            "rate_limit_person_rate": 0.01,  # Redis keeps time: no refill within the test
        }
    )


def test_two_hub_processes_share_one_budget_through_redis(
    redis_settings: Settings, token_for: Callable[[str], str]
) -> None:
    token = token_for(WORKER)
    with (
        TestClient(create_app(redis_settings)) as first,
        TestClient(create_app(redis_settings)) as second,
    ):
        statuses = [ask(first, token).status_code, ask(second, token).status_code]
        statuses += [ask(first, token).status_code, ask(second, token).status_code]
        # Another person is not touched by the first one's use.
        other = ask(second, token_for(OTHER_WORKER)).status_code
    assert statuses == [200, 200, 200, 429]  # burst 3 in all, not 3 in each
    assert other == 200


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_with_redis_down_each_process_limits_on_its_own(
    limited: Settings, token_for: Callable[[str], str]
) -> None:
    """Fail open to the process's buckets: the hub keeps answering and still limits, at the
    budget's rate and without a burst (the shared bucket may have been spent already, and a
    full bucket in each process would hand every process a burst)."""
    down = limited.model_copy(update={"redis_url": f"redis://127.0.0.1:{_closed_port()}/0"})
    clock = FakeClock()
    with TestClient(create_app(down)) as client:
        metrics = services(client.app).metrics
        services(client.app).rate_limits = RateLimits.from_settings(
            down, clock, on_redis_error=metrics.redis_errors.inc
        )
        at_once = [ask(client, token_for(WORKER)).status_code for _ in range(2)]
        clock.now += 2.5  # a person's bucket gains 1 a second
        later = [ask(client, token_for(WORKER)).status_code for _ in range(3)]
        errors = metrics.redis_errors._value.get()
    assert at_once == [429, 429]  # not the burst of 3
    assert later == [200, 200, 429]
    assert errors >= 1


# Redis restarted or cut off, with the real Redis.


def redis_limiter(redis_url: str, clock: FakeClock, errors: list[int], name: str) -> RedisLimiter:
    fallback = MemoryLimiter(clock=clock, start_empty=True)
    return RedisLimiter(
        redis_url,
        f"gridhub-test-{uuid.uuid4().hex}:",
        fallback,
        on_error=lambda: errors.append(1),
        client_name=name,
    )


async def test_connections_dropped_by_a_redis_restart_are_retried_not_fallen_back(
    redis_settings: Settings,
) -> None:
    """A restart drops every pooled connection; each command finds its connection dead, and
    is sent again on a new one instead of falling back (what CLIENT KILL does to the
    connections is what a restart does to them)."""
    errors: list[int] = []
    name = f"gridhub-test-{uuid.uuid4().hex[:12]}"
    limiter = redis_limiter(REDIS_URL, FakeClock(), errors, name)
    admin = AsyncRedis.from_url(REDIS_URL)
    limit = RateLimit(rate=0.01, burst=6)
    try:
        before = await asyncio.gather(*(limiter.take("k", limit) for _ in range(4)))
        ours = [c["id"] for c in await admin.client_list() if c.get("name") == name]
        assert len(ours) >= 2  # several pooled connections, all about to go stale
        for client_id in ours:
            await admin.client_kill_filter(_id=client_id)
        after = await asyncio.gather(*(limiter.take("k", limit) for _ in range(4)))
    finally:
        await limiter.aclose()
        await admin.aclose()
    assert [a.allowed for a in before] == [True] * 4
    assert sorted(a.allowed for a in after) == [False, False, True, True]  # Redis's bucket
    assert errors == []  # no fallback


async def test_each_redis_outage_starts_the_fallback_buckets_empty(
    redis_settings: Settings,
) -> None:
    """Redis is cut off twice. Each time the process's buckets are empty as the outage begins,
    however long ago the previous one was: no process hands out a burst of its own."""
    url = make_url_of(REDIS_URL)
    clock, errors = FakeClock(), []
    with TcpProxy(url[0], url[1]) as proxy:
        limiter = redis_limiter(f"redis://127.0.0.1:{proxy.port}/{url[2]}", clock, errors, "t")
        limit = RateLimit(rate=1, burst=5)
        try:
            assert (await limiter.take("k", limit)).allowed  # through Redis
            await asyncio.to_thread(proxy.cut)
            first = [(await limiter.take("k", limit)).allowed for _ in range(3)]
            clock.now += 2  # two tokens' worth of outage
            first += [(await limiter.take("k", limit)).allowed for _ in range(3)]
            await asyncio.to_thread(proxy.restore)
            await asyncio.sleep(REDIS_RETRY_SECONDS + 0.1)  # Redis is asked again
            assert (await limiter.take("k", limit)).allowed  # through Redis: 3 of 5 left
            clock.now += 100  # long enough for a kept bucket to fill up
            await asyncio.to_thread(proxy.cut)
            second = [(await limiter.take("k", limit)).allowed for _ in range(3)]
        finally:
            await limiter.aclose()
    assert first == [False, False, False, True, True, False]
    assert second == [False, False, False]
    assert len(errors) >= 2


def make_url_of(redis_url: str) -> tuple[str, int, int]:
    """Host, port and database number of a redis:// URL."""
    parts = urlsplit(redis_url)
    return parts.hostname or "127.0.0.1", parts.port or 6379, int(parts.path.strip("/") or 0)
