"""``POST /feeds/{code}/runs``: a department system sends its export, the hub runs the feed.

The caller is a department app with its client-credentials token; it may run only its own
department's feeds. The body is the file itself, with the content type of the feed's format
(``text/csv``, the XLSX type, ``application/x-ndjson``); it is streamed to a temporary file and
refused (413) as soon as it passes ``GRIDHUB_FEED_MAX_BYTES``. The run is the same as
``gridhub ingest``'s; the answer (201) names the run and its counts. Like every data endpoint
it goes through the one request pipeline (:mod:`hub.pipeline`): one audit entry per request,
with the feed, the run, the file's SHA-256 and the counts. Refusals answer the GraphQL error
shape: 401 ``UNAUTHENTICATED``, 403 ``FORBIDDEN`` (a person's token, another department's
feed), 404 ``NOT_FOUND``, 413 ``REQUEST_TOO_LARGE``, 415 ``UNSUPPORTED_MEDIA_TYPE``, 422
``FEED_RUN_FAILED`` (the file could not be read: nothing was written).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response

from addresses.base import MATCHERS
from audit.record import Outcome
from catalog import feed_store
from feeds.run import FeedRunFailed, run_feed
from hub.pipeline import Call, json_response, request_error, serve

OPERATION = "runFeed"
#: The content types each format's body may have (parameters such as charset aside).
CONTENT_TYPES = {
    "csv": ("text/csv", "application/csv"),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",),
    "jsonl": ("application/x-ndjson", "application/jsonl", "application/json-lines"),
}


class _Refused(Exception):
    def __init__(self, message: str, status: int, code: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


async def feed_runs_endpoint(request: Request) -> Response:
    return await serve(request, _answer, operation_name=OPERATION, operation_type="mutation")


async def _answer(call: Call) -> Response:
    try:
        return await _run(call)
    except _Refused as error:
        await call.release()
        denied = error.code in ("FORBIDDEN",)
        call.facts.outcome = Outcome.DENIED if denied else Outcome.ERROR
        call.facts.error_code = error.code
        headers = {"Connection": "close"} if error.status in (408, 413) else None
        return request_error(str(error), error.status, error.code, headers)


async def _run(call: Call) -> Response:
    identity = await call.authenticate()
    if (refused := await call.admit(identity)) is not None:
        return refused
    code = call.request.path_params["code"]
    call.facts.variables = {"feed": code}
    plan, context = await call.plan(identity, None)
    if identity.kind != "client":
        raise _Refused(
            "Feeds are sent by department systems with their app's token", 403, "FORBIDDEN"
        )
    feed = await feed_store.get(await context.connection(), code)
    if feed is None:
        raise _Refused(f"There is no feed {code}", 404, "NOT_FOUND")
    if feed.department != plan.principal.department:
        raise _Refused(f"Feed {code} belongs to another department", 403, "FORBIDDEN")
    media = call.request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in CONTENT_TYPES[feed.format]:
        raise _Refused(
            f"Feed {code} takes {feed.format}: send it as {CONTENT_TYPES[feed.format][0]}",
            415,
            "UNSUPPORTED_MEDIA_TYPE",
        )
    await call.release()  # the run uses connections of its own
    settings = call.services.settings
    handle, name = tempfile.mkstemp(prefix="gridhub-feed-", suffix=f".{feed.format}")
    path = Path(name)
    try:
        with os.fdopen(handle, "wb") as out:
            await _receive(call.request, out, settings.feed_max_bytes, settings.body_timeout)
        matcher = await MATCHERS.get(call.services.engine, settings.address_match_threshold)
        try:
            # workers=0: a serving process does not fork (its threads and connections).
            report = await run_feed(
                call.services.engine,
                feed,
                path,
                matcher,
                by=identity.subject,
                file_name=None,
                workers=0,
            )
        except FeedRunFailed as error:
            call.facts.variables["runId"] = error.details.get("runId")
            raise _Refused(str(error), 422, FeedRunFailed.code) from None
    finally:
        await asyncio.to_thread(path.unlink, missing_ok=True)
    call.facts.variables.update(
        {"runId": report.run_id, "sha256": report.file_sha256, "counts": report.counts()}
    )
    call.facts.row_counts = report.counts()
    call.facts.outcome = Outcome.OK
    body = {"runId": report.run_id, "status": report.status, "counts": report.counts()}
    return json_response(body, 201)


async def _receive(request: Request, out: object, max_bytes: int, seconds: float) -> None:
    """Stream the body to ``out``, refusing it once past ``max_bytes`` or ``seconds``."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise _Refused(f"The file is larger than {max_bytes} bytes", 413, "REQUEST_TOO_LARGE")
    size = 0
    try:
        async with asyncio.timeout(seconds):
            async for chunk in request.stream():
                size += len(chunk)
                if size > max_bytes:
                    raise _Refused(
                        f"The file is larger than {max_bytes} bytes", 413, "REQUEST_TOO_LARGE"
                    )
                out.write(chunk)  # type: ignore[attr-defined]
    except TimeoutError:
        raise _Refused(
            f"The file did not arrive within {seconds:g} seconds", 408, "REQUEST_TIMEOUT"
        ) from None
    if size == 0:
        raise _Refused("The body is the export file; it is empty", 400, "BAD_USER_INPUT")
