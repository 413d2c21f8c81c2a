"""Prometheus metrics at ``GET /metrics``: requests, latency, refusals, the audit writer's lag.

The figures come from the audit writer (this module is its :class:`~audit.writer.AuditObserver`):
every request's entry says its operation, outcome and code, and the writer knows when the entry
committed. So the metrics count exactly what the audit log holds, and a request whose entry
could not be written is counted as lost.

- ``gridhub_requests_total{endpoint, operation, outcome}`` and
  ``gridhub_request_duration_seconds{…}`` (a histogram; from the request's start to its entry
  committed): ``endpoint`` is ``graphql`` or ``token``; ``operation`` is the operation name,
  ``anonymous`` when there is none, ``other`` once a process has seen
  :data:`MAX_OPERATIONS` distinct names (a caller can not blow up the series);
- ``gridhub_refusals_total{code}``: answers that were not ``ok``, by ``extensions.code``
  (not the requests their clients abandoned, ``CLIENT_CLOSED_REQUEST``);
- ``gridhub_audit_lag_seconds``: from the end of a request to its entry committed;
  ``gridhub_audit_queue_depth``: entries waiting for their transaction;
  ``gridhub_audit_lost_total{code}``: entries that could not be written (their requests were
  answered without data);
- ``gridhub_requests_in_progress``, ``gridhub_rate_limit_redis_errors_total``;
- with read replicas (docs/scaling.md): ``gridhub_reads_total{database}``, the requests that
  only read by the database that answered them (``primary`` or a replica), and
  ``gridhub_read_replica_in_rotation{replica}``.

With several worker processes (``gridhub serve --workers N``) each writes its figures to files
in ``PROMETHEUS_MULTIPROC_DIR`` (the serve command makes a fresh folder), and whichever worker
answers ``/metrics`` adds them all up.

Who may read it: with ``GRIDHUB_METRICS_TOKEN`` set, whoever sends it as a bearer token; without
it, clients on a loopback address only (a scraper on the same host or a sidecar).
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import re

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from audit.record import AuditRecord
from hub.faults import CLIENT_CLOSED_REQUEST
from hub.services import services

MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"
#: Distinct operation names a process labels before it calls the rest ``other``.
MAX_OPERATIONS = 100
ANONYMOUS, OTHER = "anonymous", "other"
#: Operation types that are no client's request (the grant sweep's entries).
_NOT_REQUESTS = frozenset({"system"})
#: Codes that are not refusals: a client that gave up on its own request. Anyone with a token
#: could otherwise drive the refusals alert by opening requests and closing them.
_NOT_REFUSALS = frozenset({CLIENT_CLOSED_REQUEST})
_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]{0,63}")
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
LAG_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0)
#: The paths whose requests count as in progress.
_COUNTED_PATHS = frozenset({"/graphql", "/oauth/token"})


class Metrics:
    """One app's metrics, in a registry of its own (tests run many apps in one process)."""

    def __init__(self, max_operations: int = MAX_OPERATIONS) -> None:
        self.registry = CollectorRegistry()
        self._operations: set[str] = set()
        self._max_operations = max_operations
        labels = ("endpoint", "operation", "outcome")
        self.requests = Counter(
            "gridhub_requests", "Requests answered, by outcome.", labels, registry=self.registry
        )
        self.latency = Histogram(
            "gridhub_request_duration_seconds",
            "From a request's start to its audit entry committed.",
            labels,
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.refusals = Counter(
            "gridhub_refusals",
            "Answers that were not ok, by extensions.code.",
            ("code",),
            registry=self.registry,
        )
        self.audit_lag = Histogram(
            "gridhub_audit_lag_seconds",
            "From the end of a request to its audit entry committed.",
            buckets=LAG_BUCKETS,
            registry=self.registry,
        )
        self.audit_queue = Gauge(
            "gridhub_audit_queue_depth",
            "Audit entries waiting for their transaction.",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self.audit_lost = Counter(
            "gridhub_audit_lost",
            "Audit entries that could not be written (their requests got no data).",
            ("code",),
            registry=self.registry,
        )
        self.in_progress = Gauge(
            "gridhub_requests_in_progress",
            "Requests being answered.",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self.reads = Counter(
            "gridhub_reads",
            "Requests that only read, by the database that answered them: primary, or a "
            "read replica's host:port/database.",
            ("database",),
            registry=self.registry,
        )
        self.replica_in_rotation = Gauge(
            "gridhub_read_replica_in_rotation",
            "1 while a read replica answers reads, 0 while it is out of rotation.",
            ("replica",),
            registry=self.registry,
            multiprocess_mode="livemin",
        )
        self.redis_errors = Counter(
            "gridhub_rate_limit_redis_errors",
            "Rate-limit checks that fell back to the process's own buckets.",
            registry=self.registry,
        )

    def operation(self, name: str | None) -> str:
        """The label for an operation name: bounded in number and length."""
        if not name:
            return ANONYMOUS
        if name in self._operations:
            return name
        if len(self._operations) >= self._max_operations or not _NAME.fullmatch(name):
            return OTHER
        self._operations.add(name)
        return name

    # AuditObserver

    def queued(self, depth: int) -> None:
        self.audit_queue.set(depth)

    def committed(self, record: AuditRecord, lag: float) -> None:
        self.audit_lag.observe(lag)
        self._count(record, record.outcome, record.error_code, record.latency_us / 1e6 + lag)

    def lost(self, record: AuditRecord, code: str) -> None:
        self.audit_lost.labels(code).inc()
        self._count(record, "error", code, record.latency_us / 1e6)

    def _count(self, record: AuditRecord, outcome: str, code: str | None, seconds: float) -> None:
        if record.operation_type in _NOT_REQUESTS:
            return
        endpoint = "token" if record.operation_type == "token" else "graphql"
        operation = endpoint if endpoint == "token" else self.operation(record.operation_name)
        labels = (endpoint, operation, outcome)
        self.requests.labels(*labels).inc()
        self.latency.labels(*labels).observe(seconds)
        if outcome != "ok" and code and code not in _NOT_REFUSALS:
            self.refusals.labels(code).inc()

    def exposition(self) -> bytes:
        """The text format, summed over every worker process when there are several."""
        if os.environ.get(MULTIPROC_DIR):
            registry = CollectorRegistry()
            MultiProcessCollector(registry)
            return bytes(generate_latest(registry))
        return bytes(generate_latest(self.registry))


def _loopback(request: Request) -> bool:
    host = request.client.host if request.client else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _refused(status: int, code: str, message: str) -> Response:
    return Response(
        f'{{"errors":[{{"message":"{message}","extensions":{{"code":"{code}"}}}}]}}',
        status,
        media_type="application/json",
    )


async def metrics_endpoint(request: Request) -> Response:
    """``GET /metrics``: the token, if one is set; else loopback clients only."""
    shared = services(request)
    token = shared.settings.metrics_token
    if token:
        sent = request.headers.get("authorization", "")
        if not hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
            return _refused(401, "UNAUTHENTICATED", "Send the metrics token")
    elif not _loopback(request):
        return _refused(403, "FORBIDDEN", "Metrics are served to loopback clients only")
    return Response(shared.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)


class InProgress:
    """ASGI middleware: counts the API requests being answered."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.gauge = metrics.in_progress

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in _COUNTED_PATHS:
            await self.app(scope, receive, send)
            return
        self.gauge.inc()
        try:
            await self.app(scope, receive, send)
        finally:
            self.gauge.dec()
