"""The catalogue in the database: read and filter resources, save a new version of one.

Nothing here commits: the caller owns the transaction (a sync writes all its files' changes in
one, a mutation its one change), so a failure half-way leaves nothing behind. The filters run
in SQL; tier filters are turned into the (type, field) pairs that hold data of that tier, read
from the fields' declaration, since tiers are not stored.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, exists, false, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from catalog.columns import STORED
from catalog.resources import (
    Definition,
    FieldEntry,
    Origin,
    Sharing,
    UpdateFrequency,
    field_tiers,
)
from policies.fields import FIELDS
from store.errors import BadUserInput
from store.models import CatalogField, CatalogResource, CatalogVersion, Department

RESOURCES = CatalogResource.__table__
FIELDS_TABLE = CatalogField.__table__
VERSIONS = CatalogVersion.__table__
DEPARTMENTS = Department.__table__


@dataclass(frozen=True, slots=True)
class StoredResource:
    """A resource as it stands: its definition and where and when it last changed."""

    definition: Definition
    department_name: str
    origin: Origin
    source: str | None
    version: int
    updated_at: datetime
    updated_by: str


@dataclass(frozen=True, slots=True)
class StoredVersion:
    """One change of a resource: the definition it left, by whom, when, from where."""

    version: int
    at: datetime
    changed_by: str
    origin: Origin
    source: str | None
    definition: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CatalogQuery:
    """Which resources to list; every filter given must hold."""

    department: str | None = None
    graphql_type: str | None = None
    sharing: Sharing | None = None
    #: Holds a field with data of this tier.
    tier: int | None = None
    #: Holds no data above this tier.
    max_tier: int | None = None
    #: Found (case-insensitively) in the code, name, summary, or a field's name or description.
    text: str | None = None


async def department_codes(connection: AsyncConnection) -> set[str]:
    return set(await connection.scalars(select(DEPARTMENTS.c.code)))


def _fields_where(predicate: Any) -> ColumnElement[bool]:
    """Whether the resource has a field matching ``predicate(type_name, field_name)``."""
    by_type = {
        type_name: [name for name in STORED[type_name].items if predicate(type_name, name)]
        for type_name in FIELDS
        if type_name in STORED
    }
    pairs = [
        and_(RESOURCES.c.graphql_type == type_name, FIELDS_TABLE.c.name.in_(names))
        for type_name, names in by_type.items()
        if names
    ]
    return exists(
        select(FIELDS_TABLE.c.name).where(
            FIELDS_TABLE.c.resource_code == RESOURCES.c.code, or_(false(), *pairs)
        )
    )


def _conditions(query: CatalogQuery) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if query.department is not None:
        where.append(RESOURCES.c.department_code == query.department)
    if query.graphql_type is not None:
        where.append(RESOURCES.c.graphql_type == query.graphql_type)
    if query.sharing is not None:
        where.append(RESOURCES.c.sharing == query.sharing.value)
    if query.tier is not None:
        tier = query.tier
        where.append(_fields_where(lambda t, f: tier in field_tiers(t, f)))
    if query.max_tier is not None:
        ceiling = query.max_tier
        where.append(~_fields_where(lambda t, f: max(field_tiers(t, f)) > ceiling))
    if query.text:
        text = query.text.strip()
        in_fields = exists(
            select(FIELDS_TABLE.c.name).where(
                FIELDS_TABLE.c.resource_code == RESOURCES.c.code,
                or_(
                    FIELDS_TABLE.c.name.icontains(text, autoescape=True),
                    FIELDS_TABLE.c.description.icontains(text, autoescape=True),
                ),
            )
        )
        where.append(
            or_(
                RESOURCES.c.code.icontains(text, autoescape=True),
                RESOURCES.c.name.icontains(text, autoescape=True),
                RESOURCES.c.summary.icontains(text, autoescape=True),
                in_fields,
            )
        )
    return where


async def _load(
    connection: AsyncConnection, where: Sequence[ColumnElement[bool]]
) -> list[StoredResource]:
    """Resources matching ``where`` in code order, with their fields: two statements."""
    rows = (
        await connection.execute(
            select(RESOURCES, DEPARTMENTS.c.name.label("department_name"))
            .join(DEPARTMENTS, DEPARTMENTS.c.code == RESOURCES.c.department_code)
            .where(*where)
            .order_by(RESOURCES.c.code)
        )
    ).all()
    if not rows:
        return []
    fields: dict[str, list[FieldEntry]] = defaultdict(list)
    matching = select(RESOURCES.c.code).where(*where)
    for row in await connection.execute(
        select(FIELDS_TABLE)
        .where(FIELDS_TABLE.c.resource_code.in_(matching.scalar_subquery()))
        .order_by(FIELDS_TABLE.c.resource_code, FIELDS_TABLE.c.position)
    ):
        fields[row.resource_code].append(
            FieldEntry(row.name, row.description, row.authoritative_department)
        )
    return [
        StoredResource(
            definition=Definition(
                code=row.code,
                name=row.name,
                summary=row.summary,
                department=row.department_code,
                graphql_type=row.graphql_type,
                fields=tuple(fields[row.code]),
                sharing=Sharing(row.sharing),
                sharing_condition=row.sharing_condition,
                update_frequency=UpdateFrequency(row.update_frequency),
            ),
            department_name=row.department_name,
            origin=Origin(row.origin),
            source=row.source,
            version=row.version,
            updated_at=row.updated_at,
            updated_by=row.updated_by,
        )
        for row in rows
    ]


async def search(connection: AsyncConnection, query: CatalogQuery) -> list[StoredResource]:
    """The resources matching ``query``, in code order."""
    return await _load(connection, _conditions(query))


async def get(connection: AsyncConnection, code: str) -> StoredResource | None:
    found = await _load(connection, [RESOURCES.c.code == code])
    return found[0] if found else None


async def versions(
    connection: AsyncConnection, codes: Sequence[str]
) -> dict[str, list[StoredVersion]]:
    """Every version of each resource in ``codes``, newest first, in one statement."""
    found: dict[str, list[StoredVersion]] = {code: [] for code in codes}
    rows = await connection.execute(
        select(VERSIONS)
        .where(VERSIONS.c.resource_code.in_(list(codes)))
        .order_by(VERSIONS.c.resource_code, VERSIONS.c.version.desc())
    )
    for row in rows:
        found[row.resource_code].append(
            StoredVersion(
                row.version, row.at, row.changed_by, Origin(row.origin), row.source, row.definition
            )
        )
    return found


async def save(
    connection: AsyncConnection,
    definition: Definition,
    *,
    origin: Origin,
    source: str | None,
    by: str,
    at: datetime,
    replacing: int | None,
) -> int:
    """Write ``definition`` as the resource's next version and return its number.

    ``replacing`` is the version the caller read (None: a new resource). If another writer
    saved a version since, nothing is written and :class:`BadUserInput` says so; the check is
    part of the UPDATE, so it holds on both back ends without locks.
    """
    version = (replacing or 0) + 1
    values = {
        "name": definition.name,
        "summary": definition.summary,
        "department_code": definition.department,
        "graphql_type": definition.graphql_type,
        "sharing": definition.sharing.value,
        "sharing_condition": definition.sharing_condition,
        "update_frequency": definition.update_frequency.value,
        "origin": origin.value,
        "source": source,
        "version": version,
        "updated_at": at,
        "updated_by": by,
    }
    if replacing is None:
        await connection.execute(insert(RESOURCES).values(code=definition.code, **values))
    else:
        result = await connection.execute(
            update(RESOURCES)
            .where(RESOURCES.c.code == definition.code, RESOURCES.c.version == replacing)
            .values(**values)
        )
        if result.rowcount != 1:
            raise BadUserInput(
                f"{definition.code} was changed by someone else meanwhile; read it again",
                resource=definition.code,
            )
        await connection.execute(
            delete(FIELDS_TABLE).where(FIELDS_TABLE.c.resource_code == definition.code)
        )
    await connection.execute(
        insert(FIELDS_TABLE),
        [
            {
                "resource_code": definition.code,
                "name": entry.name,
                "position": position,
                "description": entry.description,
                "authoritative_department": entry.authority,
            }
            for position, entry in enumerate(definition.fields)
        ],
    )
    await connection.execute(
        insert(VERSIONS).values(
            resource_code=definition.code,
            version=version,
            at=at,
            changed_by=by,
            origin=origin.value,
            source=source,
            definition=definition.snapshot(),
        )
    )
    return version
