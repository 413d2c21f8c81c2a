"""The GraphQL endpoint: POST /graphql with JSON, GET /graphql for queries and GraphiQL.

Request-level problems (a body that is not JSON, no ``query``) answer 400 with a GraphQL-shaped
error body; everything that reaches execution answers 200 with ``data`` and/or ``errors``.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

import orjson
from graphql import OperationType
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from strawberry.http.ides import get_graphql_ide_html

from audit.record import Outcome
from audit.recorder import (
    DocumentFacts,
    Facts,
    document_facts,
    outcome_of,
    plan_reads,
    query_hash,
    redact,
)
from audit.writer import AuditUnavailable, AuditWriter
from hub.access import Access, BadPurpose, declared_purpose
from hub.auth.principal import (
    UNAUTHENTICATED,
    Unauthenticated,
    authenticate,
    unauthenticated_response,
)
from hub.execution import BAD_REQUEST, INTERNAL, Executor, Prepared
from hub.faults import SERVICE_UNAVAILABLE, failed_request, service_unavailable
from hub.rate_limit import admit
from hub.settings import Settings
from resolvers.access import NOTHING
from resolvers.context import RequestContext

JSON = "application/json"
AUDIT = "AUDIT_UNAVAILABLE"
#: The response header naming the request's audit entry (``request_id`` in the log).
REQUEST_ID = "X-Request-Id"
log = logging.getLogger(__name__)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type=JSON, headers=headers)


def request_error(message: str, status: int = 400, code: str = BAD_REQUEST) -> Response:
    return json_response({"errors": [{"message": message, "extensions": {"code": code}}]}, status)


def _parse_params(raw: Any) -> tuple[str, dict[str, Any] | None, str | None] | Response:
    if not isinstance(raw, dict):
        return request_error("The body must be a JSON object")
    query, variables, operation_name = (
        raw.get("query"),
        raw.get("variables"),
        raw.get("operationName"),
    )
    if not isinstance(query, str) or not query.strip():
        return request_error("`query` must be a non-empty string")
    if variables is not None and not isinstance(variables, dict):
        return request_error("`variables` must be a JSON object")
    if operation_name is not None and not isinstance(operation_name, str):
        return request_error("`operationName` must be a string")
    return query, variables, operation_name


async def graphql_endpoint(request: Request) -> Response:
    """Authenticate, read the request, run it on the principal's plan; audit every answer.

    The token is checked before anything else is read, so an anonymous caller learns nothing
    (not even whether its query parses); only the GraphiQL page itself is served without one
    (a browser can not send a header when it opens a page; GraphiQL then sends the token).
    Every other answer — data, refusal, bad request, failed login — is recorded in the audit
    log, and leaves only once its entry is committed (see :func:`audited`).
    """
    settings: Settings = request.app.state.settings
    if request.method == "GET" and "query" not in request.query_params:
        if settings.graphiql and "text/html" in request.headers.get("accept", ""):
            return HTMLResponse(get_graphql_ide_html())
    facts = Facts(
        request_id=uuid.uuid4().hex,
        client_address=request.client.host if request.client else None,
        started=time.perf_counter(),
    )
    try:
        response = await _answer(request, facts)
    except Unauthenticated as error:
        log.debug("Unauthenticated request: %s", error)
        facts.outcome, facts.error_code = Outcome.DENIED, UNAUTHENTICATED
        response = unauthenticated_response()
    except Exception as error:
        response = failed_request(request, facts, error)  # 503 if the database is unreachable
        if response is None:
            log.exception("Request %s failed", facts.request_id)
            facts.outcome, facts.error_code = Outcome.ERROR, INTERNAL
            response = request_error("Internal server error", 500, INTERNAL)
    return await audited(request, facts, response)


async def audited(request: Request, facts: Facts, response: Response) -> Response:
    """Commit the request's audit entry, then let the response go; if the entry can not be
    committed, answer ``AUDIT_UNAVAILABLE`` (503) instead: no data leaves unrecorded."""
    writer: AuditWriter = request.app.state.audit_writer
    latency_us = int((time.perf_counter() - facts.started) * 1_000_000)
    try:
        await writer.record(facts.record(latency_us))
    except Exception as error:
        if not isinstance(error, AuditUnavailable):
            log.exception("Audit entry of request %s not recorded", facts.request_id)
        if facts.error_code == SERVICE_UNAVAILABLE:  # refused already: the database is down
            return service_unavailable({REQUEST_ID: facts.request_id})
        return json_response(
            {"errors": [{"message": str(AuditUnavailable()), "extensions": {"code": AUDIT}}]},
            503,
            headers={REQUEST_ID: facts.request_id},
        )
    response.headers[REQUEST_ID] = facts.request_id
    return response


def _failed(facts: Facts, message: str, status: int = 400, code: str = BAD_REQUEST) -> Response:
    facts.outcome, facts.error_code = Outcome.ERROR, code
    return request_error(message, status, code)


async def _answer(request: Request, facts: Facts) -> Response:
    settings: Settings = request.app.state.settings
    identity = await authenticate(request)
    facts.subject, facts.principal_kind = identity.subject, identity.kind
    facts.client_id = identity.client_id
    if (refused := await admit(request, identity, facts)) is not None:
        return refused  # over its rate limit, or the database is known to be down
    try:
        purpose = declared_purpose(request)
    except BadPurpose as error:
        return _failed(facts, str(error))
    facts.purpose = purpose
    if request.method == "GET":
        if "query" not in request.query_params:
            return _failed(facts, "GET /graphql needs a `query` parameter")
        try:
            raw: Any = dict(request.query_params)
            if "variables" in raw:
                raw["variables"] = orjson.loads(raw["variables"])
        except orjson.JSONDecodeError:
            return _failed(facts, "`variables` is not valid JSON")
    else:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != JSON:
            return _failed(facts, "POST /graphql takes application/json", 415)
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > settings.max_body_bytes:
            return _failed(facts, "The request body is too large", 413, "REQUEST_TOO_LARGE")
        body = await request.body()
        if len(body) > settings.max_body_bytes:
            return _failed(facts, "The request body is too large", 413, "REQUEST_TOO_LARGE")
        try:
            raw = orjson.loads(body)
        except orjson.JSONDecodeError:
            return _failed(facts, "The body is not valid JSON")

    params = _parse_params(raw)
    if isinstance(params, Response):
        facts.outcome, facts.error_code = Outcome.ERROR, BAD_REQUEST
        return params
    query, variables, operation_name = params

    executor: Executor = request.app.state.executor
    prepared = executor.prepare(query)
    operation = prepared.operation(operation_name)
    document = _document_facts(executor, prepared)
    facts.operation_name = operation_name or (
        operation.name.value if operation is not None and operation.name else None
    )
    facts.operation_type = operation.operation.value if operation is not None else None
    facts.query_hash = (
        prepared.memoized("query_hash", lambda: query_hash(prepared.document, query))
        if prepared.document is not None
        else query_hash(None, query)
    )
    facts.variables = redact(variables, operation, document)
    if request.method == "GET" and prepared.operation_type(operation_name) not in (
        None,
        OperationType.QUERY,
    ):
        return _failed(facts, "Only queries may be sent with GET; use POST", 405)

    access: Access = request.app.state.access
    context = RequestContext.build(
        settings, request.app.state.engine, NOTHING, request, request.app.state.clock()
    )
    try:
        context.identity = identity
        plan = await access.plan_for(identity, purpose, await context.connection())
        context.plan = plan
        facts.department_code = plan.principal.department
        facts.roles = plan.roles
        if document is not None:
            facts.reads, facts.grant_ids = plan_reads(plan, document)
        result = await executor.run(prepared, variables, operation_name, context)
    finally:
        await context.close()
    if context.field_reads and document is not None:  # a map view's layers read more
        read = DocumentFacts(document.fields | context.field_reads, document.sensitive_variables)
        facts.reads, facts.grant_ids = plan_reads(context.plan, read)
    facts.person_ids = tuple(str(key) for key in sorted(context.person_ids))
    facts.row_counts = dict(context.row_counts)
    facts.outcome, facts.error_code = outcome_of(result, facts.reads)
    return json_response(result)


def _document_facts(executor: Executor, prepared: Prepared) -> DocumentFacts | None:
    """What the document reads, worked out once per cached document."""
    document = prepared.document
    if document is None:
        return None
    return prepared.memoized("audit", lambda: document_facts(executor.schema, document))
