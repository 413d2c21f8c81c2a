"""Read replicas: which requests read where, reading one's own writes, and a replica leaving the
rotation and coming back by itself.

The routing tests run the whole app on PostgreSQL with a "replica" that is the session's own
database reached through a TCP proxy (a server that is not in recovery counts as caught up at
its own position): every statement the replica's engine runs is a statement the hub sent to the
replica, and cutting the proxy is the replica going away. A real streaming replica, its lag
and a replica stopped under load are in ``benchmarks/replicas.py`` (docs/scaling.md). How far
a replica must have replayed is checked with positions given by hand: a lagging replica can
not be made here.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import delete, event, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from starlette.testclient import TestClient

from addresses.base import MATCHERS
from hub.app import create_app
from hub.services import services
from hub.settings import Settings
from hub.write_marks import UnknownMark, WriteMarks
from store.models import AddressAlias, AuditEntry
from store.replicas import ReplicaSet, format_lsn, replica_name
from tests.proxy import TcpProxy
from tests.support import data_of

WORKER = "worker-440306001001001"
NEIGHBOUR = "worker-440306001001002"
AUDITOR = "auditor-01"
HOUSES = {"query": "query Houses { houses(first: 3) { totalCount edges { node { address } } } }"}
HOUSE_CODE = """query One { houses(first: 1, filter: {areaCode: "440306001001001"})
  { edges { node { code } } } }"""
TEACH = """mutation T($text: String!, $code: String!) {
  teachAddressAlias(text: $text, code: $code) { normalised } }"""
AUDIT_LOG = {"query": "{ auditLog(first: 1) { edges { node { requestId } } } }"}


# Which replica, by position alone (no database)


def _set(*names: str, max_lag: float = 5.0, clock: Callable[[], float] = lambda: 0.0) -> ReplicaSet:
    engine = create_async_engine("sqlite+aiosqlite://")
    return ReplicaSet.of(engine, [(name, engine) for name in names], max_lag=max_lag, clock=clock)


def test_reads_take_the_replicas_in_rotation_in_turn_and_skip_those_out() -> None:
    replicas = _set("a", "b", "c")
    assert replicas.choose() is None  # none checked yet: the primary
    for replica in replicas.replicas:
        replicas.judge(replica, 100, 100)
    assert [replicas.choose().name for _ in range(6)] == ["a", "b", "c", "a", "b", "c"]  # type: ignore[union-attr]
    replicas.failed(replicas.replicas[1], ConnectionRefusedError())
    assert [replicas.choose().name for _ in range(4)] == ["a", "c", "a", "c"]  # type: ignore[union-attr]
    assert replicas.replicas[1].reason == "failed a request (ConnectionRefusedError)"


def test_after_a_write_only_a_replica_that_replayed_past_it_answers() -> None:
    replicas = _set("behind", "ahead")
    behind, ahead = replicas.replicas
    replicas.judge(behind, 1_000, 900)
    replicas.judge(ahead, 2_000, 900)
    assert {replicas.choose(after=1_500).name for _ in range(4)} == {"ahead"}  # type: ignore[union-attr]
    assert replicas.choose(after=2_001) is None  # nobody has it yet: the primary
    assert {replicas.choose(after=1_000).name for _ in range(4)} == {"behind", "ahead"}  # type: ignore[union-attr]


def test_a_replica_more_than_the_lag_behind_leaves_the_rotation_and_comes_back() -> None:
    now = [0.0]
    replicas = _set("r", max_lag=5.0, clock=lambda: now[0])
    (replica,) = replicas.replicas
    # The primary writes 100 bytes a second; the replica stops replaying at 1_000.
    for second in range(0, 12):
        now[0] = float(second)
        replicas.sampled(now[0], 1_000 + 100 * second)
        replicas.judge(replica, min(1_000 + 100 * second, 1_400), replicas.horizon(now[0]))
        lag = second - 4  # it has what the primary had at second 4
        assert replica.in_rotation is (lag <= 5), (second, replica.reason)
    assert replica.reason == "more than 5 s behind the primary"
    # It replays again and catches up: back.
    replicas.judge(replica, 1_000 + 100 * 11, replicas.horizon(now[0]))
    assert replica.in_rotation
    assert replica.reason is None


def test_an_idle_primary_keeps_an_idle_replica_in_rotation() -> None:
    now = [0.0]
    replicas = _set("r", max_lag=1.0, clock=lambda: now[0])
    (replica,) = replicas.replicas
    for second in range(10):
        now[0] = float(second)
        replicas.sampled(now[0], 5_000)
        replicas.judge(replica, 5_000, replicas.horizon(now[0]))
        assert replica.in_rotation


def test_positions_and_names_as_operators_read_them() -> None:
    assert format_lsn((0x16 << 32) + 0xB374D848) == "16/B374D848"
    assert replica_name("postgresql+asyncpg://u:secret@db2:5433/gridhub") == "db2:5433/gridhub"


def test_replicas_need_a_postgresql_primary_and_postgresql_urls(tmp_path: Any) -> None:
    with pytest.raises(ValidationError, match="need a PostgreSQL database_url"):
        Settings(  # type: ignore[call-arg]
            database_url=f"sqlite:///{tmp_path}/x.db",
            read_replica_urls="postgresql://r1/gridhub",
            _env_file=None,
        )
    with pytest.raises(ValidationError, match="postgresql:// URL"):
        Settings(  # type: ignore[call-arg]
            database_url="postgresql://p/gridhub", read_replica_urls="mysql://r1/x", _env_file=None
        )
    both = Settings(  # type: ignore[call-arg]
        database_url="postgresql://p/gridhub",
        read_replica_urls="postgresql://r1/gridhub, postgres://r2:5433/gridhub",
        _env_file=None,
    )
    assert both.read_replica_urls == [
        "postgresql+asyncpg://r1/gridhub",
        "postgresql+asyncpg://r2:5433/gridhub",
    ]


# Write marks


async def test_a_mark_only_moves_forward_and_expires() -> None:
    now = [0.0]
    marks = WriteMarks(seconds=10, clock=lambda: now[0])
    assert await marks.position("a") is None
    await marks.wrote("a", 500)
    await marks.wrote("a", 300)  # an earlier write finishing late does not move it back
    assert await marks.position("a") == 500
    assert await marks.position("b") is None
    now[0] = 10.0
    assert await marks.position("a") is None


def _redis_url() -> str:
    import os

    return os.environ.get("GRIDHUB_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _redis_answers() -> bool:
    from redis import Redis
    from redis.exceptions import RedisError

    try:
        return bool(Redis.from_url(_redis_url(), socket_connect_timeout=0.5).ping())
    except (RedisError, OSError):
        return False


async def test_two_processes_share_marks_through_redis_and_without_redis_read_the_primary() -> None:
    if not _redis_answers():
        pytest.skip("no Redis at GRIDHUB_TEST_REDIS_URL")
    prefix = f"gridhub-test-{uuid.uuid4().hex}:"
    first, second = WriteMarks(_redis_url(), prefix), WriteMarks(_redis_url(), prefix)
    try:
        await first.wrote("officer", 7_000)
        assert await second.position("officer") == 7_000  # written through the other process
        await second.wrote("officer", 6_000)
        assert await first.position("officer") == 7_000  # forward only, in Redis too
    finally:
        await first.aclose()
        await second.aclose()
    gone = WriteMarks("redis://127.0.0.1:1/0", prefix, timeout=0.2)
    try:
        with pytest.raises(UnknownMark):
            await gone.position("officer")
        await gone.wrote("officer", 1)  # the write itself is not refused
    finally:
        await gone.aclose()


# The whole app, on PostgreSQL


def postgres_only(backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("read replicas are PostgreSQL streaming replicas")


@pytest.fixture
def proxy(backend: str, settings: Settings) -> Iterator[TcpProxy]:
    postgres_only(backend)
    url = make_url(settings.database_url)
    with TcpProxy(url.host or "127.0.0.1", url.port or 5432) as running:
        yield running


class Hub:
    """The app with one replica (the proxy), its client, and what the replica was asked."""

    def __init__(self, client: TestClient, proxy: TcpProxy) -> None:
        self.client, self.proxy = client, proxy
        self.shared = services(client.app)
        assert self.shared.reads is not None
        self.replicas = self.shared.reads.replicas
        (self.replica,) = self.replicas.replicas
        self.replica_statements: list[str] = []
        event.listen(self.replica.engine.sync_engine, "before_cursor_execute", self._seen)

    def _seen(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "pg_is_in_recovery" not in statement:  # the checks' own
            self.replica_statements.append(statement)

    def check(self) -> None:
        """One round of the replica checks (the background ones are an hour apart here)."""
        self.client.portal.call(self.replicas.check)  # type: ignore[union-attr]

    def post(self, body: dict[str, Any], as_: str) -> tuple[Any, bool]:
        """The request's answer, and whether the replica ran any of its statements."""
        before = len(self.replica_statements)
        response = self.client.post("/graphql", json=body, headers=self.headers(as_))
        assert response.status_code == 200, response.text
        return response, len(self.replica_statements) > before

    def headers(self, subject: str) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token_for(subject)}"}

    token_for: Callable[[str], str]

    def reads(self, where: str) -> float:
        value = self.shared.metrics.registry.get_sample_value(
            "gridhub_reads_total", {"database": where}
        )
        return value or 0.0


@pytest.fixture
def hub(proxy: TcpProxy, settings: Settings, token_for: Callable[[str], str]) -> Iterator[Hub]:
    replica_url = (
        make_url(settings.database_url)
        .set(host="127.0.0.1", port=proxy.port)
        .render_as_string(hide_password=False)
    )
    with_replica = settings.model_copy(
        update={"read_replica_urls": [replica_url], "replica_check_seconds": 3600.0}
    )
    with TestClient(create_app(with_replica), raise_server_exceptions=False) as client:
        running = Hub(client, proxy)
        running.token_for = token_for
        assert running.replica.in_rotation, running.replica.reason  # checked at start
        yield running


def test_a_query_reads_the_replica_and_its_audit_entry_is_on_the_primary(hub: Hub) -> None:
    response, on_replica = hub.post(HOUSES, WORKER)
    assert on_replica
    assert data_of(response.json())["houses"]["totalCount"] > 0
    assert hub.reads(hub.replica.name) == 1
    assert hub.reads("primary") == 0
    request_id = response.headers["x-request-id"]
    seen = [
        statement for statement in hub.replica_statements if "audit_entries" in statement.lower()
    ]
    assert seen == []  # no audit statement went to the replica

    async def entry() -> Any:
        async with hub.shared.engine.connect() as connection:
            return await connection.scalar(
                select(AuditEntry.outcome).where(AuditEntry.request_id == request_id)
            )

    assert hub.client.portal.call(entry) == "ok"  # type: ignore[union-attr]


def test_a_get_query_reads_the_replica_too(hub: Hub) -> None:
    before = len(hub.replica_statements)
    response = hub.client.get(
        "/graphql", params={"query": HOUSES["query"]}, headers=hub.headers(WORKER)
    )
    assert response.status_code == 200
    assert "errors" not in response.json()
    assert len(hub.replica_statements) > before


def test_the_audit_log_is_read_on_the_primary(hub: Hub) -> None:
    response, on_replica = hub.post(AUDIT_LOG, AUDITOR)
    assert "errors" not in response.json(), response.json()
    assert not on_replica
    assert hub.reads("primary") == 1


@pytest.fixture
def alias_text(hub: Hub) -> Iterator[str]:
    """An alias text nobody else teaches; the alias goes afterwards."""
    taught = f"读写分离测试门牌{uuid.uuid4().hex[:8]}"
    yield taught

    async def clean() -> None:
        async with hub.shared.engine.begin() as connection:
            await connection.execute(delete(AddressAlias).where(AddressAlias.text == taught))

    hub.client.portal.call(clean)  # type: ignore[union-attr]
    MATCHERS.forget()


def test_a_writer_reads_the_primary_until_a_replica_has_replayed_its_write(
    hub: Hub, alias_text: str
) -> None:
    code = data_of(hub.post({"query": HOUSE_CODE}, WORKER)[0].json())["houses"]["edges"][0]
    response, on_replica = hub.post(
        {"query": TEACH, "variables": {"text": alias_text, "code": code["node"]["code"]}}, WORKER
    )
    assert "errors" not in response.json(), response.json()
    assert not on_replica  # a mutation writes through the primary
    # The writer's next reads go to the primary: the replica was last seen before the write.
    assert not hub.post(HOUSES, WORKER)[1]
    assert not hub.post(HOUSES, WORKER)[1]
    # Somebody else reads the replica meanwhile.
    assert hub.post(HOUSES, NEIGHBOUR)[1]
    # Once a check finds the replica past the write, the writer reads it again.
    hub.check()
    assert hub.post(HOUSES, WORKER)[1]


def test_a_replica_that_goes_away_costs_no_request_and_comes_back_by_itself(hub: Hub) -> None:
    assert hub.post(HOUSES, WORKER)[1]
    hub.proxy.cut()  # the replica stops: its pooled connections die, new ones are refused
    for _ in range(3):
        response, on_replica = hub.post(HOUSES, WORKER)
        assert not on_replica
        assert data_of(response.json())["houses"]["totalCount"] > 0
    assert not hub.replica.in_rotation
    gauge = hub.shared.metrics.registry.get_sample_value(
        "gridhub_read_replica_in_rotation", {"replica": hub.replica.name}
    )
    assert gauge == 0
    hub.check()  # still down: stays out
    assert not hub.replica.in_rotation
    assert hub.replica.reason is not None
    assert "unreachable" in hub.replica.reason
    hub.proxy.restore()
    hub.check()
    assert hub.replica.in_rotation
    assert hub.post(HOUSES, WORKER)[1]


def test_a_replica_failing_under_a_query_moves_it_to_the_primary(hub: Hub) -> None:
    """The replica's connection is taken, then the replica goes before the statements run:
    the query runs again on the primary and answers whole."""
    from hub import pipeline

    original = pipeline.Call.plan
    cut: list[bool] = []

    async def plan_then_cut(call: pipeline.Call, *args: Any, **kwargs: Any) -> Any:
        planned = await original(call, *args, **kwargs)
        if call.replica is not None and not cut:
            cut.append(True)
            hub.proxy.cut()  # the connection is held: its next statement fails
        return planned

    pipeline.Call.plan = plan_then_cut  # type: ignore[method-assign]
    try:
        response = hub.client.post("/graphql", json=HOUSES, headers=hub.headers(WORKER))
    finally:
        pipeline.Call.plan = original  # type: ignore[method-assign]
    assert cut == [True]
    assert response.status_code == 200
    assert data_of(response.json())["houses"]["totalCount"] > 0
    assert not hub.replica.in_rotation
    assert hub.reads("primary") == 1


def test_without_replicas_nothing_is_routed(settings: Settings, token_for: Any) -> None:
    with TestClient(create_app(settings)) as client:
        assert services(client.app).reads is None
        response = client.post(
            "/graphql", json=HOUSES, headers={"authorization": f"Bearer {token_for(WORKER)}"}
        )
        assert response.status_code == 200
        exposition = client.get("/metrics").text
        assert not [line for line in exposition.splitlines() if line.startswith("gridhub_reads")]


def test_checks_say_why_a_replica_is_out(hub: Hub) -> None:
    hub.proxy.cut()
    hub.check()
    assert hub.replica.reason is not None
    assert hub.replica.reason.startswith("unreachable")
    hub.proxy.restore()
    hub.check()
    assert hub.replica.in_rotation
    assert hub.replica.reason is None


def test_a_view_layer_streams_from_the_replica(hub: Hub) -> None:
    before = len(hub.replica_statements)
    response = hub.client.get(
        "/views/grid-office-patrol.geojson?layer=houses", headers=hub.headers(NEIGHBOUR)
    )
    assert response.status_code == 200, response.text
    assert response.json()["features"]
    assert len(hub.replica_statements) > before
    assert hub.reads(hub.replica.name) == 1


def test_a_replica_failing_where_a_read_can_not_move_does_not_mark_the_primary_down(
    hub: Hub,
) -> None:
    """A view's layer read on a replica that goes before its statements: that request is
    refused (503, retry), the replica leaves the rotation, and the primary is not taken for
    down: the next request, and everybody else's, is answered at once."""
    from hub import pipeline

    original = pipeline.Call.plan

    async def plan_then_cut(call: pipeline.Call, *args: Any, **kwargs: Any) -> Any:
        planned = await original(call, *args, **kwargs)
        if call.replica is not None:
            hub.proxy.cut()
        return planned

    url = "/views/grid-office-patrol.geojson?layer=houses"
    pipeline.Call.plan = plan_then_cut  # type: ignore[method-assign]
    try:
        refused = hub.client.get(url, headers=hub.headers(NEIGHBOUR))
    finally:
        pipeline.Call.plan = original  # type: ignore[method-assign]
    assert refused.status_code == 503
    assert refused.json()["errors"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE"
    assert not hub.replica.in_rotation
    assert hub.shared.database.up
    again = hub.client.get(url, headers=hub.headers(NEIGHBOUR))
    assert again.status_code == 200
    assert again.json()["features"]
