"""Which department is authoritative for a shared field ("one data, one source").

A correction of a field goes to that department, whose data officer accepts or rejects it.
Until the catalogue names an authoritative department per field, the authority is the owning
department of the catalogue resource that holds the field for the record's type: of several
such resources, the one registered first (its code sorts first), so the answer is stable.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from store.models import CatalogField, CatalogResource

#: The GraphQL type of each shared table's rows.
TYPE_OF_TARGET = {
    "people": "Person",
    "houses": "House",
    "rooms": "Room",
    "entities": "Entity",
    "events": "Event",
}


class NoAuthority(LookupError):
    """No catalogue resource holds the field: nobody can accept a change to it."""


async def authoritative_department(conn: AsyncConnection, target: str, field: str) -> str:
    """The department code authoritative for ``field`` (a GraphQL field name) of ``target``
    rows (a shared table); :class:`NoAuthority` if no resource of the catalogue holds it."""
    type_name = TYPE_OF_TARGET.get(target)
    resources = CatalogResource.__table__
    fields = CatalogField.__table__
    found = await conn.scalar(
        select(resources.c.department_code)
        .join(fields, fields.c.resource_code == resources.c.code)
        .where(resources.c.graphql_type == type_name, fields.c.name == field)
        .order_by(resources.c.code)
        .limit(1)
    )
    if found is None:
        raise NoAuthority(f"no catalogue resource holds {type_name}.{field}")
    return str(found)
