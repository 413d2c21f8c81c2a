"""What a view is: its layers, each a source, a filter, the fields shown, an aggregate, a style.

A definition is checked whole here, before anything is stored, and every problem is reported at
once (``BAD_USER_INPUT`` with the list in ``extensions.problems``). A layer's filter is written
exactly as the GraphQL list filters are (``{use: PUBLIC_RENTAL}``, ``{open: true}``): it is
parsed into the same input class the API's ``houses(filter:)`` takes and frozen the same way,
so it means the same, and is checked and applied by the same code (:mod:`resolvers.filters`).

People are never drawn one by one: a ``PEOPLE`` layer always counts them per house or per
grid, and counts below the layer's ``minCount`` (at least :data:`MIN_COUNT_FLOOR`) are left out.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import re
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from catalog.columns import STORED
from policies.areas import check_area_code
from policies.field_rules import OpenPlan
from resolvers import filter_inputs, filters
from resolvers.filters import Filter
from resolvers.resources import RESOURCES
from store.errors import BadUserInput

CODE = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*")
CODE_LENGTH = 64
LAYER_CODE = re.compile(r"[a-z][a-z0-9_-]{0,31}")
PURPOSE = re.compile(r"[a-z][a-z0-9_]{0,63}")
COLOUR = re.compile(r"#[0-9a-fA-F]{6}")
NAME_LENGTH = 128
MAX_LAYERS = 10
MAX_FIELDS = 20
#: The default and the lowest threshold under which a count is suppressed: a count of one or
#: two people in a house or grid points at someone.
DEFAULT_MIN_COUNT = 5
MIN_COUNT_FLOOR = 3
MAX_MIN_COUNT = 1000


def check_min_count(min_count: int) -> None:
    """Refuse a statistics query's ``minCount`` outside the bounds (a smaller count can
    single someone out; a huge one is a mistake)."""
    if not MIN_COUNT_FLOOR <= min_count <= MAX_MIN_COUNT:
        raise BadUserInput(
            f"minCount is between {MIN_COUNT_FLOOR} and {MAX_MIN_COUNT}: a smaller count can "
            "single someone out",
            field="minCount",
        )


#: Point radius or line width on the map, in pixels.
MIN_SIZE, MAX_SIZE, DEFAULT_SIZE = 1.0, 50.0, 6.0
#: The property an aggregate layer's features carry their count in.
COUNT = "count"


class Source(enum.StrEnum):
    """What a layer draws: areas of one level (polygons), houses, entities or events (points),
    or people counted per house or grid."""

    GRID = "GRID"
    COMMUNITY = "COMMUNITY"
    STREET = "STREET"
    HOUSES = "HOUSES"
    ENTITIES = "ENTITIES"
    EVENTS = "EVENTS"
    PEOPLE = "PEOPLE"


class AggregateBy(enum.StrEnum):
    HOUSE = "HOUSE"
    GRID = "GRID"


#: The area level each area source draws.
AREA_LEVELS: Mapping[Source, str] = {
    Source.GRID: "grid",
    Source.COMMUNITY: "community",
    Source.STREET: "street",
}

#: Per drawable type, the fields a feature may show. Only plain values: links and lists are
#: other rows, which a view draws as layers of their own.
_SHOWN: Mapping[str, tuple[str, ...]] = {
    "Grid": ("code", "name", "level"),
    "House": ("code", "address", "use", "floors", "builtYear", "gridCode"),
    "Entity": (
        "creditCode",
        "name",
        "type",
        "industry",
        "status",
        "establishedOn",
        "registeredAddress",
        "gridCode",
    ),
    "Event": (
        "source",
        "categoryCode",
        "description",
        "status",
        "reporter",
        "gridCode",
        "handlingDepartmentCode",
        "reportedAt",
        "dispatchedAt",
        "closedAt",
        "deadline",
        "overdue",
    ),
}
#: Shown fields worked out from the row rather than read from their column.
_COMPUTED = frozenset({("Event", "overdue")})
#: Per drawable type, each field a feature may show and the column it reads (``None``: a value
#: computed from the row, ``Event.overdue``) — the column as the catalogue's map of stored data
#: items says, so the two can not disagree.
FEATURE_FIELDS: Mapping[str, Mapping[str, str | None]] = {
    type_name: {
        field: None if (type_name, field) in _COMPUTED else STORED[type_name].column(field).name
        for field in fields
    }
    for type_name, fields in _SHOWN.items()
}

#: Per filtered source: the resource its filter reads and the API's filter input.
FILTERS: Mapping[Source, tuple[str, type]] = {
    Source.HOUSES: ("houses", filter_inputs.HouseFilter),
    Source.ENTITIES: ("entities", filter_inputs.EntityFilter),
    Source.EVENTS: ("events", filter_inputs.EventFilter),
    Source.PEOPLE: ("people", filter_inputs.PersonFilter),
}


def input_class(source: Source) -> type:
    """The API's filter input class of a filtered source."""
    return FILTERS[source][1]


@dataclass(frozen=True, slots=True)
class Style:
    colour: str
    size: float = DEFAULT_SIZE
    label_field: str | None = None


@dataclass(frozen=True, slots=True)
class Aggregate:
    by: AggregateBy
    min_count: int = DEFAULT_MIN_COUNT


@dataclass(frozen=True, slots=True)
class Layer:
    code: str
    name: str
    source: Source
    #: The filter as written (GraphQL names and enum names), canonical: what is stored.
    filter: Mapping[str, Any]
    fields: tuple[str, ...]
    style: Style
    aggregate: Aggregate | None = None

    @property
    def feature_type(self) -> str:
        """The GraphQL type each feature stands for: the counted unit for people."""
        if self.source in AREA_LEVELS:
            return "Grid"
        if self.source is Source.PEOPLE:
            assert self.aggregate is not None
            return "House" if self.aggregate.by is AggregateBy.HOUSE else "Grid"
        return {Source.HOUSES: "House", Source.ENTITIES: "Entity", Source.EVENTS: "Event"}[
            self.source
        ]

    @property
    def filter_resource(self) -> str | None:
        """The resource the filter reads (None: an area layer, which takes no filter)."""
        found = FILTERS.get(self.source)
        return None if found is None else found[0]

    @property
    def filter_key(self) -> Filter:
        """The filter frozen as the API's list resolvers freeze theirs."""
        if self.source not in FILTERS:
            return filters.NO_FILTER
        return parse_filter(self.source, self.filter, [])


@dataclass(frozen=True, slots=True)
class ViewDefinition:
    code: str
    name: str
    department: str
    description: str
    layers: tuple[Layer, ...]
    purpose: str | None = None

    def layer(self, code: str) -> Layer | None:
        return next((layer for layer in self.layers if layer.code == code), None)


# -- filters -------------------------------------------------------------------------------------


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


@functools.cache
def _filter_fields(filter_class: type) -> dict[str, tuple[str, Any]]:
    """GraphQL name → (attribute, the value's type without ``None``) of a filter input class."""
    hints = typing.get_type_hints(filter_class)
    found = {}
    for field in dataclasses.fields(filter_class):
        kinds = [k for k in typing.get_args(hints[field.name]) if k is not type(None)]
        found[_camel(field.name)] = (field.name, kinds[0] if kinds else hints[field.name])
    return found


TIME = "a time with a time zone, e.g. 2026-01-01T00:00:00+08:00"
T = typing.TypeVar("T")


def _parsed(parse: typing.Callable[[str], T], value: Any, expected: str) -> T:
    if not isinstance(value, str):
        raise ValueError(expected)
    try:
        return parse(value)
    except ValueError:
        raise ValueError(expected) from None


def _coerce(kind: Any, value: Any) -> tuple[Any, Any]:
    """The input attribute's value and its canonical (stored) form; ValueError if it does not
    fit the type, as GraphQL would refuse the same literal."""
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        if not isinstance(value, str) or value not in kind.__members__:
            names = ", ".join(kind.__members__)
            raise ValueError(f"one of {names}")
        return kind[value], value
    if kind is bool:
        if not isinstance(value, bool):
            raise ValueError("true or false")
        return value, value
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int) or abs(value) > 2**31 - 1:
            raise ValueError("a whole number")
        return value, value
    if kind is str:
        if not isinstance(value, str):
            raise ValueError("a string")
        return value, value
    if kind is datetime:
        moment = _parsed(datetime.fromisoformat, value, TIME)
        if moment.tzinfo is None:
            raise ValueError(TIME)
        return moment, moment.isoformat()
    if kind is date:
        day = _parsed(date.fromisoformat, value, "a date, e.g. 1956-01-01")
        return day, day.isoformat()
    raise TypeError(f"no coercion for {kind!r}")  # a new filter field type: teach it here


def parse_filter(source: Source, raw: Mapping[str, Any], problems: list[str]) -> Filter:
    """The frozen filter of ``raw`` (the API's filter input, as JSON) for a layer of
    ``source``; problems are appended to ``problems`` (and the bad parts left out)."""
    if source not in FILTERS:
        if raw:
            problems.append(f"a {source} layer takes no filter")
        return filters.NO_FILTER
    filter_class = input_class(source)
    known = _filter_fields(filter_class)
    values: dict[str, Any] = {}
    for name, value in raw.items():
        if name not in known:
            problems.append(
                f"filter: {filter_class.__name__} has no field `{name}` "
                f"(it has {', '.join(sorted(known))})"
            )
            continue
        attribute, kind = known[name]
        if value is None:
            continue
        try:
            values[attribute], _ = _coerce(kind, value)
        except ValueError as error:
            problems.append(f"filter: `{name}` must be {error}")
            continue
        if attribute == "area_code":
            try:
                check_area_code(value)
            except BadUserInput as error:
                problems.append(f"filter: `areaCode`: {error}")
                del values[attribute]
    frozen = filters.freeze(filter_class(**values))
    try:  # what only building the clauses finds (a negative age)
        filters.clauses(RESOURCES[FILTERS[source][0]], frozen, datetime.now(UTC), OpenPlan())
    except BadUserInput as error:
        problems.append(f"filter: {error}")
    return frozen


def canonical_filter(source: Source, raw: Mapping[str, Any]) -> dict[str, Any]:
    """``raw`` as stored: nulls dropped, keys sorted, times and dates in ISO form (it is
    checked by :func:`parse_filter` first)."""
    if source not in FILTERS:
        return {}
    known = _filter_fields(input_class(source))
    return {
        name: _coerce(known[name][1], value)[1]
        for name, value in sorted(raw.items())
        if value is not None
    }


# -- layers and views ----------------------------------------------------------------------------


def _text(value: Any, what: str, problems: list[str], *, empty: bool = False) -> str:
    if not isinstance(value, str) or (not empty and not value.strip()):
        problems.append(f"{what} must be {'a' if empty else 'a non-empty'} string")
        return ""
    if len(value) > NAME_LENGTH and what.endswith("name"):
        problems.append(f"{what} may be at most {NAME_LENGTH} characters")
    return value.strip()


def _style(raw: Mapping[str, Any], where: str, problems: list[str]) -> Style:
    colour = raw.get("colour")
    if not isinstance(colour, str) or not COLOUR.fullmatch(colour):
        problems.append(f"{where}: style colour must be #rrggbb, not {colour!r}")
        colour = "#000000"
    size = raw.get("size", DEFAULT_SIZE)
    if size is None:
        size = DEFAULT_SIZE
    if isinstance(size, bool) or not isinstance(size, int | float):
        problems.append(f"{where}: style size must be a number")
        size = DEFAULT_SIZE
    elif not MIN_SIZE <= size <= MAX_SIZE:
        problems.append(f"{where}: style size must be from {MIN_SIZE:g} to {MAX_SIZE:g}")
    label = raw.get("labelField")
    return Style(colour.lower(), float(size), label if isinstance(label, str) else None)


def _aggregate(raw: Any, source: Source, where: str, problems: list[str]) -> Aggregate | None:
    if source is not Source.PEOPLE:
        if raw is not None:
            problems.append(f"{where}: only a PEOPLE layer is aggregated")
        return None
    if raw is None:
        problems.append(
            f"{where}: people are never drawn one by one; aggregate them by HOUSE or GRID"
        )
        return Aggregate(AggregateBy.GRID)
    by = raw.get("by")
    if by not in AggregateBy.__members__:
        problems.append(f"{where}: aggregate by HOUSE or GRID, not {by!r}")
        by = AggregateBy.GRID.value
    min_count = raw.get("minCount")
    if min_count is None:
        min_count = DEFAULT_MIN_COUNT
    if isinstance(min_count, bool) or not isinstance(min_count, int):
        problems.append(f"{where}: minCount must be a whole number")
        min_count = DEFAULT_MIN_COUNT
    elif min_count < MIN_COUNT_FLOOR:
        problems.append(
            f"{where}: minCount may not be below {MIN_COUNT_FLOOR}: a smaller count can single "
            "someone out"
        )
    elif min_count > MAX_MIN_COUNT:
        problems.append(f"{where}: minCount may be at most {MAX_MIN_COUNT}")
    return Aggregate(AggregateBy[by], min_count)


def parse_layer(raw: Mapping[str, Any], position: int, problems: list[str]) -> Layer:
    """One layer from its JSON form (what the API takes and the store keeps)."""
    code = raw.get("code")
    where = f"layer {code if isinstance(code, str) else position + 1}"
    if not isinstance(code, str) or not LAYER_CODE.fullmatch(code):
        problems.append(
            f"{where}: a layer code is lower-case letters, digits, _ and - (e.g. houses)"
        )
        code = f"layer-{position + 1}"
    name = _text(raw.get("name"), f"{where}: name", problems)
    source_name = raw.get("source")
    named = Source.__members__.get(source_name) if isinstance(source_name, str) else None
    if named is None:
        problems.append(
            f"{where}: source must be one of {', '.join(Source.__members__)}, not {source_name!r}"
        )
    source = Source.HOUSES if named is None else named
    raw_filter = raw.get("filter") or {}
    if not isinstance(raw_filter, Mapping):
        problems.append(f"{where}: filter must be an object, as the list filters take")
        raw_filter = {}
    found: list[str] = []
    parse_filter(source, raw_filter, found)
    problems.extend(f"{where}: {problem}" for problem in found)
    aggregate = _aggregate(raw.get("aggregate"), source, where, problems)
    layer_fields = raw.get("fields") or []
    if not isinstance(layer_fields, Sequence) or isinstance(layer_fields, str):
        problems.append(f"{where}: fields must be a list of field names")
        layer_fields = []
    layer = Layer(
        code=code,
        name=name,
        source=source,
        filter={} if found else canonical_filter(source, raw_filter),
        fields=tuple(str(f) for f in layer_fields),
        style=_style(raw.get("style") or {}, where, problems),
        aggregate=aggregate,
    )
    if named is None:  # its fields can not be checked
        return layer
    shown = FEATURE_FIELDS[layer.feature_type]
    unknown = [f for f in layer.fields if f not in shown]
    if unknown:
        problems.append(
            f"{where}: {layer.feature_type} features show none of {', '.join(unknown)} "
            f"(they show {', '.join(shown)})"
        )
    if len(set(layer.fields)) != len(layer.fields):
        problems.append(f"{where}: a field is named twice")
    if len(layer.fields) > MAX_FIELDS:
        problems.append(f"{where}: at most {MAX_FIELDS} fields")
    label = layer.style.label_field
    labels = (*layer.fields, COUNT) if aggregate is not None else layer.fields
    if label is not None and label not in labels:
        problems.append(f"{where}: the label field {label!r} must be one of the fields shown")
    return layer


def parse_view(raw: Mapping[str, Any], departments: Sequence[str] | None = None) -> ViewDefinition:
    """A whole view from its JSON form; ``BAD_USER_INPUT`` listing every problem found.
    ``departments``, when given, are the district's department codes."""
    problems: list[str] = []
    code = raw.get("code")
    if not isinstance(code, str) or len(code) > CODE_LENGTH or not CODE.fullmatch(code):
        problems.append(
            "code: lower-case letters and digits in groups joined by -, at most "
            f"{CODE_LENGTH} characters (e.g. grid-office-patrol)"
        )
        code = str(code)
    name = _text(raw.get("name"), "name", problems)
    description = _text(raw.get("description", ""), "description", problems, empty=True)
    department = raw.get("department")
    if not isinstance(department, str) or (
        departments is not None and department not in departments
    ):
        problems.append(f"department: no department {department!r}")
        department = str(department)
    purpose = raw.get("purpose")
    if purpose is not None and (not isinstance(purpose, str) or not PURPOSE.fullmatch(purpose)):
        problems.append("purpose: a purpose code like elderly_care (as X-Access-Purpose takes)")
        purpose = None
    raw_layers = raw.get("layers")
    if not isinstance(raw_layers, Sequence) or isinstance(raw_layers, str) or not raw_layers:
        problems.append("layers: a view has at least one layer")
        raw_layers = []
    if len(raw_layers) > MAX_LAYERS:
        problems.append(f"layers: at most {MAX_LAYERS}")
    layers = tuple(
        parse_layer(layer if isinstance(layer, Mapping) else {}, i, problems)
        for i, layer in enumerate(raw_layers)
    )
    codes = [layer.code for layer in layers]
    if len(set(codes)) != len(codes):
        problems.append("layers: each layer needs a code of its own")
    if problems:
        raise BadUserInput(f"The view can not be saved: {'; '.join(problems)}", problems=problems)
    return ViewDefinition(code, name, department, description, layers, purpose)


def layer_json(layer: Layer) -> dict[str, Any]:
    aggregate = layer.aggregate
    return {
        "code": layer.code,
        "name": layer.name,
        "source": layer.source.value,
        "filter": dict(layer.filter),
        "fields": list(layer.fields),
        "aggregate": None
        if aggregate is None
        else {"by": aggregate.by.value, "minCount": aggregate.min_count},
        "style": {
            "colour": layer.style.colour,
            "size": layer.style.size,
            "labelField": layer.style.label_field,
        },
    }


def view_json(view: ViewDefinition) -> dict[str, Any]:
    """The whole definition as JSON: what a version keeps and :func:`parse_view` reads."""
    return {
        "code": view.code,
        "name": view.name,
        "department": view.department,
        "description": view.description,
        "purpose": view.purpose,
        "layers": [layer_json(layer) for layer in view.layers],
    }
