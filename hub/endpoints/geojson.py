"""``GET /views/{code}.geojson``: one layer of a view as ``application/geo+json``, for GIS tools.

The same bearer token, purpose header and plan as ``/graphql`` (QGIS, Leaflet and OpenLayers
can all send an ``Authorization`` header), and the same features as ``mapView`` for the same
layer and cut, but the layer is not bounded: it is streamed a page of rows at a time (keyset
pages, see :mod:`views.features`), so a district-wide layer is never held in memory.

Every request leaves one audit entry, committed before the response starts. So that the entry
can say how many rows it returns, the layer is counted first (on PostgreSQL in the same
repeatable-read transaction that then streams it, so the count is the stream's); its fields
are recorded with the plan's decisions like a GraphQL read. Refusals answer the GraphQL error
shape, ``{"errors": [{"message", "extensions": {"code"}}]}``: 400 ``BAD_USER_INPUT``, 401
``UNAUTHENTICATED``, 403 ``FORBIDDEN`` or ``PURPOSE_REQUIRED``, 404 ``NOT_FOUND``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import orjson
from anyio import CancelScope
from sqlalchemy import func, literal, select
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from audit.record import Outcome
from hub.audit_facts import DocumentFacts, plan_reads
from hub.pipeline import BadPurpose, Call, request_error, serve
from resolvers.context import RequestContext
from store.errors import BadUserInput, Forbidden, GridhubError, PurposeRequired
from views import store
from views.features import LayerQuery, parse_cut
from views.serving import check_viewer, features, layer_or_none

log = logging.getLogger(__name__)

GEOJSON = "application/geo+json"
NOT_FOUND = "NOT_FOUND"
#: How the audit log names these requests (``operation_name``).
OPERATION = "viewGeoJSON"
STATUS = {BadUserInput: 400, Forbidden: 403, PurposeRequired: 403}


class _NotFound(GridhubError):
    code = NOT_FOUND


def _bbox(text: str | None) -> list[float] | None:
    if text is None:
        return None
    try:
        return [float(part) for part in text.split(",")]
    except ValueError:
        raise BadUserInput("`bbox` is minLon,minLat,maxLon,maxLat in degrees") from None


async def geojson_endpoint(request: Request) -> Response:
    """Authenticate, find the view and layer, check the viewer, count, audit, then stream."""
    return await serve(request, _answer, operation_name=OPERATION, operation_type="query")


async def _answer(call: Call) -> Response:
    """The layer's stream, or the refusal of a view, layer, cut or viewer (GraphQL-shaped)."""
    try:
        return await _stream(call)
    except GridhubError as error:
        await call.release()  # nothing will be streamed
        refused = isinstance(error, Forbidden | PurposeRequired)
        call.facts.outcome = Outcome.DENIED if refused else Outcome.ERROR
        call.facts.error_code = error.code
        status = 404 if isinstance(error, _NotFound) else STATUS.get(type(error), 400)
        return request_error(str(error), status, error.code)


async def _stream(call: Call) -> Response:
    identity = await call.authenticate()
    if (refused := await call.admit(identity)) is not None:
        return refused  # over its rate limit, or the database is known to be down
    facts = call.facts
    try:
        purpose = call.declared_purpose()
    except BadPurpose as error:
        raise BadUserInput(str(error)) from None
    params = call.request.query_params
    code = call.request.path_params["code"]
    layer_code = params.get("layer") or None
    area_code = params.get("areaCode") or None
    raw_bbox = params.get("bbox") or None
    facts.variables = {
        name: value
        for name, value in (
            ("code", code),
            ("layer", layer_code),
            ("bbox", raw_bbox),
            ("areaCode", area_code),
        )
        if value is not None
    }
    call.may_read_replica()  # a layer only reads: a replica may serve it
    plan, context = await call.plan(identity, purpose)
    connection = await context.connection()
    cut = parse_cut(_bbox(raw_bbox), area_code)
    stored = await store.get(connection, code)
    if stored is None:
        raise _NotFound(f"There is no view {code}", view=code)
    view = stored.definition
    layer = layer_or_none(view, layer_code)
    if layer is None:
        codes = [item.code for item in view.layers]
        if layer_code is None:
            raise BadUserInput(
                f"View {code} has several layers; name one with ?layer= ({', '.join(codes)})",
                layers=codes,
            )
        raise _NotFound(f"View {code} has no layer {layer_code} ({', '.join(codes)})")
    check_viewer(view, plan)
    query = LayerQuery(layer, plan, cut, context.now)
    facts.reads, facts.grant_ids = plan_reads(plan, DocumentFacts(query.reads, frozenset()))
    if connection.dialect.name == "postgresql":
        # The count and the stream read one snapshot, so the entry counts what is sent.
        await connection.commit()
        await connection.execution_options(isolation_level="REPEATABLE READ")
    facts.row_counts = await _counts(context, query)
    denied = any(read.decision != "ALLOW" for read in facts.reads)
    facts.outcome = Outcome.PARTIAL if denied else Outcome.OK
    call.count_read()  # the stream gives the connection back, not the call
    headers = {"Cache-Control": "no-store", "X-View-Version": str(stored.version)}
    # The connection goes back when the body is done; the background task is the fallback for
    # a body that never ran to its end (the client went away before it started).
    return StreamingResponse(
        _body(context, query),
        media_type=GEOJSON,
        headers=headers,
        background=BackgroundTask(context.close),
    )


async def _counts(context: RequestContext, query: LayerQuery) -> dict[str, int]:
    """Features per type, and for a count of people the people counted (for the audit entry)."""
    counted = query.statement.subquery()
    if query.aggregated:
        statement = select(func.count(), func.coalesce(func.sum(counted.c.gh_count), 0))
    else:
        statement = select(func.count(), literal(0))
    features, people = tuple((await context.rows(statement.select_from(counted)))[0])
    counts = {query.type_name: int(features)}
    if query.aggregated:
        counts["Person"] = int(people)
    return counts


async def _body(context: RequestContext, query: LayerQuery) -> AsyncIterator[bytes]:
    """The FeatureCollection, written a page of features at a time; the request's connection
    goes back when it is done (or the client went away)."""
    try:
        yield b'{"type":"FeatureCollection","features":['
        first = True
        async for page in features(context, query):
            chunk = b",".join(orjson.dumps(feature) for feature in page)
            yield chunk if first else b"," + chunk
            first = False
        yield b"]}"
    except Exception:
        log.exception("Streaming view layer %s failed", query.layer.code)
        raise
    finally:
        with CancelScope(shield=True):  # the client went away: still give the connection back
            await context.close()
