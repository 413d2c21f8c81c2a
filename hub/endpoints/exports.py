"""``GET /exports/{kind}.xlsx?areaCode=…``: an area's data as the sheet community and street
staff work with (``residents``, ``entities``, ``tasks``, ``events``; see :mod:`hub.exports`).

For the people who work grids (grid workers, community and street staff: the ``grid_worker``
role), with their own token and, for fields that need one, their declared purpose
(``X-Access-Purpose``), exactly as ``/graphql``. The sheet is read through the API's own
executor on the caller's plan, a page at a time, into a write-only workbook on disk; once it is
complete its audit entry is committed (one entry: the kind and area as variables, every field
read with the plan's decision, the people returned), the database connection goes back, and the
file is streamed from disk and removed. Refusals answer the GraphQL error shape: 400
``BAD_USER_INPUT`` (no or a malformed ``areaCode``), 401 ``UNAUTHENTICATED``, 403 ``FORBIDDEN``
(not a grid worker; an area the caller's plan shows none of) or ``PURPOSE_REQUIRED``, 404
``NOT_FOUND`` (no such kind).
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

import orjson
from openpyxl import Workbook
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import FileResponse, Response

from audit.record import Outcome
from hub.audit_facts import DocumentFacts, answered_reads, document_facts, outcome_of, plan_reads
from hub.exports import RESOURCES_OF, SHEETS, SheetRefused, rows
from hub.pipeline import BadPurpose, Call, request_error, serve
from policies.areas import check_area_code
from policies.plan import AccessPlan
from schema.duties import has_duty
from store.errors import BadUserInput, Forbidden, GridhubError, PurposeRequired

OPERATION = "exportSheet"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
GRID_WORKER = "grid_worker"
STATUS = {"FORBIDDEN": 403, "PURPOSE_REQUIRED": 403, "NOT_FOUND": 404}


class _NotFound(GridhubError):
    code = "NOT_FOUND"


async def export_endpoint(request: Request) -> Response:
    return await serve(request, _answer, operation_name=OPERATION, operation_type="query")


async def _answer(call: Call) -> Response:
    try:
        return await _export(call)
    except (GridhubError, SheetRefused) as error:
        await call.release()
        code = error.code
        refused = isinstance(error, Forbidden | PurposeRequired) or code in (
            "FORBIDDEN",
            "PURPOSE_REQUIRED",
        )
        call.facts.outcome = Outcome.DENIED if refused else Outcome.ERROR
        call.facts.error_code = code
        return request_error(str(error), STATUS.get(code, 400), code)


def _covers(plan: AccessPlan, kind: str, area: str) -> bool:
    """Whether the plan shows rows of the sheet's resources anywhere under ``area``."""
    for resource in RESOURCES_OF[kind]:
        shown = plan.resource(resource)
        if shown.visible(area) or any(place and place.startswith(area) for place in shown.places()):
            return True
    return False


async def _export(call: Call) -> Response:
    identity = await call.authenticate()
    if (refused := await call.admit(identity)) is not None:
        return refused
    try:
        purpose = call.declared_purpose()
    except BadPurpose as error:
        raise BadUserInput(str(error)) from None
    kind = call.request.path_params["kind"]
    area = call.request.query_params.get("areaCode")
    call.facts.variables = {"kind": kind, **({"areaCode": area} if area is not None else {})}
    if kind not in SHEETS:
        raise _NotFound(f"There is no sheet {kind!r} (one of {', '.join(SHEETS)})")
    if area is None or not area.strip():
        raise BadUserInput("Name the area: ?areaCode=440306001001", field="areaCode")
    area = check_area_code(area.strip())
    call.may_read_replica()
    plan, context = await call.plan(identity, purpose)
    if identity.kind != "person" or not has_duty(plan, GRID_WORKER):
        raise Forbidden("Sheets are for the people who work grids (community and street staff)")
    if not _covers(plan, kind, area):
        raise Forbidden(f"Area {area} is outside the areas you serve")
    executor = call.services.executor
    read = DocumentFacts(frozenset(), frozenset())
    errors: list[Any] = []

    async def run(query: str, variables: dict[str, Any]) -> Any:
        nonlocal read
        prepared = executor.prepare(query)
        document = prepared.document
        assert document is not None, prepared.errors  # the sheets' own documents
        facts = prepared.memoized("audit", lambda: document_facts(executor.schema, document))
        read = DocumentFacts(
            read.fields | facts.fields,
            read.sensitive_variables | facts.sensitive_variables,
            {**read.beneath, **facts.beneath},
        )
        body = orjson.loads(orjson.dumps(await executor.run(prepared, variables, None, context)))
        errors.extend(body.get("errors") or ())
        return body

    sheet = SHEETS[kind]
    descriptor, path = tempfile.mkstemp(prefix="gridhub-export-", suffix=".xlsx")
    os.close(descriptor)
    try:
        book = Workbook(write_only=True)
        page = book.create_sheet(sheet.title)
        page.append([column.title for column in sheet.columns])
        count = 0
        async for chunk in rows(run, kind, area):
            for row in chunk:
                page.append(row)
            count += len(chunk)
        book.save(path)
    except BaseException:
        os.unlink(path)
        raise
    facts = call.facts
    facts.reads = answered_reads(read, context.answer)
    facts.grant_ids = plan_reads(plan, read)[1]
    facts.person_ids = tuple(str(key) for key in sorted(context.person_ids))
    facts.row_counts = dict(context.row_counts)
    facts.outcome, facts.error_code = outcome_of(
        {"data": {kind: count}, "errors": errors}, facts.reads
    )
    await call.release()  # the sheet is on disk: the connection goes back before it streams
    return FileResponse(
        path,
        media_type=XLSX,
        filename=f"{kind}-{area}.xlsx",
        headers={"Cache-Control": "no-store", "X-Rows": str(count)},
        background=BackgroundTask(os.unlink, path),
    )
