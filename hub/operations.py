"""Persisted operations: register, list, remove and look up an app's documents by hash.

A department app that wants its queries locked down registers them once (``gridhub operations
add``) and then sends each by its SHA-256 — ``{"extensions": {"persistedQuery": {"version": 1,
"sha256Hash": "…"}}}`` as Apollo's persisted queries do, or ``{"documentId": "sha256:…"}`` as the
GraphQL-over-HTTP persisted documents do. An app the operator lists in
``GRIDHUB_PERSISTED_ONLY`` runs nothing else: its ad-hoc queries are refused with
``PERSISTED_QUERY_NOT_ALLOWED`` unless their text is one of its registered documents.

Documents are registered by the operator, never by a request (no automatic registration): the
list is an allow-list, and a client that could add to it would not be locked down.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from graphql import OperationDefinitionNode, parse
from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from store.models import PersistedOperation, Principal

PERSISTED_QUERY_NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"
PERSISTED_QUERY_NOT_ALLOWED = "PERSISTED_QUERY_NOT_ALLOWED"
_HASH = re.compile(r"[0-9a-f]{64}")


def sha256_of(document: str) -> str:
    """The hash a client sends for ``document``: SHA-256 of its exact UTF-8 text, in hex."""
    return hashlib.sha256(document.encode("utf-8")).hexdigest()


def normalise_hash(value: str) -> str | None:
    """A hash as sent (``abc…`` or ``sha256:abc…``, any case) in lower-case hex; None if it is
    not one."""
    text = value.strip().lower().removeprefix("sha256:")
    return text if _HASH.fullmatch(text) else None


class RegistrationError(ValueError):
    """The document or the app can not be registered (the message says why)."""


@dataclass(frozen=True)
class Registered:
    subject: str
    sha256: str
    name: str | None
    document: str
    created_at: datetime
    created_by: str


def operation_names(document: str) -> str | None:
    """The names of the operations a document defines, comma-separated (None: anonymous)."""
    names = [
        d.name.value
        for d in parse(document).definitions
        if isinstance(d, OperationDefinitionNode) and d.name is not None
    ]
    return ", ".join(names)[:128] or None


async def lookup(connection: AsyncConnection, subject: str, sha256: str) -> str | None:
    """The document ``subject`` registered under ``sha256``; None if it has none."""
    return await connection.scalar(
        select(PersistedOperation.document).where(
            PersistedOperation.subject == subject, PersistedOperation.sha256 == sha256
        )
    )


async def add(engine: AsyncEngine, subject: str, document: str, by: str) -> Registered:
    """Register ``document`` for the app ``subject`` (again: a no-op); the caller has checked
    that it validates."""
    sha = sha256_of(document)
    async with engine.begin() as connection:
        kind = await connection.scalar(select(Principal.kind).where(Principal.subject == subject))
        if kind is None:
            raise RegistrationError(f"No principal {subject!r}: see `gridhub principals`")
        existing = await connection.execute(
            select(PersistedOperation).where(
                PersistedOperation.subject == subject, PersistedOperation.sha256 == sha
            )
        )
        row = existing.first()
        if row is None:
            values = {
                "subject": subject,
                "sha256": sha,
                "name": operation_names(document),
                "document": document,
                "created_at": datetime.now(UTC),
                "created_by": by,
            }
            await connection.execute(insert(PersistedOperation).values(**values))
            return Registered(**values)  # type: ignore[arg-type]
        return _registered(row)


def _registered(row: object) -> Registered:
    mapping = row._mapping  # type: ignore[attr-defined]
    return Registered(**{key: mapping[key] for key in Registered.__dataclass_fields__})


async def listed(engine: AsyncEngine, subject: str | None = None) -> Sequence[Registered]:
    statement = select(PersistedOperation).order_by(
        PersistedOperation.subject, PersistedOperation.created_at, PersistedOperation.sha256
    )
    if subject is not None:
        statement = statement.where(PersistedOperation.subject == subject)
    async with engine.connect() as connection:
        return [_registered(row) for row in await connection.execute(statement)]


async def remove(engine: AsyncEngine, subject: str, sha256: str) -> bool:
    """Remove one registered document; False if there was none."""
    async with engine.begin() as connection:
        result = await connection.execute(
            delete(PersistedOperation).where(
                PersistedOperation.subject == subject, PersistedOperation.sha256 == sha256
            )
        )
    return bool(result.rowcount)
