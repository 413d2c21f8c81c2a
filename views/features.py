"""A layer's rows as GeoJSON features, cut to the viewer's plan in SQL.

For one layer and one viewer, :class:`LayerQuery` builds the statement of a page of features
(keyset: ``key > after ORDER BY key LIMIT n``, so a page costs the same wherever it is and a
district-wide layer is read page by page, never whole) with, in its WHERE clause:

- the viewer's row predicate of every resource the statement reads (through
  :func:`policies.row_scope.row_scope`, each statement named), the same one the API's lists apply;
- the rows whose location the viewer is shown (``ResourcePlan.shown_rows``): a view draws only
  what it may place on the map;
- the layer's filter, built by the API's own filter code (:mod:`resolvers.filters`);
- the request's cut: a bounding box and an area code.

People are only counted, per house or grid, and a count below the layer's ``minCount`` is left
out in SQL (``HAVING``): a feature that said "fewer than five" would still say "at least one".

A feature's properties are the layer's fields as the viewer's plan decides them for that row's
area, exactly as the API would answer them: ALLOW the value, MASK the masked value (null where a
field has no masked form), DENY and PURPOSE_REQUIRED leave the property out.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import orjson
from sqlalchemy import ColumnElement, Select, Table, and_, func, or_, select

from policies import row_scope as scoping
from policies.areas import check_area_code, under_area
from policies.decision import Decision
from policies.fields import FIELDS
from policies.masking import mask
from policies.plan import AccessPlan
from resolvers import filters
from resolvers.filters import FILTERED_FIELDS, TYPE_OF_RESOURCE, is_overdue
from resolvers.ids import to_global_id
from resolvers.resources import ENTITIES, EVENTS, GRIDS, HOUSES, PEOPLE, RESOURCES
from store.errors import BadUserInput
from store.models import (
    AreaLevel,
    EntityStatus,
    EntityType,
    EventSource,
    EventStatus,
    HouseUse,
)
from views.definition import AREA_LEVELS, COUNT, FEATURE_FIELDS, AggregateBy, Layer, Source

#: The enum of each field that holds one: stored values, shown by name as the API shows them.
ENUMS: dict[tuple[str, str], type[enum.Enum]] = {
    ("Grid", "level"): AreaLevel,
    ("House", "use"): HouseUse,
    ("Entity", "type"): EntityType,
    ("Entity", "status"): EntityStatus,
    ("Event", "source"): EventSource,
    ("Event", "status"): EventStatus,
}
#: The field that places a feature of each type on the map.
GEOMETRY_FIELD = {"Grid": "geometry", "House": "location", "Event": "location"}


@dataclass(frozen=True, slots=True)
class Cut:
    """What the request cuts a view to, besides the plan: [minLon, minLat, maxLon, maxLat] and
    an area code (rows under it; areas that overlap it)."""

    bbox: tuple[float, float, float, float] | None = None
    area_code: str | None = None


def parse_cut(bbox: Sequence[float] | None, area_code: str | None) -> Cut:
    """Check a request's ``bbox`` and ``areaCode``; BAD_USER_INPUT when they can not be used."""
    box = None
    if bbox is not None:
        values = list(bbox)
        if len(values) != 4 or any(
            isinstance(v, bool) or not isinstance(v, int | float) for v in values
        ):
            raise BadUserInput("`bbox` is four numbers: minLon, minLat, maxLon, maxLat")
        min_lon, min_lat, max_lon, max_lat = (float(v) for v in values)
        if not (-180 <= min_lon < max_lon <= 180 and -90 <= min_lat < max_lat <= 90):
            raise BadUserInput(
                "`bbox` is minLon, minLat, maxLon, maxLat in WGS 84 degrees: longitudes within "
                "±180, latitudes within ±90, each minimum below its maximum"
            )
        box = (min_lon, min_lat, max_lon, max_lat)
    if area_code is not None:
        check_area_code(area_code)
    return Cut(box, area_code)


def _points_in(box: tuple[float, float, float, float], lon: Any, lat: Any) -> ColumnElement[bool]:
    min_lon, min_lat, max_lon, max_lat = box
    return and_(lon >= min_lon, lon <= max_lon, lat >= min_lat, lat <= max_lat)


def _areas_meeting(box: tuple[float, float, float, float], grids: Table) -> ColumnElement[bool]:
    """Areas whose bounding box meets the box (the polygons are not clipped)."""
    min_lon, min_lat, max_lon, max_lat = box
    c = grids.c
    return and_(
        c.min_lon <= max_lon, c.max_lon >= min_lon, c.min_lat <= max_lat, c.max_lat >= min_lat
    )


def _areas_overlapping(code: str, column: ColumnElement[str]) -> ColumnElement[bool]:
    """Areas under ``code`` and the areas that hold it (its street for a community)."""
    holders = [code[:n] for n in (6, 9, 12) if n < len(code)]
    under = under_area(column, code)
    return or_(under, column.in_(holders)) if holders else under


def _json_value(type_name: str, field_name: str, value: Any) -> Any:
    """A value as the API serialises it: enums by name, dates and times in ISO 8601."""
    if value is None:
        return None
    kind = ENUMS.get((type_name, field_name))
    if kind is not None:
        return kind(value).name
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


class LayerQuery:
    """One layer for one viewer and cut: the statement of each page and how a row becomes a
    feature; and, for the audit entry, the fields it reads."""

    PAGE = 1000  # rows per statement when a layer is read page by page

    def __init__(self, layer: Layer, plan: AccessPlan, cut: Cut, now: datetime) -> None:
        self.layer = layer
        self.plan = plan
        self.cut = cut
        self.now = now
        self.type_name = layer.feature_type
        self.aggregated = layer.aggregate is not None
        self._filter = layer.filter_key
        self.reads = self._reads()
        self._statement, self._key = self._build()

    # -- what is read --------------------------------------------------------------------------

    def _reads(self) -> frozenset[tuple[str, str]]:
        reads = {(self.type_name, f) for f in self.layer.fields}
        if self.layer.source is Source.ENTITIES:
            reads |= {("Entity", "house"), ("House", "location")}
        else:
            reads.add((self.type_name, GEOMETRY_FIELD[self.type_name]))
        resource = self.layer.filter_resource
        if resource is not None:
            type_name = TYPE_OF_RESOURCE[resource]
            for name, _ in self._filter:
                reads |= {(type_name, f) for f in FILTERED_FIELDS[resource][name]}
        if self.layer.aggregate is not None:
            by_house = self.layer.aggregate.by is AggregateBy.HOUSE
            reads.add(("Person", "house" if by_house else "gridCode"))
        return frozenset(reads)

    # -- statements ----------------------------------------------------------------------------

    def _shown(self, type_name: str, field: str, column: ColumnElement[str]) -> ColumnElement[bool]:
        return self.plan.of_type(type_name).shown_rows(column, field, type_name)

    def _filtered(self, resource: str) -> list[ColumnElement[bool]]:
        return filters.clauses(RESOURCES[resource], self._filter, self.now, self.plan)

    def _build(self) -> tuple[Select[Any], ColumnElement[Any]]:
        source, cut = self.layer.source, self.cut
        g, h, e, v = GRIDS.table, HOUSES.table, ENTITIES.table, EVENTS.table
        where: list[ColumnElement[bool]] = []
        if source in AREA_LEVELS:
            where += [
                g.c.level == AREA_LEVELS[source],
                *scoping.row_scope(self.plan, "features.areas", "grids", g.c.code),
                self._shown("Grid", "geometry", g.c.code),
            ]
            if cut.bbox:
                where.append(_areas_meeting(cut.bbox, g))
            if cut.area_code:
                where.append(_areas_overlapping(cut.area_code, g.c.code))
            return select(g).where(*where), g.c.code
        if source is Source.HOUSES:
            where += [
                *scoping.row_scope(self.plan, "features.houses", "houses", h.c.grid_code),
                self._shown("House", "location", h.c.grid_code),
                *self._filtered("houses"),
            ]
            where += self._placed(h, h.c.grid_code)
            return select(h).where(*where), h.c.code
        if source is Source.EVENTS:
            where += [
                *scoping.row_scope(self.plan, "features.events", "events", v.c.grid_code),
                self._shown("Event", "location", v.c.grid_code),
                *self._filtered("events"),
            ]
            where += self._placed(v, v.c.grid_code)
            return select(v).where(*where), v.c.id
        if source is Source.ENTITIES:
            where += [
                *scoping.row_scope(self.plan, "features.entities", "entities", e.c.grid_code),
                self._shown("Entity", "house", e.c.grid_code),
                *scoping.row_scope(self.plan, "features.entity_houses", "houses", h.c.grid_code),
                self._shown("House", "location", h.c.grid_code),
                *self._filtered("entities"),
            ]
            where += self._placed(h, e.c.grid_code)
            statement = (
                select(e, h.c.lon, h.c.lat)
                .select_from(e.join(h, e.c.house_code == h.c.code))
                .where(*where)
            )
            return statement, e.c.credit_code
        return self._people()

    def _placed(self, located: Table, grid_code: ColumnElement[str]) -> list[ColumnElement[bool]]:
        """The cut of point rows: their location in the box, their grid under the area."""
        where = []
        if self.cut.bbox:
            where.append(_points_in(self.cut.bbox, located.c.lon, located.c.lat))
        if self.cut.area_code:
            where.append(under_area(grid_code, self.cut.area_code))
        return where

    def _people(self) -> tuple[Select[Any], ColumnElement[Any]]:
        """People counted per unit (house or grid) in a subquery that reads only people (narrow
        rows, grouped by one column), joined to the units that may be drawn; counts under the
        threshold are left out there, before any unit is read."""
        aggregate = self.layer.aggregate
        assert aggregate is not None
        g, h, p = GRIDS.table, HOUSES.table, PEOPLE.table
        by_house = aggregate.by is AggregateBy.HOUSE
        unit_of = p.c.house_code if by_house else p.c.grid_code
        people = [
            *scoping.row_scope(self.plan, "features.people", "people", p.c.grid_code),
            self._shown("Person", "house" if by_house else "gridCode", p.c.grid_code),
            *self._filtered("people"),
        ]
        if self.cut.area_code:  # a person lives in their house's grid: this only narrows early
            people.append(under_area(p.c.grid_code, self.cut.area_code))
        counted = (
            select(unit_of.label("gh_unit"), func.count(p.c.id).label("gh_count"))
            .where(unit_of.is_not(None), *people)
            .group_by(unit_of)
            .having(func.count(p.c.id) >= aggregate.min_count)
            .subquery("gh_counted")
        )
        if by_house:
            units = [
                *scoping.row_scope(self.plan, "features.people_houses", "houses", h.c.grid_code),
                self._shown("House", "location", h.c.grid_code),
                *self._placed(h, h.c.grid_code),
            ]
            unit, on = h, h.c.code
        else:
            units = [
                *scoping.row_scope(self.plan, "features.people_grids", "grids", g.c.code),
                self._shown("Grid", "geometry", g.c.code),
            ]
            if self.cut.bbox:
                units.append(_areas_meeting(self.cut.bbox, g))
            if self.cut.area_code:
                units.append(under_area(g.c.code, self.cut.area_code))
            unit, on = g, g.c.code
        statement = (
            select(unit, counted.c.gh_unit, counted.c.gh_count)
            .select_from(counted.join(unit, on == counted.c.gh_unit))
            .where(*units)
        )
        return statement, counted.c.gh_unit

    @property
    def statement(self) -> Select[Any]:
        """Every feature's row, in no order (to count them)."""
        return self._statement

    def page(self, after: Any, size: int) -> Select[Any]:
        """The statement of the ``size`` features that follow the key ``after`` (None: the
        first)."""
        statement = self._statement
        if after is not None:
            statement = statement.where(self._key > after)  # for a count: its unit's key
        return statement.order_by(self._key).limit(size)

    def key(self, row: Any) -> Any:
        return row._mapping[self._key.name]

    # -- features ------------------------------------------------------------------------------

    def feature(self, row: Any) -> dict[str, Any]:
        """A row as a GeoJSON Feature with the properties the viewer's plan shows."""
        type_name = self.type_name
        m = row._mapping
        grid_code = m["code"] if type_name == "Grid" else m["grid_code"]
        rules = self.plan.rules(type_name, grid_code)
        properties: dict[str, Any] = {}
        for field in self.layer.fields:
            decision = rules.of(field)
            if decision is Decision.DENY or decision is Decision.PURPOSE_REQUIRED:
                continue
            column = FEATURE_FIELDS[type_name][field]
            value = (
                is_overdue(m["deadline"], m["closed_at"], self.now) if column is None else m[column]
            )
            if decision is Decision.MASK:
                value = mask(FIELDS[type_name][field].mask, value)
            properties[field] = _json_value(type_name, field, value)
        if self.aggregated:
            properties[COUNT] = int(m["gh_count"])
        if type_name == "Grid":
            geometry = orjson.loads(m["geometry"])
            key: str | int = m["code"]
        else:
            geometry = {"type": "Point", "coordinates": [m["lon"], m["lat"]]}
            key = m[{"House": "code", "Entity": "credit_code", "Event": "id"}[type_name]]
        return {
            "type": "Feature",
            "id": to_global_id(type_name, key),
            "geometry": geometry,
            "properties": properties,
        }
