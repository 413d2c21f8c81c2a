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

from hub.pipeline import json_response
from hub.services import services
from store.availability import probe


async def healthz(_: Request) -> Response:
    return json_response({"status": "ok"})


async def readyz(request: Request) -> Response:
    shared = services(request)
    reasons = []
    problem = await probe(shared.engine, shared.settings.database_connect_timeout)
    if problem is not None:
        reasons.append(problem)
        if not shared.database.refusing:
            shared.database.failed(ConnectionError(problem))
    if not shared.audit_writer.running:
        reasons.append("the audit writer is not running")
    if reasons:
        return json_response({"status": "unavailable", "reasons": reasons}, 503)
    return json_response({"status": "ready"})
