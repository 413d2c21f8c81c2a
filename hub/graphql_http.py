"""The GraphQL endpoint: POST /graphql with JSON, GET /graphql for queries and GraphiQL.

Request-level problems (a body that is not JSON, no ``query``) answer 400 with a GraphQL-shaped
error body; everything that reaches execution answers 200 with ``data`` and/or ``errors``.
"""

from __future__ import annotations

from typing import Any

import orjson
from graphql import OperationType
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from strawberry.http.ides import get_graphql_ide_html

from hub.access import Access, BadPurpose, declared_purpose
from hub.auth.principal import authenticate
from hub.execution import BAD_REQUEST, Executor
from hub.settings import Settings
from resolvers.access import NOTHING
from resolvers.context import RequestContext

JSON = "application/json"


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
    """Authenticate, read the request, run it on the principal's plan.

    The token is checked before anything else is read, so an anonymous caller learns nothing
    (not even whether its query parses); only the GraphiQL page itself is served without one
    (a browser can not send a header when it opens a page; GraphiQL then sends the token).
    """
    settings: Settings = request.app.state.settings
    if request.method == "GET" and "query" not in request.query_params:
        if settings.graphiql and "text/html" in request.headers.get("accept", ""):
            return HTMLResponse(get_graphql_ide_html())
    identity = await authenticate(request)
    try:
        purpose = declared_purpose(request)
    except BadPurpose as error:
        return request_error(str(error))
    if request.method == "GET":
        if "query" not in request.query_params:
            return request_error("GET /graphql needs a `query` parameter")
        try:
            raw: Any = dict(request.query_params)
            if "variables" in raw:
                raw["variables"] = orjson.loads(raw["variables"])
        except orjson.JSONDecodeError:
            return request_error("`variables` is not valid JSON")
    else:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != JSON:
            return request_error("POST /graphql takes application/json", 415)
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > settings.max_body_bytes:
            return request_error("The request body is too large", 413, "REQUEST_TOO_LARGE")
        body = await request.body()
        if len(body) > settings.max_body_bytes:
            return request_error("The request body is too large", 413, "REQUEST_TOO_LARGE")
        try:
            raw = orjson.loads(body)
        except orjson.JSONDecodeError:
            return request_error("The body is not valid JSON")

    params = _parse_params(raw)
    if isinstance(params, Response):
        return params
    query, variables, operation_name = params

    executor: Executor = request.app.state.executor
    prepared = executor.prepare(query)
    if request.method == "GET" and prepared.operation_type(operation_name) not in (
        None,
        OperationType.QUERY,
    ):
        return request_error("Only queries may be sent with GET; use POST", 405)

    access: Access = request.app.state.access
    context = RequestContext.build(settings, request.app.state.engine, NOTHING, request)
    try:
        context.identity = identity
        context.plan = await access.plan_for(identity, purpose, await context.connection())
        result = await executor.run(prepared, variables, operation_name, context)
    finally:
        await context.close()
    return json_response(result)
