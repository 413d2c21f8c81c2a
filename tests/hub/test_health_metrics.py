"""/healthz, /readyz and /metrics: what an orchestrator and a Prometheus scraper see."""

from __future__ import annotations

import os
import signal
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from audit.record import AuditRecord
from hub.app import create_app
from hub.metrics import Metrics
from hub.services import services
from hub.settings import Settings
from tests.support import running

WORKER = "worker-440306001001001"
LOOPBACK = ("127.0.0.1", 40000)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape, by name and sorted labels."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(text: str, name: str, **labels: str) -> float:
    return samples(text).get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), client=LOOPBACK) as client:
        yield client


def test_healthz_and_readyz_when_all_is_well(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready"}


def test_readyz_is_503_once_the_audit_writer_stops(settings: Settings) -> None:
    """A process whose writer is stopped would refuse every request: it is not ready."""
    with TestClient(create_app(settings)) as client:
        client.portal.call(services(client.app).audit_writer.close)
        ready = client.get("/readyz")
        alive = client.get("/healthz")
    assert ready.status_code == 503
    assert ready.json() == {"status": "unavailable", "reasons": ["the audit writer is not running"]}
    assert alive.status_code == 200


def test_metrics_count_requests_by_operation_and_outcome_and_refusals_by_code(
    client: TestClient, token_for: Callable[[str], str]
) -> None:
    headers = {"authorization": f"Bearer {token_for(WORKER)}"}
    named = {"query": 'query GridName { grid(code: "440306") { name } }'}
    for _ in range(3):
        assert client.post("/graphql", json=named, headers=headers).status_code == 200
    assert client.post("/graphql", json={"query": "{ me { subject } }"}, headers=headers)
    assert client.post("/graphql", json=named).status_code == 401
    forbidden = {"query": "query Care { people(filter: {careTag: ELDERLY_ALONE}) { totalCount } }"}
    client.post(
        "/graphql",
        json=forbidden,
        headers={"authorization": f"Bearer {token_for('public-security-app')}"},
    )

    scrape = client.get("/metrics")
    assert scrape.status_code == 200
    assert scrape.headers["content-type"].startswith("text/plain")
    text = scrape.text
    ok = {"endpoint": "graphql", "operation": "GridName", "outcome": "ok"}
    assert value(text, "gridhub_requests_total", **ok) == 3
    assert value(text, "gridhub_request_duration_seconds_count", **ok) == 3
    assert value(text, "gridhub_request_duration_seconds_sum", **ok) > 0
    anonymous = {"endpoint": "graphql", "operation": "anonymous", "outcome": "ok"}
    assert value(text, "gridhub_requests_total", **anonymous) == 1
    assert value(text, "gridhub_refusals_total", code="UNAUTHENTICATED") == 1
    assert value(text, "gridhub_refusals_total", code="FORBIDDEN") == 1
    assert value(text, "gridhub_audit_lag_seconds_count") == 6  # every entry committed
    assert value(text, "gridhub_audit_queue_depth") == 0
    assert value(text, "gridhub_audit_lost_total", code="AUDIT_UNAVAILABLE") == 0


def test_rate_limited_requests_show_as_refusals(
    settings: Settings, token_for: Callable[[str], str]
) -> None:
    tight = settings.model_copy(
        update={"rate_limit_person_burst": 1, "rate_limit_person_rate": 0.01}
    )
    headers = {"authorization": f"Bearer {token_for(WORKER)}"}
    with TestClient(create_app(tight), client=LOOPBACK) as client:
        statuses = [
            client.post(
                "/graphql", json={"query": "{ me { subject } }"}, headers=headers
            ).status_code
            for _ in range(3)
        ]
        text = client.get("/metrics").text
    assert statuses == [200, 429, 429]
    assert value(text, "gridhub_refusals_total", code="RATE_LIMITED") == 2
    denied = {"endpoint": "graphql", "operation": "anonymous", "outcome": "denied"}
    assert value(text, "gridhub_requests_total", **denied) == 2


def test_operation_names_are_bounded() -> None:
    metrics = Metrics(max_operations=2)
    assert [metrics.operation(n) for n in ("A", "B", "C", "A", None, "")] == [
        "A",
        "B",
        "other",
        "A",
        "anonymous",
        "anonymous",
    ]
    metrics = Metrics(max_operations=2)
    for number in range(500):
        metrics.committed(
            AuditRecord(
                request_id=f"r{number}",
                outcome="ok",
                latency_us=1000,
                operation_name=f"Name{number}",
                operation_type="query",
            ),
            0.001,
        )
    operations = {
        labels["operation"]
        for family in text_string_to_metric_families(metrics.exposition().decode())
        for labels in (sample.labels for sample in family.samples)
        if "operation" in labels
    }
    assert operations == {"Name0", "Name1", "other"}


def test_metrics_are_for_loopback_clients_unless_a_token_is_set(
    settings: Settings,
) -> None:
    with TestClient(create_app(settings), client=("192.0.2.10", 40000)) as remote:
        refused = remote.get("/metrics")
    assert refused.status_code == 403
    assert refused.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    with_token = settings.model_copy(update={"metrics_token": "s3cret-scrape"})
    with TestClient(create_app(with_token), client=("192.0.2.10", 40000)) as remote:
        allowed = remote.get("/metrics", headers={"authorization": "Bearer s3cret-scrape"})
        wrong = remote.get("/metrics", headers={"authorization": "Bearer guess"})
        none = remote.get("/metrics")
    with TestClient(create_app(with_token), client=LOOPBACK) as local:
        local_without = local.get("/metrics")
    assert allowed.status_code == 200
    assert "gridhub_requests_in_progress" in allowed.text
    assert (wrong.status_code, none.status_code, local_without.status_code) == (401, 401, 401)


# Several workers.


def _workers_of(port: int) -> list[int]:
    """The worker processes of the ``gridhub serve --port PORT`` running here."""
    commands = {}
    parents = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            commands[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    servers = {pid for pid, line in commands.items() if b"--port %d" % port in line}
    return [
        pid
        for pid, parent in parents.items()
        if parent in servers and b"spawn_main" in commands.get(pid, b"")
    ]


def _in_progress(base: str) -> float | None:
    try:
        response = httpx.get(f"{base}/metrics", timeout=5)
    except httpx.TransportError:
        return None
    if response.status_code != 200:
        return None
    return value(response.text, "gridhub_requests_in_progress")


def test_a_killed_workers_requests_leave_the_in_progress_gauge(
    database_url: str, settings: Settings, token_for: Callable[[str], str], tmp_path: Path
) -> None:
    """Requests in progress in a worker that is then killed (SIGKILL: out of memory, a crash)
    are no longer counted once the supervisor has replaced it."""
    environment = {
        "GRIDHUB_KEY_DIR": str(settings.key_dir),
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
    }
    arguments = ["serve", "--workers", "2", "--database-url", database_url]
    token = token_for("worker-440306001001001")
    with running(arguments, env=environment) as (base, _):
        address = urlsplit(base)
        hanging = []
        for _ in range(4):  # requests whose bodies never come: in progress until cut off
            sock = socket.create_connection((address.hostname, address.port))
            sock.sendall(
                b"POST /graphql HTTP/1.1\r\nHost: hub\r\nContent-Type: application/json\r\n"
                b"Authorization: Bearer %s\r\nContent-Length: 1000\r\n\r\n{" % token.encode()
            )
            hanging.append(sock)
        deadline = time.monotonic() + 10
        while _in_progress(base) != 4 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _in_progress(base) == 4
        workers = _workers_of(address.port or 0)
        assert len(workers) == 2
        for pid in workers:
            os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while _in_progress(base) != 0 and time.monotonic() < deadline:
            time.sleep(0.2)
        after = _in_progress(base)
        replaced = _workers_of(address.port or 0)
        for sock in hanging:
            sock.close()
    assert after == 0
    assert len(replaced) == 2
    assert not set(replaced) & set(workers)
