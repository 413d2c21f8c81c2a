"""``/healthz`` (the process is alive) and ``/readyz`` (it can answer requests now).

A load balancer or orchestrator restarts a process whose ``/healthz`` fails and sends no traffic
to one whose ``/readyz`` fails. ``/healthz`` touches nothing: a database outage must not get
every hub process restarted. ``/readyz`` answers 200 only when the database answers a
statement within the connect timeout and takes writes (on PostgreSQL: not a standby, not
read-only), and this process's audit writer is running (not stopped, not shutting down) —
without those every request would be refused. Otherwise 503 with the reasons.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from audit.writer import AuditWriter
from hub.endpoints.graphql import json_response
from hub.settings import Settings
from store.availability import DatabaseState, probe


async def healthz(_: Request) -> Response:
    return json_response({"status": "ok"})


async def readyz(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    writer: AuditWriter = request.app.state.audit_writer
    database: DatabaseState = request.app.state.database
    reasons = []
    problem = await probe(request.app.state.engine, settings.database_connect_timeout)
    if problem is not None:
        reasons.append(problem)
        if not database.refusing:
            database.failed(ConnectionError(problem))
    if not writer.running:
        reasons.append("the audit writer is not running")
    if reasons:
        return json_response({"status": "unavailable", "reasons": reasons}, 503)
    return json_response({"status": "ready"})
