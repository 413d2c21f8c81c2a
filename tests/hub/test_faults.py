"""The database goes away and comes back: the hub refuses fast with SERVICE_UNAVAILABLE (never a
500, a trace or data), recovers by itself, and its audit log verifies afterwards."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from starlette.testclient import TestClient

from hub.app import create_app
from hub.settings import Settings
from policies.access_watch import AccessWatch
from store.models import AuditEntry
from tests.proxy import TcpProxy
from tests.support import data_of, running

pytestmark = pytest.mark.e2e

QUERY = {"query": "query Houses { houses(first: 3) { edges { node { address } } } }"}
WORKER = "worker-440306001001001"
UNAVAILABLE_BODY = {
    "errors": [
        {
            "message": "The service is unavailable for a moment; retry shortly.",
            "extensions": {"code": "SERVICE_UNAVAILABLE"},
        }
    ]
}
#: How long a refusal may take while the database is down.
FAIL_FAST_SECONDS = 1.5


def postgres_only(backend: str) -> None:
    if backend != "postgresql":
        pytest.skip(
            "an outage of a database server: SQLite has no server to lose (its unusable file"
            " is tested in test_an_unreachable_database_is_503_not_500)"
        )


def through(proxy: TcpProxy, database_url: str) -> str:
    return (
        make_url(database_url)
        .set(host="127.0.0.1", port=proxy.port)
        .render_as_string(hide_password=False)
    )


def verify_log(
    database_url: str, settings: Settings, writer: str
) -> subprocess.CompletedProcess[str]:
    """`gridhub audit verify` of one chain, as an auditor runs it (the session's database holds
    other tests' chains too, some signed with keys of their own)."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "hub",
            "audit",
            "verify",
            "--quiet",
            "--database-url",
            database_url,
            "--key-dir",
            str(settings.audit_key_dir),
            "--writer",
            writer,
        ],
        capture_output=True,
        text=True,
    )


async def writers_of(database_url: str, request_ids: list[str]) -> set[str]:
    """The chains the entries of these requests are in (an engine of its own: the session's
    belongs to another event loop)."""
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            found = await connection.scalars(
                select(AuditEntry.writer_id)
                .where(AuditEntry.request_id.in_(request_ids))
                .distinct()
            )
            return set(found.all())
    finally:
        await engine.dispose()


@pytest.fixture
def proxy(backend: str, database_url: str) -> Iterator[TcpProxy]:
    postgres_only(backend)
    url = make_url(database_url)
    with TcpProxy(url.host or "127.0.0.1", url.port or 5432) as proxy:
        yield proxy


@pytest.fixture
def server(proxy: TcpProxy, database_url: str, settings: Settings) -> Iterator[str]:
    """``gridhub serve`` whose database connections all go through the proxy."""
    environment = {
        "GRIDHUB_KEY_DIR": str(settings.key_dir),
        "GRIDHUB_AUDIT_KEY_DIR": str(settings.audit_key_dir),
        "GRIDHUB_DATABASE_CONNECT_TIMEOUT": "1",
        "GRIDHUB_DATABASE_STATEMENT_TIMEOUT": "2",
    }
    arguments = ["serve", "--database-url", through(proxy, database_url)]
    with running(arguments, env=environment) as (base, _):
        yield base


def _timed(
    client: httpx.Client, base: str, headers: dict[str, str]
) -> tuple[float, httpx.Response]:
    started = time.monotonic()
    response = client.post(f"{base}/graphql", json=QUERY, headers=headers)
    return time.monotonic() - started, response


def _recovered(client: httpx.Client, base: str, headers: dict[str, str]) -> httpx.Response:
    deadline = time.monotonic() + 15
    while True:
        response = client.post(f"{base}/graphql", json=QUERY, headers=headers)
        if response.status_code == 200 or time.monotonic() > deadline:
            return response
        time.sleep(0.2)


def test_a_cut_database_is_refused_fast_and_the_hub_recovers_by_itself(
    proxy: TcpProxy,
    server: str,
    database_url: str,
    settings: Settings,
    token_for: Callable[[str], str],
) -> None:
    headers = {"authorization": f"Bearer {token_for(WORKER)}"}
    with httpx.Client(timeout=30) as client:
        assert data_of(client.post(f"{server}/graphql", json=QUERY, headers=headers).json())
        assert client.get(f"{server}/readyz").status_code == 200

        proxy.cut()
        refusals = [_timed(client, server, headers) for _ in range(12)]
        health = client.get(f"{server}/healthz")
        ready = client.get(f"{server}/readyz")
        token = client.post(
            f"{server}/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=("some-client", "some-secret"),
        )

        proxy.restore()
        back = _recovered(client, server, headers)
        ready_again = client.get(f"{server}/readyz")

    for seconds, response in refusals:
        assert response.status_code == 503, response.text
        assert response.json() == UNAVAILABLE_BODY  # no data, no trace
        assert response.headers["retry-after"] == "1"
        assert seconds < FAIL_FAST_SECONDS
    assert health.status_code == 200  # alive: no reason to restart it
    assert ready.status_code == 503
    assert ready.json()["status"] == "unavailable"
    assert "unreachable" in ready.json()["reasons"][0]
    assert token.status_code == 503
    assert token.json()["errors"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE"
    assert back.status_code == 200, back.text  # without a restart
    assert data_of(back.json())["houses"]["edges"]
    assert ready_again.status_code == 200


def test_a_stalled_database_costs_at_most_the_timeouts(
    proxy: TcpProxy,
    server: str,
    database_url: str,
    settings: Settings,
    token_for: Callable[[str], str],
) -> None:
    """Connections that stay open but carry nothing: each wait is bounded by the connect (1 s)
    and statement (2 s) timeouts the server was given, and then refused at once for a while."""
    headers = {"authorization": f"Bearer {token_for(WORKER)}"}
    with httpx.Client(timeout=30) as client:
        assert client.post(f"{server}/graphql", json=QUERY, headers=headers).status_code == 200
        proxy.stall()
        first = _timed(client, server, headers)
        then = _timed(client, server, headers)
        proxy.cut()
        proxy.restore()
        back = _recovered(client, server, headers)
    assert first[1].status_code == 503
    assert first[1].json() == UNAVAILABLE_BODY
    assert first[0] < 2 + 1 + 1 + 2  # statement + connect timeouts, the audit's, slack
    assert then[1].status_code == 503
    assert then[0] < FAIL_FAST_SECONDS  # known down: refused without trying
    assert back.status_code == 200, back.text


def test_the_audit_log_verifies_after_an_outage(
    proxy: TcpProxy,
    database_url: str,
    settings: Settings,
    token_for: Callable[[str], str],
) -> None:
    """Entries before, during (none: the refusals are not written) and after the outage form
    one chain per process, sealed when the server stops; `gridhub audit verify` passes."""
    headers = {"authorization": f"Bearer {token_for(WORKER)}"}
    environment = {
        "GRIDHUB_KEY_DIR": str(settings.key_dir),
        "GRIDHUB_AUDIT_KEY_DIR": str(settings.audit_key_dir),
    }
    arguments = ["serve", "--database-url", through(proxy, database_url)]
    with running(arguments, env=environment) as (base, _), httpx.Client(timeout=30) as client:
        before = [client.post(f"{base}/graphql", json=QUERY, headers=headers) for _ in range(3)]
        proxy.cut()
        during = [client.post(f"{base}/graphql", json=QUERY, headers=headers) for _ in range(3)]
        proxy.restore()
        after = [_recovered(client, base, headers)]
        after += [client.post(f"{base}/graphql", json=QUERY, headers=headers) for _ in range(3)]
    assert [r.status_code for r in before + after] == [200] * 7
    assert [r.status_code for r in during] == [503] * 3
    answered = [response.headers["x-request-id"] for response in before + after]
    writers = asyncio.run(writers_of(database_url, answered))
    assert len(writers) == 1  # one process, one chain, across the outage
    verified = verify_log(database_url, settings, writers.pop())
    assert verified.returncode == 0, verified.stdout + verified.stderr


async def test_the_access_watch_listens_again_after_an_outage(
    proxy: TcpProxy, database_url: str
) -> None:
    watch = AccessWatch(through(proxy, database_url))
    await watch.start()
    try:
        assert watch.live
        generation = watch.generation
        await asyncio.to_thread(proxy.cut)
        await asyncio.sleep(0.2)
        assert not watch.live  # nothing is kept while it can not hear changes
        await asyncio.to_thread(proxy.restore)
        deadline = time.monotonic() + 10
        while not watch.live and time.monotonic() < deadline:  # noqa: ASYNC110 - its own state
            await asyncio.sleep(0.1)
        assert watch.live
        assert watch.generation > generation  # what was read before is read again
    finally:
        await watch.close()


def test_an_unreachable_database_is_503_not_500(
    backend: str, settings: Settings, tmp_path: Path, token_for: Callable[[str], str]
) -> None:
    """A SQLite file in a folder that is gone, or a PostgreSQL port where nothing listens."""
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path}/gone/gridhub.db"
    else:
        with TcpProxy("127.0.0.1", 5432) as closed:  # a port that was free a moment ago
            port = closed.port
        url = f"postgresql+asyncpg://postgres@127.0.0.1:{port}/gridhub"
    nowhere = settings.model_copy(update={"database_url": url})
    headers = {"authorization": f"Bearer {token_for(WORKER)}"}
    with TestClient(create_app(nowhere), raise_server_exceptions=False) as client:
        responses = [client.post("/graphql", json=QUERY, headers=headers) for _ in range(3)]
        health, ready = client.get("/healthz"), client.get("/readyz")
    for response in responses:
        assert response.status_code == 503
        assert response.json() == UNAVAILABLE_BODY
    assert health.status_code == 200
    assert ready.status_code == 503
    assert ready.json()["reasons"] == [ready.json()["reasons"][0]]
