"""Relay conventions: the ``Node`` interface, cursor connections and ``PageInfo``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

import strawberry

from resolvers.loaders import Page

NodeT = TypeVar("NodeT")


@strawberry.interface(description="An object with a global id, fetchable with `node(id)`.")
class Node:
    id: strawberry.ID


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

    @strawberry.field(description="Pass it as `after` to get the items that follow this one.")
    def cursor(self) -> str:
        """Encoded only when asked for: most pages never show their cursors."""
        return self._page.cursor(self._row)


@strawberry.type
class Connection(Generic[NodeT]):
    edges: list[Edge[NodeT]]
    page_info: PageInfo
    _count: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field(description="How many items the list holds in all, over every page.")
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
