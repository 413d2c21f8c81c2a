"""The database goes away and comes back: the hub refuses fast with SERVICE_UNAVAILABLE (never a
500, a trace or data), recovers by itself, and its audit log verifies afterwards."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from starlette.testclient import TestClient

from catalog.sweep import GrantSweep
from hub.app import create_app
from hub.services import services
from hub.settings import Settings
from policies.access_watch import AccessWatch
from policies.plan import utc_now
from policies.store import PolicyStore
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


async def terminate_backends(database_url: str) -> None:
    """End every other connection to the database, as a PostgreSQL shutting down does
    (``FATAL: terminating connection due to administrator command``)."""
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            await connection.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
    finally:
        await engine.dispose()


def test_an_outage_logs_one_line_per_refused_request_and_no_traceback(
    proxy: TcpProxy,
    database_url: str,
    settings: Settings,
    token_for: Callable[[str], str],
) -> None:
    """A 503 during an outage is the right answer, not a fault: the log says once per refused
    request that it was refused (with its request id), and holds no traceback an alert or a
    reader would take for a bug — also for requests that were reading when the connections
    were cut."""
    headers = {"authorization": f"Bearer {token_for(WORKER)}"}
    environment = {
        "GRIDHUB_KEY_DIR": str(settings.key_dir),
        "GRIDHUB_AUDIT_KEY_DIR": str(settings.audit_key_dir),
        "GRIDHUB_DATABASE_CONNECT_TIMEOUT": "1",
        "GRIDHUB_RATE_LIMITS": "false",
    }
    arguments = ["serve", "--workers", "2", "--database-url", through(proxy, database_url)]
    answers: list[httpx.Response] = []
    stop = threading.Event()

    def ask_until_stopped(base: str) -> None:
        with httpx.Client(timeout=30) as client:
            while not stop.is_set():
                answers.append(client.post(f"{base}/graphql", json=QUERY, headers=headers))
                answers.append(
                    client.post(
                        f"{base}/oauth/token",
                        data={"grant_type": "client_credentials"},
                        auth=("some-client", "some-secret"),
                    )
                )
                answers.append(client.get(f"{base}/readyz"))

    with running(arguments, env=environment) as (base, output):
        askers = [threading.Thread(target=ask_until_stopped, args=(base,)) for _ in range(6)]
        for asker in askers:
            asker.start()
        time.sleep(1)
        proxy.cut()  # connections in use are cut mid-request
        time.sleep(2)
        proxy.restore()
        time.sleep(1.5)
        asyncio.run(terminate_backends(database_url))  # as a restarting server ends them
        time.sleep(1.5)
        stop.set()
        for asker in askers:
            asker.join()
    log = output[0]
    refused = [r for r in answers if r.status_code == 503 and r.url.path != "/readyz"]
    assert refused
    assert {r.status_code for r in answers} <= {200, 401, 503}
    assert "Traceback" not in log, log
    for response in refused:
        request_id = response.headers["x-request-id"]
        lines = [line for line in log.splitlines() if request_id in line]
        assert len(lines) <= 1, (request_id, lines)


def test_a_field_whose_read_finds_the_database_gone_is_503_without_a_trace(
    settings: Settings, token_for: Callable[[str], str], caplog: pytest.LogCaptureFixture
) -> None:
    """The connection drops while a field is read (after the plan was read): the request is
    refused like any other during an outage, 503 ``SERVICE_UNAVAILABLE`` and no data, not a
    field's ``INTERNAL_SERVER_ERROR`` with a traceback in the log."""
    headers = {"authorization": f"Bearer {token_for(WORKER)}"}

    def drop(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if "houses" in statement and "audit" not in statement:
            raise ConnectionResetError("connection reset by peer")

    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        engine = services(client.app).engine.sync_engine
        event.listen(engine, "before_cursor_execute", drop)
        try:
            with caplog.at_level(logging.INFO):
                response = client.post("/graphql", json=QUERY, headers=headers)
        finally:
            event.remove(engine, "before_cursor_execute", drop)
        again = _recovered_in_process(client, headers)
    assert response.status_code == 503, response.text
    assert response.json() == UNAVAILABLE_BODY
    assert [r.getMessage() for r in caplog.records if r.exc_info] == []
    assert again.status_code == 200


def _recovered_in_process(client: TestClient, headers: dict[str, str]) -> Any:
    deadline = time.monotonic() + 5
    while True:
        response = client.post("/graphql", json=QUERY, headers=headers)
        if response.status_code == 200 or time.monotonic() > deadline:
            return response
        time.sleep(0.2)


async def test_the_grant_sweep_notes_an_outage_in_one_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with TcpProxy("127.0.0.1", 5432) as closed:  # a port that was free a moment ago
        port = closed.port
    engine = create_async_engine(f"postgresql+asyncpg://postgres@127.0.0.1:{port}/gridhub")
    sweep = GrantSweep(PolicyStore(engine), None, utc_now, interval=60)
    try:
        with caplog.at_level(logging.INFO, logger="catalog.sweep"):
            sweep.start()
            await asyncio.sleep(0.5)
    finally:
        await sweep.close()
        await engine.dispose()
    records = [r for r in caplog.records if r.name == "catalog.sweep"]
    assert len(records) == 1
    assert "could not reach the database" in records[0].getMessage()
    assert records[0].exc_info is None


def test_readyz_answers_within_its_timeout_while_the_database_hangs(
    proxy: TcpProxy, database_url: str, settings: Settings
) -> None:
    """A database that accepts connections and never answers (the proxy passes no bytes):
    ``/readyz`` says so within ``GRIDHUB_DATABASE_CONNECT_TIMEOUT`` (5 s), every time, so an
    orchestrator's readiness probe (often 5 s too) gets an answer instead of its own timeout."""
    environment = {
        "GRIDHUB_KEY_DIR": str(settings.key_dir),
        "GRIDHUB_AUDIT_KEY_DIR": str(settings.audit_key_dir),
    }
    arguments = ["serve", "--database-url", through(proxy, database_url)]
    with running(arguments, env=environment) as (base, _), httpx.Client(timeout=30) as client:
        assert client.get(f"{base}/readyz").status_code == 200
        proxy.stall()
        timed = []
        for _ in range(2):  # a new connection, and then the pooled one, hang
            started = time.monotonic()
            response = client.get(f"{base}/readyz")
            timed.append((time.monotonic() - started, response))
        proxy.cut()
        proxy.restore()
    for seconds, response in timed:
        assert response.status_code == 503
        assert "unreachable" in response.json()["reasons"][0]
        assert seconds < 5.0
