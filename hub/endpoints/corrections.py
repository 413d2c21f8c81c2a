"""``GET /feeds/{department}/corrections?since=…``: a department's accepted corrections as JSON
lines, for its own system to take in (:mod:`tasks.feed_out`).

Only the department's own apps (OAuth clients of that department) read it, with the same
bearer tokens as ``/graphql``, through the one request pipeline: every request is one audit
entry naming the department and how many corrections it returned (the values stay out of the
log). ``since`` is an ISO 8601 time with its zone (the last line's ``decidedAt``); ``after``
the last line's ``correction`` id when several share that time. Refusals answer the GraphQL
error shape: 400 ``BAD_USER_INPUT``, 401 ``UNAUTHENTICATED``, 403 ``FORBIDDEN``.
"""

from __future__ import annotations

from datetime import datetime

import orjson
from starlette.requests import Request
from starlette.responses import Response

from audit.record import Outcome
from hub.pipeline import Call, request_error, serve
from store.errors import BadUserInput, Forbidden, GridhubError
from tasks.feed_out import accepted_since

OPERATION = "correctionsFeed"
JSON_LINES = "application/x-ndjson"


async def corrections_endpoint(request: Request) -> Response:
    return await serve(request, _answer, operation_name=OPERATION, operation_type="query")


def _since(text: str | None) -> datetime | None:
    if text is None or not text.strip():
        return None
    try:
        at = datetime.fromisoformat(text.strip())
    except ValueError:
        raise BadUserInput("`since` is an ISO 8601 time with its zone") from None
    if at.tzinfo is None:
        raise BadUserInput("`since` needs its time zone (…Z or …+08:00)")
    return at


def _after(text: str | None) -> int:
    if text is None or not text.strip():
        return 0
    if not text.isascii() or not text.isdigit() or len(text) > 9:
        raise BadUserInput("`after` is a correction number")
    return int(text)


async def _answer(call: Call) -> Response:
    try:
        try:
            return await _lines(call)
        finally:
            await call.release()  # the lines are read: nothing is streamed
    except GridhubError as error:
        call.facts.outcome = Outcome.DENIED if isinstance(error, Forbidden) else Outcome.ERROR
        call.facts.error_code = error.code
        return request_error(str(error), 403 if isinstance(error, Forbidden) else 400, error.code)


async def _lines(call: Call) -> Response:
    identity = await call.authenticate()
    if (refused := await call.admit(identity)) is not None:
        return refused
    department = call.request.path_params["department"]
    params = call.request.query_params
    call.facts.variables = {
        name: value
        for name, value in (
            ("department", department),
            ("since", params.get("since")),
            ("after", params.get("after")),
        )
        if value is not None
    }
    since, after = _since(params.get("since")), _after(params.get("after"))
    plan, context = await call.plan(identity, None)
    if identity.kind != "client" or plan.principal.department != department:
        raise Forbidden(f"The corrections of {department!r} are for its own apps")
    connection = await context.connection()
    lines = [line async for line in accepted_since(connection, department, since, after)]
    call.facts.row_counts = {"Correction": len(lines)}
    call.facts.outcome = Outcome.OK
    body = b"".join(orjson.dumps(line) + b"\n" for line in lines)
    return Response(body, media_type=JSON_LINES, headers={"Cache-Control": "no-store"})
