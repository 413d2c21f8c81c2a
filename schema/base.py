"""What every schema module shares: the resolver ``Info``, the field rules an object keeps, a
typed field decorator, and loading a linked object.

Each object type of the shared data is built from a database row by ``from_row`` with the field
rules the request's access plan gives for that row's area (:mod:`schema.guard`): plain fields are
attributes (refused ones hold a sentinel), and every link, list or computed field checks its
rule and then goes through the request's loaders, which put the plan's row predicate in SQL.

Every data field is nullable in the schema, though the data has values: a field the caller's
access plan denies answers null with a ``FORBIDDEN`` error at its path, and a non-null field
would instead wipe out the whole object around it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import strawberry
from strawberry.scalars import JSON
from strawberry.types.field import StrawberryField

from policies.field_rules import FieldRules
from resolvers.context import RequestContext

if TYPE_CHECKING:
    from schema.entities import Entity
    from schema.events import Event
    from schema.grids import Grid
    from schema.houses import House, Room
    from schema.people import Person

Info = strawberry.Info[RequestContext, None]
T = TypeVar("T")
Rules = strawberry.Private[FieldRules]

# The object types by lazy reference: they link to one another across their modules, so a
# module names another's type this way rather than by importing it while both still load.
GridRef = Annotated["Grid", strawberry.lazy("schema.grids")]
HouseRef = Annotated["House", strawberry.lazy("schema.houses")]
RoomRef = Annotated["Room", strawberry.lazy("schema.houses")]
PersonRef = Annotated["Person", strawberry.lazy("schema.people")]
EntityRef = Annotated["Entity", strawberry.lazy("schema.entities")]
EventRef = Annotated["Event", strawberry.lazy("schema.events")]


def described(description: str) -> Callable[[Callable[..., Any]], StrawberryField]:
    """``@strawberry.field(description=...)`` with a type mypy can see (strawberry types that
    form as ``Any``, which would leave the resolver it decorates unchecked)."""

    def decorate(resolver: Callable[..., Any]) -> StrawberryField:
        return strawberry.field(resolver, description=description)

    return decorate


def point(lon: float, lat: float) -> JSON:
    """A GeoJSON Point, WGS 84 lon/lat."""
    return JSON({"type": "Point", "coordinates": [lon, lat]})


async def one(
    info: Info, factory: Callable[[Any, RequestContext], T], row: Awaitable[Any]
) -> T | None:
    """A linked object: the loader's row (None when there is none, or the plan hides it) made
    into ``factory``'s type."""
    found = await row
    return None if found is None else factory(found, info.context)
