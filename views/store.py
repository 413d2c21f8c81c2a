"""Reading and writing views and their versions. The caller owns the transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from store.models import Department, View, ViewVersion
from views.definition import ViewDefinition, layer_json, parse_layer, view_json

VIEWS = View.__table__
VERSIONS = ViewVersion.__table__


@dataclass(frozen=True, slots=True)
class StoredView:
    definition: ViewDefinition
    version: int
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str


@dataclass(frozen=True, slots=True)
class StoredVersion:
    """One change of a view: what it became (for ``deleted``: what it was)."""

    code: str
    version: int
    change: str
    at: datetime
    changed_by: str
    definition: dict[str, Any]


def _definition(row: Any) -> ViewDefinition:
    """A stored row as a definition (stored layers were checked when they were saved)."""
    problems: list[str] = []
    layers = tuple(parse_layer(raw, i, problems) for i, raw in enumerate(row.layers))
    if problems:  # a layer the code no longer understands: a bug or a hand edit, not input
        raise ValueError(f"view {row.code} holds layers that no longer parse: {problems}")
    return ViewDefinition(
        row.code, row.name, row.department_code, row.description, layers, row.purpose
    )


def _stored(row: Any) -> StoredView:
    return StoredView(
        _definition(row),
        row.version,
        row.created_at,
        row.created_by,
        row.updated_at,
        row.updated_by,
    )


async def get(connection: AsyncConnection, code: str) -> StoredView | None:
    row = (await connection.execute(select(VIEWS).where(VIEWS.c.code == code))).first()
    return None if row is None else _stored(row)


async def listed(connection: AsyncConnection, department: str | None) -> list[StoredView]:
    """The views of ``department`` (None: of every department), in code order."""
    statement = select(VIEWS).order_by(VIEWS.c.code)
    if department is not None:
        statement = statement.where(VIEWS.c.department_code == department)
    return [_stored(row) for row in await connection.execute(statement)]


async def versions(connection: AsyncConnection, code: str) -> list[StoredVersion]:
    """Every change of the view ``code``, oldest first (also of a deleted view)."""
    rows = await connection.execute(
        select(VERSIONS).where(VERSIONS.c.view_code == code).order_by(VERSIONS.c.version)
    )
    return [
        StoredVersion(r.view_code, r.version, r.change, r.at, r.changed_by, r.definition)
        for r in rows
    ]


async def last_version(connection: AsyncConnection, code: str) -> int:
    """The newest version number ever given to ``code`` (0: never), deleted or not: a view
    defined again under a deleted view's code continues its history."""
    found = await connection.scalar(
        select(func.max(VERSIONS.c.version)).where(VERSIONS.c.view_code == code)
    )
    return int(found or 0)


async def department_codes(connection: AsyncConnection) -> list[str]:
    return list(await connection.scalars(select(Department.code)))


async def save(
    connection: AsyncConnection,
    view: ViewDefinition,
    *,
    by: str,
    at: datetime,
    replacing: StoredView | None,
) -> int:
    """Write ``view`` as a new version (a new view when ``replacing`` is None); its number."""
    version = await last_version(connection, view.code) + 1
    values = {
        "name": view.name,
        "department_code": view.department,
        "description": view.description,
        "purpose": view.purpose,
        "layers": [layer_json(layer) for layer in view.layers],
        "version": version,
        "updated_at": at,
        "updated_by": by,
    }
    if replacing is None:
        await connection.execute(
            insert(VIEWS).values(code=view.code, created_at=at, created_by=by, **values)
        )
    else:
        # Guarded on the version read: a concurrent change makes this match nothing.
        result = await connection.execute(
            update(VIEWS)
            .where(VIEWS.c.code == view.code, VIEWS.c.version == replacing.version)
            .values(**values)
        )
        if result.rowcount != 1:
            raise ConcurrentChange(view.code)
    await _version(connection, view, version, "defined" if replacing is None else "updated", by, at)
    return version


async def remove(connection: AsyncConnection, current: StoredView, *, by: str, at: datetime) -> int:
    """Delete a view, keeping its history: a ``deleted`` version holds what it was."""
    result = await connection.execute(
        delete(VIEWS).where(
            VIEWS.c.code == current.definition.code, VIEWS.c.version == current.version
        )
    )
    if result.rowcount != 1:
        raise ConcurrentChange(current.definition.code)
    version = current.version + 1
    await _version(connection, current.definition, version, "deleted", by, at)
    return version


async def _version(
    connection: AsyncConnection,
    view: ViewDefinition,
    version: int,
    change: str,
    by: str,
    at: datetime,
) -> None:
    await connection.execute(
        insert(VERSIONS).values(
            view_code=view.code,
            version=version,
            change=change,
            at=at,
            changed_by=by,
            department_code=view.department,
            definition=view_json(view),
        )
    )


class ConcurrentChange(Exception):
    """The view changed between reading and writing it."""
