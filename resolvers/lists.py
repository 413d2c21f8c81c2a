"""Root lists and nested connections as (page, lazy count) pairs for the schema to wrap.

The count is a thunk so that ``totalCount`` costs a statement only when a client asks for it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime

from sqlalchemy import ColumnElement, func, select

from resolvers import filters
from resolvers.context import RequestContext
from resolvers.loaders import ChildKey, CountKey, Page, page_of
from resolvers.pagination import PageArgs, page_args
from resolvers.resources import RESOURCES

CountThunk = Callable[[], Awaitable[int]]


def _args(context: RequestContext, resource: str, first: int | None, after: str | None) -> PageArgs:
    settings = context.settings
    return page_args(
        first,
        after,
        RESOURCES[resource],
        default=settings.default_page_size,
        cap=settings.max_page_size,
    )


async def root_page(
    context: RequestContext,
    resource: str,
    filter_input: object | None,
    first: int | None,
    after: str | None,
    where: Iterable[ColumnElement[bool]] = (),
    changed_since: datetime | None = None,
) -> tuple[Page, CountThunk]:
    """A page of a root list (``houses(filter, changedSince, first, after)``) and its lazy
    total count; ``changed_since`` is checked like a filter on ``updatedAt``."""
    res = RESOURCES[resource]
    args = _args(context, resource, first, after)
    frozen = filters.with_changed_since(filters.freeze(filter_input), changed_since)
    filter_key = filters.checked(context.plan, res, frozen)
    conditions = [
        *where,
        *context.row_scope(res, "lists.root_page"),
        *filters.clauses(res, filter_key, context.now, context.plan),
    ]
    statement = select(res.table).where(*conditions)
    if args.after is not None:
        statement = statement.where(res.key > args.after)
    rows = await context.rows(statement.order_by(res.key).limit(args.first + 1))

    async def count() -> int:
        total = await context.rows(select(func.count()).select_from(res.table).where(*conditions))
        return int(total[0][0])

    return page_of(res, rows, args), count


async def child_page(
    context: RequestContext,
    resource: str,
    relation: str,
    parent: str | int,
    filter_input: object | None,
    first: int | None,
    after: str | None,
) -> tuple[Page, CountThunk]:
    """A page of ``resource`` rows under one parent, batched with its siblings' pages."""
    args = _args(context, resource, first, after)
    filter_key = filters.checked(context.plan, RESOURCES[resource], filters.freeze(filter_input))
    page = await context.loaders.page(resource, relation).load(ChildKey(parent, args, filter_key))

    return page, lambda: _count(context, resource, relation, parent, filter_key)


def child_count(
    context: RequestContext,
    resource: str,
    relation: str,
    parent: str | int,
    filter_input: object | None,
) -> Awaitable[int]:
    """How many ``resource`` rows lie under one parent, batched with its siblings' counts."""
    filter_key = filters.checked(context.plan, RESOURCES[resource], filters.freeze(filter_input))
    return _count(context, resource, relation, parent, filter_key)


def _count(
    context: RequestContext,
    resource: str,
    relation: str,
    parent: str | int,
    filter_key: filters.Filter,
) -> Awaitable[int]:
    loader = context.loaders.count(resource, relation)
    return loader.load(CountKey(parent, filter_key))
