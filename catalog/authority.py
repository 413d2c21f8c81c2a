"""Which department is authoritative for a shared field ("one data, one source").

The catalogue says it: a resource's field may name its ``authority`` (``catalog_fields.
authoritative_department``); where none is named, the department that owns the resource holding
the field is. A feed of any other department does not overwrite that department's values: its
disagreeing value is kept as a conflict (``feed_conflicts``), and a correction is routed there.
"""

from __future__ import annotations

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from catalog.feed_targets import TARGETS
from store.models import CatalogField, CatalogResource

RESOURCES = CatalogResource.__table__
FIELDS = CatalogField.__table__

#: The GraphQL type of each shared table.
TYPE_OF_TARGET = {
    "people": "Person",
    "houses": "House",
    "rooms": "Room",
    "entities": "Entity",
    "events": "Event",
}


class NoAuthority(LookupError):
    """No catalogue resource holds the field's type: nobody can accept a change to it."""


async def authoritative_department(connection: AsyncConnection, target: str, field: str) -> str:
    """The department authoritative for ``field`` (a GraphQL field name) of ``target`` (a
    shared table's name).

    A field whose authority a resource names explicitly has that authority (the resource
    first in code order, if several name one); otherwise the owner of the first resource
    (in code order) that lists the field; a field no resource lists belongs to the owner of
    the type's first resource. :class:`NoAuthority` when the catalogue holds no resource of
    the type at all.
    """
    type_name = TYPE_OF_TARGET.get(target)
    if type_name is None:
        raise NoAuthority(f"{target!r} is not a shared table")
    listed = (
        await connection.execute(
            select(func.coalesce(FIELDS.c.authoritative_department, RESOURCES.c.department_code))
            .select_from(FIELDS.join(RESOURCES, RESOURCES.c.code == FIELDS.c.resource_code))
            .where(RESOURCES.c.graphql_type == type_name, FIELDS.c.name == field)
            .order_by(
                case((FIELDS.c.authoritative_department.is_(None), 1), else_=0),
                RESOURCES.c.code,
            )
            .limit(1)
        )
    ).scalar()
    if listed is not None:
        return str(listed)
    owner = (
        await connection.execute(
            select(RESOURCES.c.department_code)
            .where(RESOURCES.c.graphql_type == type_name)
            .order_by(RESOURCES.c.code)
            .limit(1)
        )
    ).scalar()
    if owner is None:
        raise NoAuthority(f"the catalogue holds no resource of {type_name}")
    return str(owner)


async def authorities(connection: AsyncConnection, target: str) -> dict[str, str]:
    """The authoritative department of every field a feed can fill in ``target``."""
    found = {}
    for name in TARGETS[target].fields:
        try:
            found[name] = await authoritative_department(connection, target, name)
        except LookupError:
            continue
    return found
