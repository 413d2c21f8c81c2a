"""When the database goes away: refuse fast with ``SERVICE_UNAVAILABLE``, recover by itself.

A request that finds the database unreachable — a refused or dropped connection, a connect or
statement timeout, a server shutting down, a SQLite file that can not be opened — is answered
HTTP 503 with a GraphQL-shaped ``SERVICE_UNAVAILABLE`` error and ``Retry-After: 1``, never a
500 or a trace, and no data.

Each process keeps a :class:`DatabaseState`: a failure marks the database down; for the next
``retry_seconds`` requests are refused at once, before any statement (so a database that hangs
instead of refusing costs one connect timeout a second, not one per request); after that one
request goes through and tries. The first statement that runs again — any checkout the pool's
pre-ping accepts — marks it up. Nothing has to be restarted: the pool drops dead connections on
checkout (pre-ping), the audit writer reads its chain's head back before its next transaction,
and the access watch reconnects on its own (every 2 seconds).

The audit entry of a request refused because the database is down can not be written (the
audit log is in the database). The request is answered without data, so nothing leaves
unrecorded; its refusal is counted (``gridhub_audit_unrecorded_total``) and logged with its
request id instead. The chain is untouched: it continues after the last committed entry.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import orjson
from starlette.responses import Response

from audit.record import Outcome
from store.availability import (
    SERVICE_UNAVAILABLE,
    DatabaseState,
    ServiceUnavailable,
    is_unavailable,
)

__all__ = ["SERVICE_UNAVAILABLE", "failed_request", "refuse", "service_unavailable", "unavailable"]

if TYPE_CHECKING:
    from hub.audit_facts import Facts

log = logging.getLogger(__name__)

#: A client that closed its connection before its request was read (nginx's 499): the
#: client's abort, recorded as such, neither a fault of the hub's nor a refusal.
CLIENT_CLOSED_REQUEST = "CLIENT_CLOSED_REQUEST"
CLIENT_CLOSED_STATUS = 499


def service_unavailable(headers: dict[str, str] | None = None) -> Response:
    body = {
        "errors": [
            {
                "message": str(ServiceUnavailable()),
                "extensions": {"code": SERVICE_UNAVAILABLE},
            }
        ]
    }
    return Response(
        orjson.dumps(body),
        503,
        media_type="application/json",
        headers={"Retry-After": "1", **(headers or {})},
    )


def refuse(facts: Facts) -> Response:
    facts.outcome, facts.error_code = Outcome.ERROR, SERVICE_UNAVAILABLE
    return service_unavailable()


def unavailable(database: DatabaseState, facts: Facts) -> Response | None:
    """The refusal while the database is known to be down; None when it may be tried."""
    return refuse(facts) if database.refusing else None


def failed_request(database: DatabaseState, facts: Facts, error: BaseException) -> Response | None:
    """The answer to a request that raised ``error``: 503 if the database was unreachable
    (``database`` learns it), else None (a fault of the hub's: the caller answers 500)."""
    if not is_unavailable(error):
        return None
    database.failed(error)
    log.info("Request %s refused: the database is unavailable", facts.request_id)
    return refuse(facts)
