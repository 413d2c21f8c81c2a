"""Per-department map views in GraphQL: ``views``, ``view``, ``mapView`` and the data officer's
``defineView``, ``updateView``, ``deleteView``.

A view's definition is metadata — which data a department puts on its map, not the data — so
any signed-in principal may list and read the definitions of any department (a department
reuses another's map that way). Opening it with ``mapView`` shows only what the viewer's own
plan shows: the same view answers different features to different viewers.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import strawberry
from strawberry.scalars import JSON

from catalog.changes import Officer
from policies.store import PolicyStore
from resolvers.context import RequestContext
from schema.base import Info, described
from schema.duties import DATA_OFFICER, principal_with_duty
from store.errors import BadUserInput
from views import changes, store
from views.definition import AggregateBy, Layer, Source, ViewDefinition
from views.features import LayerQuery, parse_cut
from views.serving import (
    check_viewer,
    collect,
    count_features,
    extent,
    record_reads,
    viewer_plan,
)
from views.store import StoredVersion, StoredView

strawberry.enum(
    Source,
    name="LayerSource",
    description="GRID, COMMUNITY, STREET: areas of that level (polygons); HOUSES, ENTITIES "
    "(at the house they operate in), EVENTS: points; PEOPLE: counted per house or grid, never "
    "drawn one by one.",
)
strawberry.enum(AggregateBy, description="What a PEOPLE layer counts people per.")

#: The views' types: definitions and their maps, not shared data (so they have no declaration
#: in ``policies.fields``; a map's features are decided per field by the viewer's plan).
VIEW_TYPES = frozenset(
    {
        "View",
        "ViewLayer",
        "ViewVersion",
        "LayerAggregate",
        "LayerStyle",
        "ViewChange",
        "MapView",
        "MapLayer",
    }
)


@strawberry.type(description="How a layer is drawn.")
class LayerStyle:
    colour: str = strawberry.field(description="#rrggbb.")
    size: float = strawberry.field(description="Point radius or line width, in pixels.")
    label_field: str | None = strawberry.field(
        description="The property shown as the feature's label (`count` for a count)."
    )


@strawberry.type(description="How a PEOPLE layer counts: per house or grid, small counts left out.")
class LayerAggregate:
    by: AggregateBy
    min_count: int = strawberry.field(
        description="Counts below this (at least 3) are left out, so nobody can be singled out."
    )


def _style(layer: Layer) -> LayerStyle:
    return LayerStyle(
        colour=layer.style.colour, size=layer.style.size, label_field=layer.style.label_field
    )


@strawberry.type(description="A layer of a view, as its department defined it.")
class ViewLayer:
    code: str
    name: str
    source: Source
    filter: JSON = strawberry.field(
        description="As the list filters take it: `{use: PUBLIC_RENTAL}` for HOUSES, "
        "`EventFilter` fields for EVENTS, … (empty: no filter)."
    )
    fields: list[str] = strawberry.field(description="The properties each feature shows.")
    aggregate: LayerAggregate | None
    style: LayerStyle

    @classmethod
    def of(cls, layer: Layer) -> ViewLayer:
        aggregate = layer.aggregate
        return cls(
            code=layer.code,
            name=layer.name,
            source=layer.source,
            filter=JSON(dict(layer.filter)),
            fields=list(layer.fields),
            aggregate=None
            if aggregate is None
            else LayerAggregate(by=aggregate.by, min_count=aggregate.min_count),
            style=_style(layer),
        )


@strawberry.type(description="A view after one change.")
class ViewVersion:
    version: int
    change: str = strawberry.field(description="`defined`, `updated` or `deleted`.")
    at: datetime
    changed_by: str
    definition: JSON = strawberry.field(
        description="The whole view as it was then (for `deleted`: as it was deleted)."
    )

    @classmethod
    def of(cls, version: StoredVersion) -> ViewVersion:
        return cls(
            version=version.version,
            change=version.change,
            at=version.at,
            changed_by=version.changed_by,
            definition=JSON(version.definition),
        )


@strawberry.type(description="A department's saved map view (its definition).")
class View:
    code: str
    name: str
    department: str = strawberry.field(description="The owning department's code.")
    description: str
    purpose: str | None = strawberry.field(
        description="The purpose its layers are read under: send it as `X-Access-Purpose`."
    )
    version: int
    layers: list[ViewLayer]
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str

    @classmethod
    def of(cls, stored: StoredView) -> View:
        view = stored.definition
        return cls(
            code=view.code,
            name=view.name,
            department=view.department,
            description=view.description,
            purpose=view.purpose,
            version=stored.version,
            layers=[ViewLayer.of(layer) for layer in view.layers],
            created_at=stored.created_at,
            created_by=stored.created_by,
            updated_at=stored.updated_at,
            updated_by=stored.updated_by,
        )

    @described("Every change, oldest first.")
    async def versions(self, info: Info) -> list[ViewVersion]:
        found = await store.versions(await info.context.connection(), self.code)
        return [ViewVersion.of(version) for version in found]

    @described("A link to the view's map page.")
    def map_url(self) -> str:
        return f"/map/{self.code}"


class _Features:
    """A layer's features, read once however many of its fields ask for them."""

    def __init__(self, context: RequestContext, query: LayerQuery, limit: int) -> None:
        self._context, self._query, self._limit = context, query, limit
        self._lock = asyncio.Lock()
        self._found: tuple[list[dict[str, Any]], bool] | None = None

    async def get(self) -> tuple[list[dict[str, Any]], bool]:
        async with self._lock:
            if self._found is None:
                record_reads(self._context, self._query)
                found = await collect(self._context, self._query, self._limit)
                count_features(self._context, self._query, found[0])
                self._found = found
        return self._found


@strawberry.type(description="One layer of a map view, as the viewer's plan shows it.")
class MapLayer:
    code: str
    name: str
    source: str = strawberry.field(description="A `LayerSource` value.")
    fields: list[str]
    style: LayerStyle
    _features: strawberry.Private[_Features]

    @described("How many features `geojson` holds.")
    async def feature_count(self) -> int:
        return len((await self._features.get())[0])

    @described(
        "True when the layer had more features than `GRIDHUB_VIEW_MAX_FEATURES`: "
        "narrow it with `bbox` or `areaCode`, or read it whole from `/views/{code}.geojson`."
    )
    async def truncated(self) -> bool:
        return (await self._features.get())[1]

    @described(
        "An RFC 7946 FeatureCollection (WGS 84 lon/lat): each feature's `id` is a "
        "global id, its `properties` the fields the viewer may see (masked where masked)."
    )
    async def geojson(self) -> JSON:
        found, _ = await self._features.get()
        return JSON({"type": "FeatureCollection", "features": found})


@strawberry.type(description="A view opened by the viewer: its layers cut to their plan.")
class MapView:
    code: str
    name: str
    department: str
    description: str
    version: int
    purpose: str | None
    extent: list[float] | None = strawberry.field(
        description="[minLon, minLat, maxLon, maxLat] of the viewer's own areas (of the "
        "district for a viewer with none)."
    )
    layers: list[MapLayer]


async def resolve_views(info: Info, department: str | None = None) -> list[View]:
    """A department's views (default: the caller's own), in code order."""
    if department is None:
        principal = getattr(info.context.plan, "principal", None)
        department = getattr(principal, "department", None)
        if department is None:
            return []
    found = await store.listed(await info.context.connection(), department)
    return [View.of(stored) for stored in found]


async def resolve_view(info: Info, code: str) -> View | None:
    found = await store.get(await info.context.connection(), code)
    return None if found is None else View.of(found)


async def resolve_map_view(
    info: Info,
    code: str,
    bbox: list[float] | None = None,
    area_code: str | None = None,
) -> MapView | None:
    """The view for the caller: null when there is no such view; FORBIDDEN (or
    PURPOSE_REQUIRED) when a layer filters on what the caller may not filter on."""
    context = info.context
    plan = viewer_plan(context)
    cut = parse_cut(bbox, area_code)
    connection = await context.connection()
    stored = await store.get(connection, code)
    if stored is None:
        return None
    view: ViewDefinition = stored.definition
    check_viewer(view, plan)
    limit = context.settings.view_max_features
    layers = [
        MapLayer(
            code=layer.code,
            name=layer.name,
            source=layer.source.value,
            fields=list(layer.fields),
            style=_style(layer),
            _features=_Features(context, LayerQuery(layer, plan, cut, context.now), limit),
        )
        for layer in view.layers
    ]
    return MapView(
        code=view.code,
        name=view.name,
        department=view.department,
        description=view.description,
        version=stored.version,
        purpose=view.purpose,
        extent=await extent(connection, plan),
        layers=layers,
    )


# -- changes -------------------------------------------------------------------------------------


@strawberry.input(description="How a layer is drawn.")
class StyleInput:
    colour: str = strawberry.field(description="#rrggbb.")
    size: float | None = strawberry.field(default=None, description="Pixels, 1 to 50 (6).")
    label_field: str | None = strawberry.field(
        default=None, description="One of the layer's fields (or `count` for PEOPLE)."
    )


@strawberry.input(description="Count people per house or grid (PEOPLE layers only, required).")
class AggregateInput:
    by: AggregateBy
    min_count: int | None = strawberry.field(
        default=None, description="Leave out counts below this: 5 if not given, at least 3."
    )


@strawberry.input(description="A layer of a view.")
class LayerInput:
    code: str = strawberry.field(description="Unique in the view: `houses`, `open-events`.")
    name: str
    source: Source
    style: StyleInput
    filter: JSON | None = strawberry.field(
        default=None,
        description="As the source's list filter takes it (HouseFilter, EntityFilter, "
        "EventFilter, PersonFilter): `{use: PUBLIC_RENTAL}`. Area layers take none.",
    )
    fields: list[str] = strawberry.field(
        default_factory=list,
        description="Properties to show, fields of the feature's type (House, Entity, Event, "
        "Grid; for PEOPLE, of the house or grid counted per).",
    )
    aggregate: AggregateInput | None = None


@strawberry.input(description="A new view of the officer's own department.")
class DefineViewInput:
    code: str = strawberry.field(description="Lower-case words joined by -: `housing-rentals`.")
    name: str
    layers: list[LayerInput]
    description: str = ""
    purpose: str | None = strawberry.field(
        default=None,
        description="The purpose code viewers declare to read it (needed when a layer filters "
        "on a field of tier 3 or above, e.g. a care tag).",
    )
    department: str | None = strawberry.field(
        default=None, description="The owner; the officer's own department if left out."
    )


@strawberry.input(description="Changes to a view; what is left out stays as it is.")
class UpdateViewInput:
    name: str | None = strawberry.UNSET
    description: str | None = strawberry.UNSET
    purpose: str | None = strawberry.field(default=strawberry.UNSET, description="null removes it.")
    layers: list[LayerInput] | None = strawberry.field(
        default=strawberry.UNSET, description="Replaces every layer."
    )
    expected_version: int | None = strawberry.field(
        default=None, description="Refuse the change unless the view is still at this version."
    )


@strawberry.type(description="The outcome of a change to a view.")
class ViewChange:
    view: View
    changed: bool = strawberry.field(
        description="False when the input changed nothing (no new version was written)."
    )


def _layer(layer: LayerInput) -> dict[str, Any]:
    style = layer.style
    aggregate = layer.aggregate
    return {
        "code": layer.code,
        "name": layer.name,
        "source": layer.source.value,
        "filter": layer.filter,
        "fields": list(layer.fields),
        "aggregate": None
        if aggregate is None
        else {"by": aggregate.by.value, "minCount": aggregate.min_count},
        "style": {"colour": style.colour, "size": style.size, "labelField": style.label_field},
    }


def _policy(info: Info) -> PolicyStore:
    # None in-process (tests): no app to share a store with
    store = info.context.policy_store
    return PolicyStore(info.context.engine) if store is None else store


def _officer(info: Info, what: str) -> Officer:
    principal = principal_with_duty(info.context.plan, DATA_OFFICER, what)
    return Officer(principal.subject, principal.department)


async def define_view(info: Info, input: DefineViewInput) -> ViewChange:
    officer = _officer(info, "Defining a view")
    raw = {
        "code": input.code.strip(),
        "name": input.name,
        "description": input.description,
        "purpose": input.purpose,
        "department": input.department,
        "layers": [_layer(layer) for layer in input.layers],
    }
    saved = await changes.define(info.context.engine, _policy(info), officer, raw, info.context.now)
    return ViewChange(view=View.of(saved), changed=True)


async def update_view(info: Info, code: str, input: UpdateViewInput) -> ViewChange:
    officer = _officer(info, "Updating a view")
    found: dict[str, Any] = {}
    for name in ("name", "description", "purpose", "layers"):
        value = getattr(input, name)
        if value is strawberry.UNSET:
            continue
        if value is None and name != "purpose":
            raise BadUserInput(f"`{name}` can not be null; leave it out to keep it", field=name)
        found[name] = [_layer(layer) for layer in value] if name == "layers" else value
    saved, changed = await changes.update(
        info.context.engine,
        _policy(info),
        officer,
        code.strip(),
        found,
        info.context.now,
        expected_version=input.expected_version,
    )
    return ViewChange(view=View.of(saved), changed=changed)


async def delete_view(info: Info, code: str) -> bool:
    officer = _officer(info, "Deleting a view")
    await changes.delete(info.context.engine, officer, code.strip(), info.context.now)
    return True
