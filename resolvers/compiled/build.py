"""Turns one root field's selections and the caller's plan into one SELECT whose first column is
the field's answer as JSON and whose second holds the audit facts of the rows it returned.

The shape follows the document: an object is ``json_object(key, value, …)`` over a row (on
PostgreSQL, the same object written as text: see :mod:`resolvers.compiled.dialect`); a connection
is a correlated subquery over its page (``first + 1`` rows numbered in key order, the extra one
only answering ``hasNextPage``) aggregated into ``edges``, with ``totalCount`` its own count. On
PostgreSQL each child (a connection, a link) is a ``LEFT JOIN LATERAL`` subquery of its parent's
rows giving its JSON and its facts from one scan; on SQLite (no LATERAL) they are two correlated
subqueries. The plan is inside: its row predicate in every WHERE, each field's decision as the
value, its SQL mask, or — when the decision depends on the row's area — a ``CASE`` over the
plan's areas. A field refused anywhere (DENY, PURPOSE_REQUIRED) is :class:`Unsupported` for
now: its root field goes the field-by-field way, which answers it with its error.

The facts column lists, space-separated, what the audit entry needs of the answer, as the
field-by-field path notes it (``resolvers.answer``): one token per object the answer holds (a
type letter, for people the id, and after a dot the index of the fields selected on it: see
:attr:`Compiler.selections`), so a page of which only ``totalCount`` is asked returns nobody; and
one token per value shown masked (``m`` and the index of its field in
:attr:`Compiler.masked_fields`), only where the mask changed the value, as the guard notes it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from graphql import FieldNode, GraphQLObjectType, get_named_type
from sqlalchemy import (
    ColumnElement,
    FromClause,
    Select,
    String,
    case,
    cast,
    func,
    literal,
    null,
    select,
    true,
)

from policies import row_scope as scoping
from policies.areas import under_area
from policies.decision import Decision
from policies.field_rules import FieldRules, Plan
from policies.fields import FIELDS
from resolvers import filters
from resolvers.answer import Selection
from resolvers.compiled import masks
from resolvers.compiled.dialect import Dialect
from resolvers.compiled.selection import Unsupported, Walk
from resolvers.compiled.types import ROOT_LISTS, ROOT_LOOKUPS, TYPES, Kind, TypeSpec
from resolvers.filter_inputs import EntityFilter, HouseFilter, PersonFilter
from resolvers.ids import from_global_id
from resolvers.loaders import AREA
from resolvers.pagination import PageArgs, page_args
from resolvers.resources import ENTITIES, EVENTS, HOUSES, PEOPLE, Resource

Expr = ColumnElement[Any]
FILTER_INPUTS: dict[str, Any] = {
    "houses": HouseFilter,
    "people": PersonFilter,
    "entities": EntityFilter,
}


#: ``GridStats`` fields: the resource counted and the filter applied.
STAT_COUNTS: dict[str, tuple[Resource, filters.Filter]] = {
    "houses": (HOUSES, ()),
    "people": (PEOPLE, ()),
    "entities": (ENTITIES, ()),
    "events": (EVENTS, ()),
    "openEvents": (EVENTS, (("open", True),)),
}


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


@dataclass(frozen=True, slots=True)
class Built:
    """A JSON value in SQL and the facts (a text of tokens, or NULL) of the rows under it."""

    data: Expr
    facts: list[Expr]


@dataclass(frozen=True, slots=True)
class PageSettings:
    default: int
    cap: int


class Compiler:
    """Builds the statements of one request (one plan, one clock, one back end)."""

    def __init__(
        self, walk: Walk, plan: Plan, dialect: Dialect, pages: PageSettings, now: datetime
    ) -> None:
        self.walk = walk
        self.plan = plan
        self.dialect = dialect
        self.pages = pages
        self.now = now
        self._depth = 0  # numbers the subqueries' aliases
        self._nesting = 0  # how many connections and links deep the walk is
        #: The fields selected on each object site, by the index its facts token names.
        self.selections: list[Selection] = []
        #: The (type, field) of masked values, by the index their facts token names.
        self.masked_fields: list[tuple[str, str]] = []
        #: Per row source being built (a page, a linked row, the root row), the LATERAL
        #: subqueries of its children, joined to it (back ends with ``dialect.lateral``).
        self._laterals: list[list[FromClause]] = []

    # -- row sources ------------------------------------------------------------------------

    @contextmanager
    def _scope(self) -> Iterator[list[FromClause]]:
        """Collects the LATERAL subqueries registered while one row source's objects are
        built (see :meth:`_attach`)."""
        laterals: list[FromClause] = []
        self._laterals.append(laterals)
        try:
            yield laterals
        finally:
            self._laterals.pop()

    @staticmethod
    def _source(row: FromClause, laterals: list[FromClause]) -> FromClause:
        """``row`` with its children's LATERAL subqueries left-joined: each yields exactly
        one row per row of ``row`` (an aggregate, or a look-up by primary key), so counts over
        the join are counts of ``row``."""
        source = row
        for lateral in laterals:
            source = source.outerjoin(lateral, true())
        return source

    def _attach(self, both: Select[Any], has_facts: bool) -> Built:
        """A child's statement of two columns (``d``, its JSON; ``f``, its facts) joined
        LATERAL to the row source being built, read once for both: a child scanned once,
        not once for the answer and again for the audit facts."""
        self._depth += 1
        lateral = both.lateral(f"gh_lat{self._depth}")
        self._laterals[-1].append(lateral)
        return Built(lateral.c.d, [lateral.c.f] if has_facts else [])

    # -- audit facts ------------------------------------------------------------------------

    def _selected(self, gtype: GraphQLObjectType, nodes: list[FieldNode]) -> str:
        """The suffix naming the fields selected on objects of this site (``.n``)."""
        names = frozenset(
            (gtype.name, field_nodes[0].name.value)
            for field_nodes in self.walk.subfields(gtype, nodes).values()
            if not field_nodes[0].name.value.startswith("__")
        )
        self.selections.append(Selection(names))
        return f".{len(self.selections) - 1}"

    def _mask_token(self, type_name: str, field_name: str) -> Expr:
        key = (type_name, field_name)
        if key not in self.masked_fields:
            self.masked_fields.append(key)
        return literal(f"m{self.masked_fields.index(key)}", String)

    def _masks_anywhere(self, type_name: str, field_name: str) -> bool:
        return any(rules.of(field_name) is Decision.MASK for _, rules in self._regions(type_name))

    def _scalar_fact(self, spec: TypeSpec, row: FromClause, field_name: str) -> Expr | None:
        """A token where the row's value of a plain field is shown masked and the mask changed
        it (``schema.guard``: an empty or null value masks to itself and hides nothing)."""
        if not self._masks_anywhere(spec.name, field_name):
            return None
        column: Expr = row.c[spec.scalars[field_name][0]]
        rule = FIELDS[spec.name][field_name].mask
        token = self._mask_token(spec.name, field_name)

        def build(decision: Decision) -> Expr:
            if decision is not Decision.MASK:
                return null()
            return case((masks.masked(rule, column).is_distinct_from(column), token), else_=null())

        return self._decided(spec, row, field_name, build)

    def _linked_fact(
        self, spec: TypeSpec, row: FromClause, field_name: str, type_name: str | None = None
    ) -> Expr | None:
        """A token where a link, list or computed field is masked, so answered null
        (``schema.guard.allowed`` notes it whatever the value would have been)."""
        type_name = type_name or spec.name
        if FIELDS[type_name][field_name].mask is masks.Mask.NONE:
            return None
        if not self._masks_anywhere(type_name, field_name):
            return None
        token = self._mask_token(type_name, field_name)

        def build(decision: Decision) -> Expr:
            return token if decision is Decision.MASK else null()

        return self._decided(spec, row, field_name, build, type_name)

    @contextmanager
    def _deeper(self) -> Iterator[None]:
        """One connection or link further down; refused past the back end's limit."""
        self._nesting += 1
        limit = self.dialect.max_nesting
        if limit is not None and self._nesting > limit:
            raise Unsupported(f"nested deeper than {limit} on {self.dialect.name}")
        try:
            yield
        finally:
            self._nesting -= 1

    # -- the plan ---------------------------------------------------------------------------

    def _regions(self, type_name: str) -> list[tuple[str, FieldRules]]:
        """The plan's areas with their field rules, deepest first ("" is everywhere else)."""
        of_type = getattr(self.plan, "of_type", None)
        if of_type is None:  # a fixed plan: one set of rules everywhere
            return [("", self.plan.rules(type_name, None))]
        places = of_type(type_name).places() or ("",)
        ordered = sorted(places, key=len, reverse=True)
        return [(place, self.plan.rules(type_name, place)) for place in ordered]

    def _decided(
        self,
        spec: TypeSpec,
        row: FromClause,
        field_name: str,
        build: Callable[[Decision], Expr],
        type_name: str | None = None,
    ) -> Expr:
        """The field's value under the plan: one expression, or a CASE over the row's area
        (``type_name``: the rules of another type for the same row, ``GridStats``)."""
        type_name = type_name or spec.name
        regions = self._regions(type_name)
        chosen: list[tuple[str, Decision]] = []
        for place, rules in regions:
            decision = rules.of(field_name)
            if decision in (Decision.DENY, Decision.PURPOSE_REQUIRED):
                raise Unsupported(f"{type_name}.{field_name} is refused for this caller")
            chosen.append((place, decision))
        if len({decision for _, decision in chosen}) == 1:
            return build(chosen[0][1])
        area = row.c[spec.resource.area.name]
        whens = [(under_area(area, place), build(d)) for place, d in chosen if place]
        otherwise = next((build(d) for place, d in chosen if not place), null())
        return case(*whens, else_=otherwise)

    def _linked(
        self, spec: TypeSpec, field_name: str, type_name: str | None = None
    ) -> Callable[[Expr], Callable[[Decision], Expr]]:
        """``schema.guard.allowed`` for links, lists and computed fields: resolved when
        ALLOW, or MASK of a field whose mask hides nothing; null otherwise."""
        mask = FIELDS[type_name or spec.name][field_name].mask

        def given(value: Expr) -> Callable[[Decision], Expr]:
            def build(decision: Decision) -> Expr:
                shown = decision is Decision.ALLOW or mask is masks.Mask.NONE
                return value if shown else null()

            return build

        return given

    @staticmethod
    def _area(resource: Resource, row: FromClause | None = None) -> Expr:
        """The grid-code column a row predicate is taken on: the table's, or ``row``'s."""
        return resource.area if row is None else row.c[resource.area.name]

    # -- objects ----------------------------------------------------------------------------

    def global_id(self, spec: TypeSpec, row: FromClause) -> Expr:
        key = cast(row.c[spec.resource.key.name], String)
        return self.dialect.base64(literal(f"{spec.name}:", String).concat(key))

    def cursor(self, resource: Resource, key: Expr) -> Expr:
        """``resolvers.pagination.encode_cursor`` in SQL: url-safe base64 of the JSON."""
        if resource.key_type is str:
            shown = literal('"', String).concat(key).concat(literal('"', String))
        else:
            shown = cast(key, String)
        text = literal(f'["c1","{resource.name}",', String).concat(shown).concat(literal("]"))
        encoded = self.dialect.base64(text)
        return func.replace(func.replace(encoded, literal("+"), literal("-")), "/", "_")

    def _scalar(self, spec: TypeSpec, row: FromClause, field_name: str) -> Expr:
        column_name, kind = spec.scalars[field_name]
        column: Expr = row.c[column_name]
        rule = FIELDS[spec.name][field_name].mask
        if rule not in masks.SUPPORTED:
            raise Unsupported(f"mask {rule}")

        def build(decision: Decision) -> Expr:
            value = column if decision is Decision.ALLOW else masks.masked(rule, column)
            return func.upper(value) if kind is Kind.ENUM else value

        return self._decided(spec, row, field_name, build)

    def object(
        self,
        gtype: GraphQLObjectType,
        nodes: list[FieldNode],
        row: FromClause,
        code: str | None = None,
    ) -> Built:
        """One object over ``row``; ``code``, the row's grid code when known in advance."""
        spec = TYPES.get(gtype.name)
        if spec is None:
            raise Unsupported(gtype.name)
        pairs: list[tuple[str, Expr]] = []
        # The object's own token first (never NULL: ``_joined`` starts from it).
        facts: list[Expr | None] = [self._token(spec, row, self._selected(gtype, nodes))]
        for key, field_nodes in self.walk.subfields(gtype, nodes).items():
            name = field_nodes[0].name.value
            if name == "__typename":
                pairs.append((key, literal(gtype.name, String)))
            elif name == "id":
                linked = self._linked(spec, "id")(self.global_id(spec, row))
                pairs.append((key, self._decided(spec, row, "id", linked)))
                facts.append(self._linked_fact(spec, row, "id"))
            elif name in spec.scalars:
                pairs.append((key, self._scalar(spec, row, name)))
                facts.append(self._scalar_fact(spec, row, name))
            elif name == "age" and spec.name == "Person":
                age = self.dialect.age(row.c.birth_date, self.now.date())
                pairs.append((key, self._decided(spec, row, "age", self._linked(spec, "age")(age))))
                facts.append(self._linked_fact(spec, row, "age"))
            elif name in spec.connections:
                built = self._child_connection(gtype, spec, name, field_nodes, row, code)
                pairs.append((key, self.dialect.embed(built.data)))
                facts.extend(built.facts)
                facts.append(self._linked_fact(spec, row, name))
            elif name == "stats" and spec.name == "Grid":
                stats = self._stats(gtype, field_nodes, row, code)
                shown = self._linked(spec, "stats")
                pairs.append((key, self._decided(spec, row, "stats", shown(stats.data))))
                facts.extend(self._decided(spec, row, "stats", shown(f)) for f in stats.facts)
                facts.append(self._linked_fact(spec, row, "stats"))
            elif name in spec.links:
                built = self._link(gtype, spec, name, field_nodes, row)
                pairs.append((key, self.dialect.embed(built.data)))
                facts.extend(built.facts)
                facts.append(self._linked_fact(spec, row, name))
            else:
                raise Unsupported(f"{gtype.name}.{name}")
        return Built(self.dialect.obj(pairs), [f for f in facts if f is not None])

    def _token(self, spec: TypeSpec, row: FromClause, selected: str) -> Expr:
        if spec.name == "Person":
            person = literal("P", String).concat(cast(row.c.id, String))
            return person.concat(literal(selected, String))
        return literal(spec.tag + selected, String)

    @staticmethod
    def _joined(parts: list[Expr]) -> Expr:
        joined = parts[0]
        for part in parts[1:]:
            joined = joined.concat(func.coalesce(literal(" ", String).concat(part), ""))
        return joined

    # -- connections ------------------------------------------------------------------------

    def _child_connection(
        self,
        parent: GraphQLObjectType,
        spec: TypeSpec,
        field_name: str,
        nodes: list[FieldNode],
        row: FromClause,
        code: str | None,
    ) -> Built:
        node_type, relation = spec.connections[field_name]
        child = TYPES[node_type].resource
        if relation == AREA:
            scope = self._under(child, row, code)
        else:
            scope = child.table.c[relation] == row.c[spec.resource.key.name]
        built = self.connection(parent, nodes, node_type, [scope], row)
        linked = self._linked(spec, field_name)
        data = self._decided(spec, row, field_name, linked(built.data))
        facts = [self._decided(spec, row, field_name, linked(f)) for f in built.facts]
        return Built(data, facts)

    @staticmethod
    def _under(child: Resource, row: FromClause, code: str | None) -> Expr:
        """Rows of ``child`` under the area of the grid ``row`` (its code, when known)."""
        if code is not None:
            return under_area(child.area, code)
        parent_code = row.c.code
        return func.substr(child.area, 1, func.length(parent_code)) == parent_code

    def _stats(
        self, grid: GraphQLObjectType, nodes: list[FieldNode], row: FromClause, code: str | None
    ) -> Built:
        """``Grid.stats``: counts of the rows the caller sees under the area, each under the
        plan's ``GridStats`` rules for the area."""
        stats_type = get_named_type(grid.fields["stats"].type)
        assert isinstance(stats_type, GraphQLObjectType)
        spec = TYPES["Grid"]
        pairs: list[tuple[str, Expr]] = []
        # A statistics object holds no row of its own: its token names only its fields.
        facts: list[Expr | None] = [literal("_" + self._selected(stats_type, nodes), String)]
        for key, field_nodes in self.walk.subfields(stats_type, nodes).items():
            name = field_nodes[0].name.value
            if name == "__typename":
                pairs.append((key, literal(stats_type.name, String)))
                continue
            if name not in STAT_COUNTS:
                raise Unsupported(f"GridStats.{name}")
            resource, filter_key = STAT_COUNTS[name]
            filter_key = filters.checked(self.plan, resource, filter_key)
            count = (
                select(func.count())
                .select_from(resource.table)
                .where(
                    self._under(resource, row, code),
                    *scoping.row_scope(
                        self.plan, "compiled.stats", resource.name, self._area(resource)
                    ),
                    *filters.clauses(resource, filter_key, self.now, self.plan),
                )
                .correlate(row)
                .scalar_subquery()
            )
            shown = self._linked(spec, name, "GridStats")(count)
            pairs.append((key, self._decided(spec, row, name, shown, "GridStats")))
            facts.append(self._linked_fact(spec, row, name, "GridStats"))
        return Built(self.dialect.obj(pairs), [f for f in facts if f is not None])

    def _link(
        self,
        parent: GraphQLObjectType,
        spec: TypeSpec,
        field_name: str,
        nodes: list[FieldNode],
        row: FromClause,
    ) -> Built:
        """A link to one object: the row its key column names, if the plan shows it."""
        target_name, column = spec.links[field_name]
        target = TYPES[target_name]
        gtype = get_named_type(parent.fields[field_name].type)
        assert isinstance(gtype, GraphQLObjectType)
        self._depth += 1
        linked = target.resource.table.alias(f"gh_link{self._depth}")
        with self._deeper(), self._scope() as laterals:
            built = self.object(gtype, nodes, linked)
        where = [
            linked.c[target.resource.key.name] == row.c[column],
            *scoping.row_scope(
                self.plan,
                "compiled.link",
                target.resource.name,
                self._area(target.resource, linked),
            ),
        ]
        token = self._joined(built.facts)
        if self.dialect.lateral:
            source = self._source(linked, laterals)
            both = select(built.data.label("d"), token.label("f")).select_from(source)
            attached = self._attach(both.where(*where).correlate(row), True)
            data, fact = attached.data, attached.facts[0]
        else:
            data = select(built.data).where(*where).correlate(row).scalar_subquery()
            fact = select(token).where(*where).correlate(row).scalar_subquery()
        shown = self._linked(spec, field_name)
        return Built(
            self._decided(spec, row, field_name, shown(data)),
            [self._decided(spec, row, field_name, shown(fact))],
        )

    def _args(
        self, parent: GraphQLObjectType, node: FieldNode, resource: Resource
    ) -> tuple[PageArgs, filters.Filter]:
        args = self.walk.arguments(parent, node)
        paging = page_args(
            args.get("first"),
            args.get("after"),
            resource,
            default=self.pages.default,
            cap=self.pages.cap,
        )
        given = args.get("filter")
        filter_input = None
        if given is not None:
            # graphql-core coerces an input object to a dict keyed by GraphQL names; the
            # field-by-field path gets the input class, which is what filters freeze.
            kind = FILTER_INPUTS[resource.name]
            filter_input = kind(**{_snake(k): v for k, v in given.items()})
        # A root list's ``changedSince``, as the field-by-field path adds it (lists.root_page).
        frozen = filters.with_changed_since(filters.freeze(filter_input), args.get("changedSince"))
        filter_key = filters.checked(self.plan, resource, frozen)
        return paging, filter_key

    def connection(
        self,
        parent: GraphQLObjectType,
        nodes: list[FieldNode],
        node_type: str,
        scope: list[Expr],
        outer: FromClause | None,
    ) -> Built:
        """A connection field: ``{edges, pageInfo, totalCount}`` as the document asks."""
        with self._deeper():
            return self._connection(parent, nodes, node_type, scope, outer)

    def _connection(
        self,
        parent: GraphQLObjectType,
        nodes: list[FieldNode],
        node_type: str,
        scope: list[Expr],
        outer: FromClause | None,
    ) -> Built:
        spec = TYPES[node_type]
        resource = spec.resource
        paging, filter_key = self._args(parent, nodes[0], resource)
        conditions = [
            *scope,
            *scoping.row_scope(
                self.plan, "compiled.connection", resource.name, self._area(resource)
            ),
            *filters.clauses(resource, filter_key, self.now, self.plan),
        ]
        page_conditions = list(conditions)
        if paging.after is not None:
            page_conditions.append(resource.key > paging.after)
        self._depth += 1
        number = func.row_number().over(order_by=resource.key).label("gh_n")
        inner = select(*resource.table.c, number).where(*page_conditions)
        inner = inner.order_by(resource.key).limit(paging.first + 1)
        if outer is not None:
            inner = inner.correlate(outer)
        page = inner.subquery(f"gh_page{self._depth}")
        key = page.c[resource.key.name]
        shown = page.c.gh_n <= paging.first
        field_def = parent.fields[nodes[0].name.value]
        conn_type = get_named_type(field_def.type)
        assert isinstance(conn_type, GraphQLObjectType)

        pairs: list[tuple[str, Expr]] = []
        row_facts: list[Expr] = []  # the objects of its edges' nodes, when asked for
        with self._scope() as laterals:
            for key_name, field_nodes in self.walk.subfields(conn_type, nodes).items():
                name = field_nodes[0].name.value
                if name == "__typename":
                    pairs.append((key_name, literal(conn_type.name, String)))
                elif name == "totalCount":
                    count = select(func.count()).select_from(resource.table).where(*conditions)
                    if outer is not None:
                        count = count.correlate(outer)
                    pairs.append((key_name, count.scalar_subquery()))
                elif name == "pageInfo":
                    pairs.append(
                        (key_name, self._page_info(conn_type, field_nodes, paging, page, resource))
                    )
                elif name == "edges":
                    edges, facts = self._edges(conn_type, field_nodes, spec, page)
                    row_facts.extend(facts)
                    agg = self.dialect.agg(edges, key, shown)
                    pairs.append((key_name, func.coalesce(agg, self.dialect.empty_array())))
                else:
                    raise Unsupported(f"{conn_type.name}.{name}")
        source = self._source(page, laterals)
        # An aggregate query answers one row even over an empty page (``count(*) >= 0`` is
        # always true; it only makes the query an aggregate when no edges are selected).
        whole = case((func.count() >= 0, self.dialect.obj(pairs)))
        if self.dialect.lateral:
            facts_text: Expr = null()
            if row_facts:
                facts_text = self.dialect.text_agg(self._joined(row_facts), key, shown)
            both = select(whole.label("d"), facts_text.label("f")).select_from(source)
            if outer is not None:
                both = both.correlate(outer)
            return self._attach(both, bool(row_facts))
        data = select(whole).select_from(source)
        if outer is not None:
            data = data.correlate(outer)
        if not row_facts:
            return Built(data.scalar_subquery(), [])
        facts_text = self.dialect.text_agg(self._joined(row_facts), key, shown)
        fact = select(facts_text).select_from(source)
        if outer is not None:
            fact = fact.correlate(outer)
        return Built(data.scalar_subquery(), [fact.scalar_subquery()])

    def _page_info(
        self,
        conn_type: GraphQLObjectType,
        nodes: list[FieldNode],
        paging: PageArgs,
        page: Any,
        resource: Resource,
    ) -> Expr:
        info_type = get_named_type(conn_type.fields["pageInfo"].type)
        assert isinstance(info_type, GraphQLObjectType)
        shown = page.c.gh_n <= paging.first
        pairs: list[tuple[str, Expr]] = []
        for key_name, field_nodes in self.walk.subfields(info_type, nodes).items():
            name = field_nodes[0].name.value
            if name == "__typename":
                pairs.append((key_name, literal(info_type.name, String)))
            elif name == "hasNextPage":
                pairs.append((key_name, self.dialect.boolean(func.count() > paging.first)))
            elif name == "hasPreviousPage":
                previous = literal(paging.after is not None)
                pairs.append((key_name, self.dialect.boolean(previous)))
            elif name in ("startCursor", "endCursor"):
                pick = func.min if name == "startCursor" else func.max
                column = page.c[resource.key.name]
                pairs.append((key_name, self.cursor(resource, pick(column).filter(shown))))
            else:
                raise Unsupported(f"PageInfo.{name}")
        return self.dialect.obj(pairs)

    def _edges(
        self, conn_type: GraphQLObjectType, nodes: list[FieldNode], spec: TypeSpec, page: Any
    ) -> tuple[Expr, list[Expr]]:
        edge_type = get_named_type(conn_type.fields["edges"].type)
        assert isinstance(edge_type, GraphQLObjectType)
        node_type = get_named_type(edge_type.fields["node"].type)
        assert isinstance(node_type, GraphQLObjectType)
        pairs: list[tuple[str, Expr]] = []
        facts: list[Expr] = []
        for key_name, field_nodes in self.walk.subfields(edge_type, nodes).items():
            name = field_nodes[0].name.value
            if name == "__typename":
                pairs.append((key_name, literal(edge_type.name, String)))
            elif name == "cursor":
                pairs.append((key_name, self.cursor(spec.resource, page.c[spec.resource.key.name])))
            elif name == "node":
                built = self.object(node_type, field_nodes, page)
                pairs.append((key_name, built.data))
                facts.extend(built.facts)
            else:
                raise Unsupported(f"{edge_type.name}.{name}")
        return self.dialect.obj(pairs), facts

    # -- root fields --------------------------------------------------------------------------

    def root(self, query: GraphQLObjectType, nodes: list[FieldNode]) -> Select[Any]:
        """The statement answering one root field: columns ``data`` (JSON text or NULL) and
        ``facts`` (tokens, or NULL)."""
        name = nodes[0].name.value
        if name in ROOT_LISTS:
            with self._scope() as laterals:
                built = self.connection(query, nodes, ROOT_LISTS[name], [], None)
            data = self.dialect.result(built.data)
            facts = built.facts[0] if built.facts else null()
            answer = select(data.label("data"), facts.label("facts"))
            return answer.select_from(laterals[0]) if laterals else answer
        if name in ("node", "person"):
            # ``from_global_id`` refuses a malformed id (BadUserInput): the field-by-field
            # path then answers with that error.
            expected = "Person" if name == "person" else None
            type_name, key = from_global_id(self.walk.arguments(query, nodes[0])["id"], expected)
            if type_name not in TYPES:
                raise Unsupported(f"node of type {type_name}")
            return self._lookup(query, nodes, type_name, key)
        if name in ROOT_LOOKUPS:
            type_name, argument = ROOT_LOOKUPS[name]
            key = self.walk.arguments(query, nodes[0])[argument]
            return self._lookup(query, nodes, type_name, key)
        raise Unsupported(f"Query.{name}")

    def _lookup(
        self, query: GraphQLObjectType, nodes: list[FieldNode], type_name: str, key: Any
    ) -> Select[Any]:
        """A root look-up by key: the object, or no row (null) when the plan hides it."""
        spec = TYPES[type_name]
        row = spec.resource.table.alias("gh_root")
        code = key if spec.name == "Grid" else None
        gtype = self.walk.schema.get_type(type_name)
        assert isinstance(gtype, GraphQLObjectType)
        with self._scope() as laterals:
            built = self.object(gtype, nodes, row, code)
        facts = self._joined(built.facts)
        data = self.dialect.result(built.data)
        answer = select(data.label("data"), facts.label("facts"))
        return answer.select_from(self._source(row, laterals)).where(
            row.c[spec.resource.key.name] == key,
            *scoping.row_scope(
                self.plan, "compiled.lookup", spec.resource.name, self._area(spec.resource, row)
            ),
        )
