"""``GET /feeds/{code}/corrections?since=…``: a department's accepted corrections as JSON lines,
for its own system to take in (:mod:`tasks.feed_out`).

``code`` is the code of one of the department's feeds (``GA-RK-FEED``): the corrections and
findings of the records that feed fills, so the system that sends the feed takes back what was
found on site. A department with no declared feed (or a system that takes everything) names its
department instead (``housing``): all of its corrections. Feed codes and department codes never
coincide (upper case with dashes, lower case with underscores); an unknown one is 404.

Only the department's own apps (OAuth clients of that department) read it, with the same
bearer tokens as ``/graphql``, through the one request pipeline: every request is one audit
entry naming the department and how many corrections it returned (the values stay out of the
log). ``since`` is an ISO 8601 time with its zone (the last line's ``decidedAt``); ``after``
the last line's ``correction`` id when several share that time. Refusals answer the GraphQL
error shape: 400 ``BAD_USER_INPUT``, 401 ``UNAUTHENTICATED``, 403 ``FORBIDDEN``, 404
``NOT_FOUND``.
"""

from __future__ import annotations

from datetime import datetime

import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.requests import Request
from starlette.responses import Response

from audit.record import Outcome
from catalog import feed_store
from hub.pipeline import Call, request_error, serve
from store.errors import BadUserInput, Forbidden, GridhubError
from store.models import Department
from tasks.feed_out import accepted_since

OPERATION = "correctionsFeed"


class _NotFound(GridhubError):
    code = "NOT_FOUND"


async def _is_department(connection: AsyncConnection, code: str) -> bool:
    departments = Department.__table__
    found = await connection.scalar(select(departments.c.code).where(departments.c.code == code))
    return found is not None


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
        status = (
            403 if isinstance(error, Forbidden) else 404 if isinstance(error, _NotFound) else 400
        )
        return request_error(str(error), status, error.code)


async def _lines(call: Call) -> Response:
    identity = await call.authenticate()
    if (refused := await call.admit(identity)) is not None:
        return refused
    code = call.request.path_params["code"]
    params = call.request.query_params
    call.facts.variables = {
        name: value
        for name, value in (
            ("feed", code),
            ("since", params.get("since")),
            ("after", params.get("after")),
        )
        if value is not None
    }
    since, after = _since(params.get("since")), _after(params.get("after"))
    plan, context = await call.plan(identity, None)
    if identity.kind != "client":
        raise Forbidden("Corrections are taken back by department systems with their app's token")
    connection = await context.connection()
    feed = await feed_store.get(connection, code)
    if feed is not None:
        department, target = feed.department, feed.target
    elif await _is_department(connection, code):
        department, target = code, None
    else:
        raise _NotFound(f"There is no feed or department {code!r}")
    if plan.principal.department != department:
        raise Forbidden(f"The corrections of {code!r} are for {department!r}'s own apps")
    lines = [
        line async for line in accepted_since(connection, department, since, after, target=target)
    ]
    call.facts.row_counts = {"Correction": len(lines)}
    call.facts.outcome = Outcome.OK
    body = b"".join(orjson.dumps(line) + b"\n" for line in lines)
    return Response(body, media_type=JSON_LINES, headers={"Cache-Control": "no-store"})
