"""Serving a view to one viewer: may they open it, where to put the map, its features.

Shared by ``mapView`` in GraphQL and ``GET /views/{code}.geojson``, so both answer the same
features for the same viewer, layer and cut.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from policies.plan import AccessPlan
from resolvers import filters
from resolvers.context import RequestContext
from resolvers.resources import RESOURCES
from store.errors import Forbidden, GridhubError, PurposeRequired
from store.models import AreaLevel, Grid
from views.definition import Layer, ViewDefinition
from views.features import LayerQuery

GRIDS = Grid.__table__


def viewer_plan(context: RequestContext) -> AccessPlan:
    """The request's compiled plan; a view is served only on one (never on the all-allowing
    plan of in-process use, nor before a principal is known)."""
    plan = context.plan
    if not isinstance(plan, AccessPlan):
        raise Forbidden("A map view is served only to a signed-in principal")
    return plan


def check_viewer(view: ViewDefinition, plan: AccessPlan) -> None:
    """Refuse the whole view unless the viewer may filter on what each layer filters on: the
    same check the API's lists make (else counting a view's features would recover values the
    viewer may not see). A view meant for a purpose the request did not declare says so."""
    for layer in view.layers:
        resource = layer.filter_resource
        if resource is None:
            continue
        try:
            filters.checked(plan, RESOURCES[resource], layer.filter_key)
        except GridhubError as error:
            if view.purpose and plan.purpose != view.purpose:
                raise PurposeRequired(
                    f"View {view.code} is served for the purpose {view.purpose}: declare it in "
                    f"X-Access-Purpose (layer {layer.code}: {error})",
                    view=view.code,
                    layer=layer.code,
                    purpose=view.purpose,
                ) from None
            raise Forbidden(
                f"View {view.code}, layer {layer.code}: {error}", view=view.code, layer=layer.code
            ) from None


async def extent(connection: AsyncConnection, plan: AccessPlan) -> list[float] | None:
    """[minLon, minLat, maxLon, maxLat] of the viewer's own areas, or of the district when they
    have none (an app, a data officer); None when there is no area at all."""
    areas = plan.principal.areas
    where = GRIDS.c.code.in_(areas) if areas else GRIDS.c.level == AreaLevel.DISTRICT.value
    row = (
        await connection.execute(
            select(
                func.min(GRIDS.c.min_lon),
                func.min(GRIDS.c.min_lat),
                func.max(GRIDS.c.max_lon),
                func.max(GRIDS.c.max_lat),
            ).where(where)
        )
    ).one()
    return None if row[0] is None else [float(value) for value in row]


def record_reads(context: RequestContext, query: LayerQuery) -> None:
    """What the layer reads goes into the request's audit entry (with the plan's decisions)."""
    context.field_reads |= query.reads


def count_features(
    context: RequestContext, query: LayerQuery, features: list[dict[str, Any]]
) -> None:
    """Rows per type for the audit entry: each feature's type, and for a count of people the
    people counted (their ids are never read)."""
    context.row_counts[query.type_name] += len(features)
    if query.aggregated:
        context.row_counts["Person"] += sum(f["properties"]["count"] for f in features)


async def features(
    context: RequestContext, query: LayerQuery, limit: int | None = None
) -> AsyncIterator[list[dict[str, Any]]]:
    """The layer's features, a page at a time, in key order; at most ``limit`` of them."""
    after: Any = None
    left = limit
    while left is None or left > 0:
        size = query.PAGE if left is None else min(query.PAGE, left)
        rows = await context.rows(query.page(after, size))
        if not rows:
            return
        page = [query.feature(row) for row in rows]
        yield page
        if len(rows) < size:
            return
        after = query.key(rows[-1])
        if left is not None:
            left -= len(rows)


async def collect(
    context: RequestContext, query: LayerQuery, limit: int
) -> tuple[list[dict[str, Any]], bool]:
    """Up to ``limit`` features and whether the layer had more (read one past the limit)."""
    found: list[dict[str, Any]] = []
    async for page in features(context, query, limit + 1):
        found.extend(page)
    truncated = len(found) > limit
    return found[:limit], truncated


def layer_or_none(view: ViewDefinition, code: str | None) -> Layer | None:
    """The layer ``code`` names, or the only layer when none is named."""
    if code is None:
        return view.layers[0] if len(view.layers) == 1 else None
    return view.layer(code)
