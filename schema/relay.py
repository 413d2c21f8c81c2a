"""Relay conventions: the ``Node`` interface and its ids, cursor connections and ``PageInfo``, and
:func:`connection`, which declares a connection field in one line."""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from datetime import datetime
from functools import cache
from typing import Annotated, Any, Generic, Protocol, TypeVar

import strawberry
from strawberry.types.field import StrawberryField

from policies.field_rules import FieldRules
from resolvers import lists
from resolvers.filter_inputs import EntityFilter, EventFilter, HouseFilter, PersonFilter
from resolvers.ids import to_global_id
from resolvers.loaders import Page
from schema import guard
from schema.base import EntityRef, EventRef, HouseRef, Info, PersonRef, described

NodeT = TypeVar("NodeT")


@strawberry.interface(description="An object with a global id, fetchable with `node(id)`.")
class Node:
    id: strawberry.ID


class _Keyed(Protocol):
    """An object of the shared data: its key (a code or a row id) and its field rules."""

    @property
    def _key(self) -> str | int: ...

    @property
    def _rules(self) -> FieldRules: ...


def node_id(type_name: str) -> strawberry.ID:
    """The ``id`` field of a :class:`Node` type: ``type_name`` and the object's key, encoded.

    Declared as ``id: strawberry.ID = node_id("Grid")``, an attribute like the interface's, so
    the type overrides ``Node.id`` with a field of the same type."""

    def resolve(root: _Keyed) -> strawberry.ID:
        guard.allowed(root._rules, "id")
        return strawberry.ID(to_global_id(type_name, root._key))

    return strawberry.field(resolver=resolve)


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool = strawberry.field(
        description="True when the page was asked for `after` a cursor."
    )
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type
class Edge(Generic[NodeT]):
    node: NodeT
    _page: strawberry.Private[Page]
    _row: strawberry.Private[Any]

    @described("Pass it as `after` to get the items that follow this one.")
    def cursor(self) -> str:
        """Encoded only when asked for: most pages never show their cursors."""
        return self._page.cursor(self._row)


@strawberry.type
class Connection(Generic[NodeT]):
    edges: list[Edge[NodeT]]
    page_info: PageInfo
    _count: strawberry.Private[Callable[[], Awaitable[int]]]

    @described("How many items the list holds in all, over every page.")
    async def total_count(self) -> int:
        return await self._count()

    @classmethod
    def build(
        cls,
        page: Page,
        count: Callable[[], Awaitable[int]],
        node: Callable[[Any, Any], NodeT],
        context: Any,
    ) -> Connection[NodeT]:
        edges = [Edge(node=node(row, context), _page=page, _row=row) for row in page.rows]
        return cls(
            edges=edges,
            page_info=PageInfo(
                has_next_page=page.has_next,
                has_previous_page=page.has_previous,
                start_cursor=page.cursor(page.rows[0]) if edges else None,
                end_cursor=page.cursor(page.rows[-1]) if edges else None,
            ),
            _count=count,
        )


#: The node types a connection can list: their module, resource, filter input and field type.
_LISTS: dict[str, tuple[str, str, object, object]] = {
    "House": ("schema.houses", "houses", HouseFilter | None, Connection[HouseRef] | None),
    "Person": ("schema.people", "people", PersonFilter | None, Connection[PersonRef] | None),
    "Entity": ("schema.entities", "entities", EntityFilter | None, Connection[EntityRef] | None),
    "Event": ("schema.events", "events", EventFilter | None, Connection[EventRef] | None),
}

#: A root list's ``changedSince`` argument: what an app that syncs incrementally asks for.
ChangedSince = Annotated[
    datetime | None,
    strawberry.argument(
        description="Only rows changed (inserted or updated) at or after this time, with a "
        "time zone; rows removed since then: `removed(type:, since:)`. Needs `updatedAt` "
        "readable in full."
    ),
]

ConnectionResolver = Callable[..., Awaitable[Connection[Any] | None]]


@cache
def _from_row(type_name: str) -> Callable[[Any, Any], Any]:
    """The node type's ``from_row``, looked up when first needed: the node types refer to one
    another, so their modules cannot import each other's classes while they load."""
    from_row: Callable[[Any, Any], Any] = getattr(
        importlib.import_module(_LISTS[type_name][0]), type_name
    ).from_row
    return from_row


def _root_list(type_name: str, resource: str) -> ConnectionResolver:
    async def resolve(
        root: object,
        info: Info,
        filter: object | None = None,
        changed_since: datetime | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[Any] | None:
        page, count = await lists.root_page(
            info.context, resource, filter, first, after, changed_since=changed_since
        )
        return Connection.build(page, count, _from_row(type_name), info.context)

    return resolve


def _child_list(type_name: str, resource: str, relation: str) -> ConnectionResolver:
    async def resolve(
        root: _Keyed,
        info: Info,
        filter: object | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[Any] | None:
        # The field's own rule first (its name is the field's GraphQL name, as in the registry).
        if not guard.allowed(root._rules, info.field_name):
            return None
        page, count = await lists.child_page(
            info.context, resource, relation, root._key, filter, first, after
        )
        return Connection.build(page, count, _from_row(type_name), info.context)

    return resolve


def connection(type_name: str, description: str, *, under: str | None = None) -> StrawberryField:
    """A ``(filter, first, after)`` connection field listing ``type_name`` objects.

    Without ``under``, a root list of every row the plan lets the caller see. With it, the rows
    under the object the field is on: ``under`` is the relation (a column of the listed rows
    holding the object's key, or ``resolvers.loaders.AREA`` for "under this area code"), and the
    field's own rule on that object is checked first. Pages of siblings are loaded in one batch.
    """
    _, resource, filter_type, field_type = _LISTS[type_name]
    if under is None:
        resolve = _root_list(type_name, resource)
    else:
        resolve = _child_list(type_name, resource, under)
    # What strawberry reads: the arguments' input types and the field's type.
    resolve.__annotations__ = {
        "info": Info,
        "filter": filter_type,
        **({"changed_since": ChangedSince} if under is None else {}),
        "first": int | None,
        "after": str | None,
        "return": field_type,
    }
    return strawberry.field(resolve, description=description)
