"""The GraphQL endpoint, as the GraphQL-over-HTTP specification asks: POST with JSON, GET for
queries only, and GraphiQL in development mode.

The answer's media type follows ``Accept``: ``application/graphql-response+json`` when the client
asks for it — then a request that did not run (it does not parse, validate or pass a limit)
answers 400 and one that ran 200 — and ``application/json`` otherwise (no ``Accept``, ``*/*``),
where every well-formed GraphQL response is 200, as older clients expect. Nothing acceptable is
406. Requests that are not GraphQL requests answer with their own status, each with a
GraphQL-shaped error body and code: a body that is not a JSON object 400, a JSON array
``BATCH_NOT_SUPPORTED`` (the hub does not batch), another content type than JSON 415 (a browser
form can post only those others, so this also stops cross-site form posts), a body over the limit
413 (read as a stream, never more than the limit), a body that does not arrive in time 408, a
mutation sent with GET 405.

A document is refused for its limits (:mod:`hub.limits`) before any statement or resolver
runs; a department app locked to its persisted operations (:mod:`hub.operations`) runs nothing
else.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import orjson
from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationType,
    SelectionSetNode,
)
from starlette.requests import Request
from starlette.responses import Response

from audit.record import Outcome
from auth.principal import Identity
from hub.audit_facts import (
    DocumentFacts,
    Facts,
    answered_reads,
    document_facts,
    outcome_of,
    plan_reads,
    query_hash,
    redact,
)
from hub.body import BodyTimeout, BodyTooLarge, read_body
from hub.execution import BAD_REQUEST, INTROSPECTION_DISABLED, Executor, Prepared
from hub.graphiql_page import graphiql_page
from hub.limits import oversized_variable
from hub.operations import (
    PERSISTED_QUERY_NOT_ALLOWED,
    PERSISTED_QUERY_NOT_FOUND,
    lookup,
    normalise_hash,
    sha256_of,
)
from hub.pipeline import JSON, BadPurpose, Call, json_response, request_error, serve
from hub.preview import PREVIEW_HEADER
from hub.services import services
from hub.settings import Settings
from schema.subscription import EventStreamRequired
from store.errors import Forbidden

GRAPHQL_RESPONSE = "application/graphql-response+json"
BATCH_NOT_SUPPORTED = "BATCH_NOT_SUPPORTED"
METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
NOT_ACCEPTABLE = "NOT_ACCEPTABLE"
UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
REQUEST_TOO_LARGE = "REQUEST_TOO_LARGE"
REQUEST_TIMEOUT = "REQUEST_TIMEOUT"
#: The codes of requests refused for their HTTP shape (each with its own status).
HTTP_CODES = (
    BATCH_NOT_SUPPORTED,
    METHOD_NOT_ALLOWED,
    NOT_ACCEPTABLE,
    UNSUPPORTED_MEDIA_TYPE,
    REQUEST_TOO_LARGE,
    REQUEST_TIMEOUT,
)
#: Refusals of the caller rather than of the document: audited as ``denied``.
FORBIDDEN = Forbidden.code
DENIALS = frozenset({PERSISTED_QUERY_NOT_ALLOWED, INTROSPECTION_DISABLED, FORBIDDEN})
log = logging.getLogger(__name__)


class Refused(Exception):
    """A request answered with one error before it ran (audited with its code)."""

    def __init__(
        self,
        message: str,
        status: int = 400,
        code: str = BAD_REQUEST,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message, self.status, self.code, self.headers = message, status, code, headers


def negotiate(accept: str | None) -> str | None:
    """The media type to answer in: the client's best by ``q``, ``graphql-response+json`` on a
    tie; ``application/json`` when there is no ``Accept`` or only wildcards; None: neither."""
    if accept is None or not accept.strip():
        return JSON
    best: tuple[float, bool] | None = None
    chosen = None
    for part in accept.split(","):
        media, *parameters = part.split(";")
        media = media.strip().lower()
        quality = 1.0
        for parameter in parameters:
            key, _, value = parameter.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality <= 0:
            continue
        if media == GRAPHQL_RESPONSE:
            candidate = GRAPHQL_RESPONSE
        elif media in (JSON, "application/*", "*/*"):
            candidate = JSON
        else:
            continue
        rank = (quality, candidate == GRAPHQL_RESPONSE)
        if best is None or rank > best:
            best, chosen = rank, candidate
    return chosen


def _browser_page(request: Request, settings: Settings) -> bool:
    return (
        request.method == "GET"
        and not settings.production
        and settings.graphiql
        and "query" not in request.query_params
        and "text/html" in request.headers.get("accept", "")
    )


async def graphql_endpoint(request: Request) -> Response:
    """Authenticate, read the request, run it on the principal's plan; audit every answer.

    The token is checked before anything else is read, so an anonymous caller learns nothing
    (not even whether its query parses); only the GraphiQL page itself is served without one
    (a browser can not send a header when it opens a page; GraphiQL then sends the token).
    Every other answer — data, refusal, bad request, failed login — is recorded in the audit
    log, and leaves only once its entry is committed (see :mod:`hub.pipeline`).
    """
    if _browser_page(request, services(request).settings):
        return graphiql_page()
    return await serve(request, _answer)


@dataclass
class Params:
    """A GraphQL request's parameters, from a JSON body or a GET query string."""

    query: str | None
    variables: dict[str, Any] | None
    operation_name: str | None
    #: The SHA-256 of a persisted document (``extensions.persistedQuery`` or ``documentId``).
    document_hash: str | None
    #: How many bytes the parameters came in (a bound on the variables' size).
    size: int = 0


async def _answer(call: Call) -> Response:
    identity = await call.authenticate()
    media = negotiate(call.request.headers.get("accept"))
    if (refused := await call.admit(identity)) is not None:
        return refused  # over its rate limit, or the database is known to be down
    call.may_read_replica()  # until the document turns out to write (see _run)
    try:
        params = await _read(call, media)
    except Refused as error:
        call.facts.outcome, call.facts.error_code = Outcome.ERROR, error.code
        return request_error(error.message, error.status, error.code, error.headers, media or JSON)
    assert media is not None  # else refused
    try:
        return await _run(call, identity, params, media)
    finally:
        await call.release()


async def _read(call: Call, media: str | None) -> Params:
    """The request's parameters; :class:`Refused` for a request that is not a GraphQL one."""
    request = call.request
    if media is None:
        raise Refused(f"Send Accept: {GRAPHQL_RESPONSE} or {JSON}", 406, NOT_ACCEPTABLE)
    if request.method not in ("GET", "POST"):
        raise Refused(
            "/graphql takes GET and POST", 405, METHOD_NOT_ALLOWED, {"Allow": "GET, POST"}
        )
    try:
        call.declared_purpose()
    except BadPurpose as error:
        raise Refused(str(error)) from None
    raw, size = await _raw(request, call.services.settings)
    params = _params(raw)
    params.size = size
    return params


async def _raw(request: Request, settings: Settings) -> tuple[Any, int]:
    """The request's parameters as JSON values: the query string of a GET, the body of a POST.

    A NUL character is refused wherever it is (no database column can hold one, and nothing
    needs one): in a JSON body it can only be the escape ``\\u0000``.
    """
    if request.method == "GET":
        raw: dict[str, Any] = dict(request.query_params)
        if any("\x00" in value or "\\u0000" in value for value in raw.values()):
            raise Refused("The request may not contain the NUL character")
        for name in ("variables", "extensions"):
            if name in raw:
                try:
                    raw[name] = orjson.loads(raw[name])
                except orjson.JSONDecodeError:
                    raise Refused(f"`{name}` is not valid JSON") from None
        if "query" not in raw and "extensions" not in raw and "documentId" not in raw:
            raise Refused("GET /graphql needs a `query` parameter")
        return raw, len(request.url.query)
    content_type = request.headers.get("content-type", "")
    media_type, *parameters = content_type.split(";")
    if media_type.strip().lower() != JSON:
        raise Refused(f"POST /graphql takes {JSON}", 415, UNSUPPORTED_MEDIA_TYPE)
    for parameter in parameters:
        key, _, value = parameter.partition("=")
        if key.strip().lower() == "charset" and value.strip().strip('"').lower() not in (
            "utf-8",
            "utf8",
        ):
            raise Refused("The body must be UTF-8", 415, UNSUPPORTED_MEDIA_TYPE)
    try:
        body = await read_body(request, settings.max_body_bytes, settings.body_timeout)
    except BodyTooLarge:
        raise Refused(
            f"The request body is larger than {settings.max_body_bytes} bytes",
            413,
            REQUEST_TOO_LARGE,
            {"Connection": "close"},  # the rest of the body is not read
        ) from None
    except BodyTimeout:
        raise Refused(
            f"The request body did not arrive within {settings.body_timeout:g} seconds",
            408,
            REQUEST_TIMEOUT,
            {"Connection": "close"},
        ) from None
    if b"\\u0000" in body:
        raise Refused("The request may not contain the NUL character")
    try:
        return orjson.loads(body), len(body)
    except orjson.JSONDecodeError:
        raise Refused("The body is not valid JSON (in UTF-8)") from None


def _params(raw: Any) -> Params:
    if isinstance(raw, list):
        raise Refused(
            "Send one operation per request: batches are not supported", 400, BATCH_NOT_SUPPORTED
        )
    if not isinstance(raw, dict):
        raise Refused("The body must be a JSON object")
    query, variables, operation_name = (
        raw.get("query"),
        raw.get("variables"),
        raw.get("operationName"),
    )
    if variables is not None and not isinstance(variables, dict):
        raise Refused("`variables` must be a JSON object")
    if operation_name is not None and not isinstance(operation_name, str):
        raise Refused("`operationName` must be a string")
    document_hash = _document_hash(raw)
    if query is None and document_hash is not None:
        return Params(None, variables, operation_name, document_hash)
    if not isinstance(query, str) or not query.strip():
        raise Refused("`query` must be a non-empty string")
    if document_hash is not None and document_hash != sha256_of(query):
        raise Refused("The persisted query's hash is not the SHA-256 of `query`")
    return Params(query, variables, operation_name, document_hash)


def _document_hash(raw: dict[str, Any]) -> str | None:
    """The persisted document's hash the request names, if any (both forms are taken)."""
    extensions = raw.get("extensions")
    if extensions is not None and not isinstance(extensions, dict):
        raise Refused("`extensions` must be a JSON object")
    sent: Any = None
    persisted = (extensions or {}).get("persistedQuery")
    if persisted is not None:
        if not isinstance(persisted, dict):
            raise Refused("`extensions.persistedQuery` must be a JSON object")
        sent = persisted.get("sha256Hash")
    if "documentId" in raw:
        sent = raw["documentId"]
    if sent is None:
        return None
    found = normalise_hash(sent) if isinstance(sent, str) else None
    if found is None:
        raise Refused("A persisted document is named by its SHA-256 in hex")
    return found


def _graphql_response(body: dict[str, Any], media: str) -> Response:
    """A GraphQL response: 200, but 400 for one that did not run, in graphql-response+json."""
    status = 200 if media == JSON or "data" in body else 400
    return json_response(body, status, media=media)


def _refuse(facts: Facts, error: dict[str, Any], media: str) -> Response:
    code = error["extensions"]["code"]
    facts.error_code = code
    facts.outcome = Outcome.DENIED if code in DENIALS else Outcome.ERROR
    return _graphql_response({"errors": [error]}, media)


def _error(message: str, code: str) -> dict[str, Any]:
    return {"message": message, "extensions": {"code": code}}


async def _run(call: Call, identity: Identity, params: Params, media: str) -> Response:
    """Find the document and check it, then compile the plan and run it."""
    prepared = await _prepare(call, identity, params, media)
    if isinstance(prepared, Response):
        return prepared
    operation_type = prepared.operation_type(params.operation_name)
    if operation_type is not OperationType.QUERY:
        await call.use_primary()
    elif _reads_primary(prepared, params):
        await call.use_primary(reading=True)
    facts, settings = call.facts, call.services.settings
    try:
        plan, context = await call.plan(identity, facts.purpose)
    except Forbidden as error:  # a preview the caller may not make
        return _refuse(facts, _error(str(error), FORBIDDEN), media)
    if call.preview_as is not None and prepared.operation_type(params.operation_name) not in (
        None,
        OperationType.QUERY,
    ):
        message = f"A preview ({PREVIEW_HEADER}) only reads: send changes as yourself"
        return _refuse(facts, _error(message, FORBIDDEN), media)
    if (
        prepared.introspects
        and settings.production
        and not set(settings.introspection_roles).intersection(plan.roles)
    ):
        return _refuse(facts, _introspection_disabled(), media)
    executor = call.services.executor
    document = _document_facts(executor, prepared)
    if document is not None:
        facts.reads, facts.grant_ids = plan_reads(plan, document)
    try:
        result = await executor.run(prepared, params.variables, params.operation_name, context)
    except Exception as error:
        again = await call.fall_back(error)  # a replica failed under a query: the primary
        if again is None:
            raise
        context = again
        result = await executor.run(prepared, params.variables, params.operation_name, context)
    if operation_type is OperationType.MUTATION:
        await call.wrote()  # its principal reads its own writes from now on
    if document is not None:
        facts.reads = answered_reads(document, context.answer)
    if context.field_reads and document is not None:  # a map view's layers read more
        read = DocumentFacts(document.fields | context.field_reads, document.sensitive_variables)
        layers = DocumentFacts(frozenset(context.field_reads), frozenset())
        facts.grant_ids = plan_reads(plan, read)[1]
        facts.reads = sorted({*facts.reads, *plan_reads(plan, layers)[0]})
    facts.person_ids = tuple(str(key) for key in sorted(context.person_ids))
    facts.row_counts = dict(context.row_counts)
    facts.outcome, facts.error_code = outcome_of(result, facts.reads)
    response = _graphql_response(result, media)
    call.submit()  # the answer is complete: its entry is written while the connection goes back
    return response


async def _prepare(
    call: Call, identity: Identity, params: Params, media: str, *, stream: bool = False
) -> Prepared | Response:
    """The request's document, parsed, validated and within its limits, and what the audit
    entry says of it; else the refusal (nothing of the plan is needed to refuse it). A
    subscription is refused unless the request asked for a ``stream`` of events."""
    facts, settings, executor = call.facts, call.services.settings, call.services.executor
    oversized = oversized_variable(params.variables, params.size)
    if oversized is not None:
        return _refuse(facts, dict(oversized.formatted), media)
    query = params.query
    if query is None:
        assert params.document_hash is not None
        query = await lookup(await call.connection(), identity.subject, params.document_hash)
        if query is None:
            facts.query_hash = params.document_hash
            message = "No persisted document has this hash for your app"
            return _refuse(facts, _error(message, PERSISTED_QUERY_NOT_FOUND), media)
    prepared = executor.prepare(query)
    _describe(facts, executor, prepared, params, query)
    if call.request.method == "GET" and prepared.operation_type(params.operation_name) not in (
        None,
        OperationType.QUERY,
    ):
        facts.outcome, facts.error_code = Outcome.ERROR, METHOD_NOT_ALLOWED
        return request_error(
            "Only queries may be sent with GET; use POST",
            405,
            METHOD_NOT_ALLOWED,
            {"Allow": "POST"},
            media,
        )
    if prepared.document is None:  # it does not parse, pass a limit or validate
        facts.outcome, facts.error_code = Outcome.ERROR, prepared.errors[0]["extensions"]["code"]
        return _graphql_response({"errors": list(prepared.errors)}, media)
    if not stream and prepared.operation_type(params.operation_name) is OperationType.SUBSCRIPTION:
        return _refuse(facts, _error(EventStreamRequired.MESSAGE, EventStreamRequired.code), media)
    costly = prepared.cost_refusal(params.operation_name, params.variables)
    if costly is not None:
        return _refuse(facts, costly, media)
    if prepared.introspects and settings.production and not settings.introspection_roles:
        return _refuse(facts, _introspection_disabled(), media)
    if identity.subject in settings.persisted_only and params.query is not None:
        sha = sha256_of(params.query)
        if await lookup(await call.connection(), identity.subject, sha) is None:
            message = "Your app may run only its persisted operations"
            return _refuse(facts, _error(message, PERSISTED_QUERY_NOT_ALLOWED), media)
    return prepared


def _describe(
    facts: Facts, executor: Executor, prepared: Prepared, params: Params, query: str
) -> None:
    """What the audit entry says of the document: its operation, its hash, its variables
    (redacted where they feed a filter on a sensitive field)."""
    operation = prepared.operation(params.operation_name)
    facts.operation_name = params.operation_name or (
        operation.name.value if operation is not None and operation.name else None
    )
    facts.operation_type = operation.operation.value if operation is not None else None
    facts.query_hash = (
        prepared.memoized("query_hash", lambda: query_hash(prepared.document, query))
        if prepared.document is not None
        else query_hash(None, query)
    )
    document = _document_facts(executor, prepared)
    facts.variables = redact(params.variables, operation, document)


#: Root fields read on the primary even in a query: an auditor's search finds every request
#: this hub has answered (``schema.audit_log`` waits for this process's index rows), which a
#: replica has not necessarily replayed yet.
PRIMARY_ROOT_FIELDS = frozenset({"auditLog", "auditStats"})


def _reads_primary(prepared: Prepared, params: Params) -> bool:
    """Whether the operation selects a root field of :data:`PRIMARY_ROOT_FIELDS` (through
    fragments too)."""
    operation = prepared.operation(params.operation_name)
    if operation is None or prepared.document is None:
        return False
    fragments = {
        definition.name.value: definition
        for definition in prepared.document.definitions
        if isinstance(definition, FragmentDefinitionNode)
    }
    pending: list[SelectionSetNode] = [operation.selection_set]
    seen: set[str] = set()
    while pending:
        for selection in pending.pop().selections:
            if isinstance(selection, FieldNode):
                if selection.name.value in PRIMARY_ROOT_FIELDS:
                    return True
            elif isinstance(selection, InlineFragmentNode):
                pending.append(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                if name not in seen and name in fragments:
                    seen.add(name)
                    pending.append(fragments[name].selection_set)
    return False


def _introspection_disabled() -> dict[str, Any]:
    return _error("Introspection is not enabled for you", INTROSPECTION_DISABLED)


def _document_facts(executor: Executor, prepared: Prepared) -> DocumentFacts | None:
    """What the document reads, worked out once per cached document."""
    document = prepared.document
    if document is None:
        return None
    return prepared.memoized("audit", lambda: document_facts(executor.schema, document))
