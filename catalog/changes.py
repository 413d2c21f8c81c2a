"""A data officer's changes through the API: register a resource, update one.

Each is one transaction on its own connection (not the request's, which only reads and is
never committed), and everything is checked inside it before anything is written, so a refused
change writes nothing. The role is checked by the schema (:mod:`schema.duties`); here is what
only the catalogue knows: a data officer changes only their own department's resources, and a
resource kept in a catalogue file is changed in the file (else the next sync would silently
undo the change).
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from catalog import store
from catalog.resources import Definition, Origin, check
from catalog.store import StoredResource
from store.errors import BadUserInput, Forbidden

#: What an update may change; the code names the resource, and the owner does not change.
CHANGEABLE = frozenset(
    {
        "name",
        "summary",
        "graphql_type",
        "fields",
        "sharing",
        "sharing_condition",
        "update_frequency",
    }
)


@dataclass(frozen=True, slots=True)
class Officer:
    """The data officer making a change: who (for the version) and for which department."""

    subject: str
    department: str | None


@asynccontextmanager
async def transaction(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """One unit of work; two writers racing on one code lose with BAD_USER_INPUT, not a 500."""
    try:
        async with engine.begin() as connection:
            yield connection
    except IntegrityError:
        raise BadUserInput("The catalogue changed meanwhile; read it again and retry") from None


def own(officer: Officer, department: str, what: str, things: str = "resources") -> None:
    """FORBIDDEN unless ``department`` is the officer's own: a data officer changes only their
    own department's catalogue entries (and views)."""
    if officer.department is None or officer.department != department:
        raise Forbidden(
            f"{what}: a data officer changes only their own department's {things} "
            f"({officer.department or 'none'}), not {department}'s"
        )


async def register(
    engine: AsyncEngine, officer: Officer, definition: Definition, at: datetime
) -> StoredResource:
    """Add a new resource to the catalogue (version 1)."""
    async with transaction(engine) as connection:
        departments = await store.department_codes(connection)
        # An existing department that is not the officer's is refused before the details are
        # looked at; a department that does not exist is a mistake in the input.
        if officer.department is None or definition.department in departments:
            own(officer, definition.department, f"Registering {definition.code}")
        check(definition, departments)
        if await store.get(connection, definition.code) is not None:
            raise BadUserInput(
                f"{definition.code} is already in the catalogue; change it with updateResource",
                resource=definition.code,
            )
        await store.save(
            connection,
            definition,
            origin=Origin.API,
            source=None,
            by=officer.subject,
            at=at,
            replacing=None,
        )
        saved = await store.get(connection, definition.code)
    assert saved is not None
    return saved


async def update(
    engine: AsyncEngine,
    officer: Officer,
    code: str,
    changes: Mapping[str, Any],
    at: datetime,
    expected_version: int | None = None,
) -> tuple[StoredResource, bool]:
    """Apply ``changes`` (definition attribute → new value) to a resource; the resource and
    whether a new version was written (an update that changes nothing writes none)."""
    unknown = set(changes) - CHANGEABLE
    if unknown:
        raise ValueError(f"not changeable: {sorted(unknown)}")
    async with transaction(engine) as connection:
        current = await store.get(connection, code)
        if current is None:
            raise BadUserInput(f"There is no resource {code} in the catalogue", resource=code)
        own(officer, current.definition.department, f"Updating {code}")
        if current.origin is Origin.FILE:
            raise BadUserInput(
                f"{code} is kept in the catalogue file {current.source}: change it there and "
                "run gridhub catalog sync",
                resource=code,
                source=current.source,
            )
        if expected_version is not None and expected_version != current.version:
            raise BadUserInput(
                f"{code} is at version {current.version}, not {expected_version}: read it "
                "again before changing it",
                resource=code,
                version=current.version,
            )
        changed = dataclasses.replace(current.definition, **changes)
        check(changed, await store.department_codes(connection))
        if changed == current.definition:
            return current, False
        await store.save(
            connection,
            changed,
            origin=Origin.API,
            source=None,
            by=officer.subject,
            at=at,
            replacing=current.version,
        )
        saved = await store.get(connection, code)
    assert saved is not None
    return saved, True
