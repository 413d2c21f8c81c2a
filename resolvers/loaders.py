"""Per-request DataLoaders: every nested field costs one SQL statement per level, not per row.

Three shapes of loader cover the API:

- by key (``house_by_code.load("4403…")``): ``WHERE key IN (…)``;
- pages of children (a grid's houses, a house's residents): one statement for all parents,
  numbered per parent with ``row_number() OVER (PARTITION BY parent ORDER BY key)`` and cut at
  ``first + 1`` rows each (the extra row answers ``hasNextPage``);
- counts of children: one ``GROUP BY parent`` statement for all parents.

A parent is an exact foreign key (``house_code``) or an area code at any level, matched as a
range on ``grid_code`` (see :mod:`policies.areas`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from aiodataloader import DataLoader
from sqlalchemy import ColumnElement, Row, and_, func, or_, select

from policies import row_scope as scoping
from policies.areas import under_area
from resolvers import filters
from resolvers.filters import Filter
from resolvers.pagination import PageArgs, encode_cursor
from resolvers.resources import (
    ENTITIES,
    EVENTS,
    GRIDS,
    HOUSES,
    PEOPLE,
    RESOURCES,
    ROOMS,
    Resource,
)
from store.models import CODE_LENGTH, AreaLevel

if TYPE_CHECKING:
    from resolvers.context import RequestContext

AREA = "area"  # the relation name for "rows under an area code"

_Key = TypeVar("_Key", "ChildKey", "CountKey")
_Call = TypeVar("_Call", bound=Hashable)


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a connection: its rows (already cut to ``first``) and whether more follow."""

    resource: Resource
    rows: Sequence[Row[Any]]
    has_next: bool
    has_previous: bool

    def cursor(self, row: Row[Any]) -> str:
        return encode_cursor(self.resource, row._mapping[self.resource.key.name])


def page_of(resource: Resource, rows: Sequence[Row[Any]], args: PageArgs) -> Page:
    """A page from up to ``first + 1`` fetched rows: the extra row only says more follow."""
    return Page(resource, rows[: args.first], len(rows) > args.first, args.after is not None)


@dataclass(frozen=True, slots=True)
class ChildKey:
    parent: str | int
    args: PageArgs
    filter: Filter


@dataclass(frozen=True, slots=True)
class CountKey:
    parent: str | int
    filter: Filter


class Loaders:
    """All loaders of one request; created with the context, never shared between requests."""

    def __init__(self, context: RequestContext) -> None:
        self._context = context
        self.grid = self._by_key(GRIDS)
        self.house = self._by_key(HOUSES)
        self.room = self._by_key(ROOMS)
        self.person = self._by_key(PEOPLE)
        self.entity = self._by_key(ENTITIES)
        self.event = self._by_key(EVENTS)
        self.department = self._by_reference("departments")
        self.matter = self._by_reference("matters")
        self.children = DataLoader(self._load_children)
        self.rooms_of_house = DataLoader(self._load_rooms)
        self.event_history = DataLoader(self._load_event_history)
        self.row_history = DataLoader(self._load_row_history)
        self._pages: dict[tuple[str, str], DataLoader[ChildKey, Page]] = {}
        self._counts: dict[tuple[str, str], DataLoader[CountKey, int]] = {}

    # -- by key ---------------------------------------------------------------------------

    def _by_key(self, resource: Resource) -> DataLoader[Any, Row[Any] | None]:
        async def load(keys: list[Any]) -> list[Row[Any] | None]:
            statement = select(resource.table).where(
                resource.key.in_(keys), *self._context.row_scope(resource, "loaders.by_key")
            )
            rows = await self._context.rows(statement)
            found = {row._mapping[resource.key]: row for row in rows}
            return [found.get(key) for key in keys]

        return DataLoader(load)

    def _by_reference(self, table_name: str) -> DataLoader[str, Row[Any] | None]:
        """Rows of a reference table (departments, matters): they belong to no place, so the
        plan shows all of them or none, as the root lists do."""
        from store.models import Base

        table = Base.metadata.tables[table_name]
        context = self._context

        async def load(codes: list[str]) -> list[Row[Any] | None]:
            scope = scoping.row_scope(context.plan, "loaders.by_reference", table_name, None)
            rows = await context.rows(select(table).where(table.c.code.in_(codes), *scope))
            found = {row.code: row for row in rows}
            return [found.get(code) for code in codes]

        return DataLoader(load)

    async def _load_event_history(self, event_ids: list[int]) -> list[list[Row[Any]]]:
        """The steps of each event, oldest first, in one statement for all events.

        Asked only by ``Event.history`` of events the caller was shown (their rows were read
        through the plan's predicate), so the steps need no predicate of their own: they belong
        to the event, as its fields do."""
        from store.models import EventAction

        table = EventAction.__table__
        rows = await self._context.rows(
            select(table).where(table.c.event_id.in_(event_ids)).order_by(table.c.id)
        )
        grouped: dict[int, list[Row[Any]]] = defaultdict(list)
        for row in rows:
            grouped[row.event_id].append(row)
        return [grouped.get(event_id, []) for event_id in event_ids]

    async def _load_row_history(self, keys: list[tuple[str, str]]) -> list[list[Row[Any]]]:
        """The field changes of each record (``(target, row_key)``), newest first, in one
        statement for all records.

        Asked only by the ``history`` (an event's ``changes``) of records the caller was shown
        (read through the plan's predicate), so the changes need no predicate of their own;
        each change is shown as the plan decides its field (``schema.history``)."""
        from store.models import RowChange

        table = RowChange.__table__
        by_target: dict[str, list[str]] = defaultdict(list)
        for target, row_key in keys:
            by_target[target].append(row_key)
        rows = await self._context.rows(
            select(table)
            .where(
                or_(
                    *(
                        and_(table.c.target == target, table.c.row_key.in_(row_keys))
                        for target, row_keys in sorted(by_target.items())
                    )
                )
            )
            .order_by(table.c.id.desc())
        )
        grouped: dict[tuple[str, str], list[Row[Any]]] = defaultdict(list)
        for row in rows:
            grouped[(row.target, row.row_key)].append(row)
        return [grouped.get(key, []) for key in keys]

    async def _load_children(self, codes: list[str]) -> list[list[Row[Any]]]:
        return await self._grouped(GRIDS, "parent_code", codes)

    async def _load_rooms(self, house_codes: list[str]) -> list[list[Row[Any]]]:
        return await self._grouped(ROOMS, "house_code", house_codes)

    async def _grouped(
        self, resource: Resource, column: str, parents: list[str]
    ) -> list[list[Row[Any]]]:
        """Every row of ``resource`` under each parent (short lists: no paging), in key order."""
        parent_of = resource.table.c[column]
        rows = await self._context.rows(
            select(resource.table)
            .where(parent_of.in_(parents), *self._context.row_scope(resource, "loaders.grouped"))
            .order_by(resource.key)
        )
        grouped: dict[str, list[Row[Any]]] = defaultdict(list)
        for row in rows:
            grouped[row._mapping[parent_of]].append(row)
        return [grouped.get(parent, []) for parent in parents]

    # -- pages and counts of children ------------------------------------------------------

    def page(self, resource: str, relation: str) -> DataLoader[ChildKey, Page]:
        """The loader of ``resource`` rows under a parent: ``relation`` is a column or AREA."""
        loader = self._pages.get((resource, relation))
        if loader is None:
            res = RESOURCES[resource]

            async def load(keys: list[ChildKey]) -> list[Page]:
                return await self._load_pages(res, relation, keys)

            loader = self._pages[(resource, relation)] = DataLoader(load)
        return loader

    def count(self, resource: str, relation: str) -> DataLoader[CountKey, int]:
        loader = self._counts.get((resource, relation))
        if loader is None:
            res = RESOURCES[resource]

            async def load(keys: list[CountKey]) -> list[int]:
                return await self._load_counts(res, relation, keys)

            loader = self._counts[(resource, relation)] = DataLoader(load)
        return loader

    def _parent_scope(
        self, resource: Resource, relation: str, parents: list[Any]
    ) -> tuple[ColumnElement[bool], ColumnElement[Any]]:
        """The WHERE clause selecting the children of ``parents`` and the expression naming
        each row's parent (all parents of one call are of one kind and, for areas, one level)."""
        if relation != AREA:
            column = resource.table.c[relation]
            return column.in_(parents), column
        column = resource.area
        width = len(parents[0])
        if width == CODE_LENGTH[AreaLevel.GRID]:
            return column.in_(parents), column
        return or_(*(under_area(column, code) for code in parents)), func.substr(column, 1, width)

    @staticmethod
    def _group(
        keys: Sequence[_Key], relation: str, call: Callable[[_Key], _Call]
    ) -> dict[tuple[_Call, int], list[str | int]]:
        """Split a batch into calls that one statement can answer: the keys alike in ``call``
        and, under an area, in the parents' level (one statement takes one level)."""
        groups: dict[tuple[_Call, int], list[str | int]] = defaultdict(list)
        for key in keys:
            width = len(str(key.parent)) if relation == AREA else 0
            groups[(call(key), width)].append(key.parent)
        return groups

    async def _load_pages(
        self, resource: Resource, relation: str, keys: list[ChildKey]
    ) -> list[Page]:
        now = self._context.now
        pages: dict[ChildKey, Page] = {}
        calls = self._group(keys, relation, lambda key: (key.args, key.filter))
        for ((args, filter_key), _), parents in calls.items():
            scope, parent_of = self._parent_scope(resource, relation, parents)
            where = [
                scope,
                *self._context.row_scope(resource, "loaders.pages"),
                *filters.clauses(resource, filter_key, now, self._context.plan),
            ]
            if args.after is not None:
                where.append(resource.key > args.after)
            number = func.row_number().over(partition_by=parent_of, order_by=resource.key)
            numbered = (
                select(resource.table, parent_of.label("gh_parent"), number.label("gh_n"))
                .where(*where)
                .subquery()
            )
            statement = (
                select(numbered)
                .where(numbered.c.gh_n <= args.first + 1)
                .order_by(numbered.c.gh_parent, numbered.c.gh_n)
            )
            grouped: dict[Any, list[Row[Any]]] = defaultdict(list)
            for row in await self._context.rows(statement):
                grouped[row.gh_parent].append(row)
            for parent in parents:
                pages[ChildKey(parent, args, filter_key)] = page_of(
                    resource, grouped.get(parent, []), args
                )
        return [pages[key] for key in keys]

    async def _load_counts(
        self, resource: Resource, relation: str, keys: list[CountKey]
    ) -> list[int]:
        now = self._context.now
        counts: dict[CountKey, int] = {}
        for (filter_key, _), parents in self._group(keys, relation, lambda key: key.filter).items():
            scope, parent_of = self._parent_scope(resource, relation, parents)
            statement = (
                select(parent_of.label("gh_parent"), func.count().label("gh_count"))
                .where(
                    scope,
                    *self._context.row_scope(resource, "loaders.counts"),
                    *filters.clauses(resource, filter_key, now, self._context.plan),
                )
                .group_by(parent_of)
            )
            found = {row.gh_parent: row.gh_count for row in await self._context.rows(statement)}
            for parent in parents:
                counts[CountKey(parent, filter_key)] = found.get(parent, 0)
        return [counts[key] for key in keys]
