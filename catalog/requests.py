"""Access requests and grants in the database: their states, reading and listing them.

Nothing here commits or checks who asks: the workflow (:mod:`catalog.workflow`) owns the
transactions and the duties; the schema decides who may list what and passes it as
``visible_to``. Listing runs in SQL, newest first; a request is read with its grant (if any)
and the department that owns its resource, which is whom it waits on.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from policies.grants import grant_id_of, grant_role
from store.errors import BadUserInput
from store.models import AccessRequest, CatalogResource, Grant

REQUESTS = AccessRequest.__table__
GRANTS = Grant.__table__
RESOURCES = CatalogResource.__table__
REQUEST_PREFIX = "request:"


class RequestState(enum.StrEnum):
    """Where a request stands: submitted → owner-approved → granted | rejected."""

    SUBMITTED = "submitted"  # waits for the owning department's data officer
    OWNER_APPROVED = "owner_approved"  # waits for the chief data officer
    GRANTED = "granted"  # became a grant
    REJECTED = "rejected"  # refused by the owner's data officer or the chief data officer


class GrantState(enum.StrEnum):
    """A grant is active until it expires or is revoked; either way its rules are gone."""

    ACTIVE = "active"
    EXPIRED = "expired"
    REVOKED = "revoked"


def request_key(request_id: int) -> str:
    """A request's id in the API: ``request:12``."""
    return f"{REQUEST_PREFIX}{request_id}"


def parse_request_key(text: str) -> int:
    key = text.strip()
    digits = key.removeprefix(REQUEST_PREFIX)
    well_formed = digits.isascii() and digits.isdigit() and len(digits) <= 18
    if not (key.startswith(REQUEST_PREFIX) and well_formed):
        raise BadUserInput(f"{text!r} is not a request id (request:12)", field="id")
    return int(digits)


def parse_grant_key(text: str) -> int:
    found = grant_id_of(text.strip())
    if found is None:
        raise BadUserInput(f"{text!r} is not a grant id (grant:7)", field="id")
    return found


@dataclass(frozen=True, slots=True)
class StoredGrant:
    id: int
    request_id: int
    resource_code: str
    department: str
    policy_resource: str
    fields: tuple[str, ...]
    area: str | None
    masked: bool
    purpose_code: str
    roles: tuple[str, ...]
    granted_at: datetime
    expires_at: datetime
    state: GrantState
    ended_at: datetime | None
    ended_by: str | None
    end_reason: str | None

    @property
    def key(self) -> str:
        """Its id in the API and the audit log, and the name of its role: ``grant:7``."""
        return grant_role(self.id)

    @classmethod
    def of(cls, row: Any) -> StoredGrant:
        return cls(
            id=row.id,
            request_id=row.request_id,
            resource_code=row.resource_code,
            department=row.department_code,
            policy_resource=row.policy_resource,
            fields=tuple(row.fields),
            area=row.area,
            masked=bool(row.masked),
            purpose_code=row.purpose_code,
            roles=tuple(row.roles),
            granted_at=row.granted_at,
            expires_at=row.expires_at,
            state=GrantState(row.state),
            ended_at=row.ended_at,
            ended_by=row.ended_by,
            end_reason=row.end_reason,
        )


@dataclass(frozen=True, slots=True)
class StoredRequest:
    id: int
    resource_code: str
    #: The department that owns the resource: whose data officer reviews.
    owner: str
    department: str
    requested_by: str
    requested_at: datetime
    fields: tuple[str, ...]
    area: str | None
    masked: bool
    purpose_code: str
    purpose: str
    duration_days: int
    state: RequestState
    reviewed_by: str | None
    reviewed_at: datetime | None
    review_comment: str | None
    decided_by: str | None
    decided_at: datetime | None
    decision_comment: str | None
    grant: StoredGrant | None

    @property
    def key(self) -> str:
        return request_key(self.id)


@dataclass(frozen=True, slots=True)
class Listing:
    """Which requests or grants to list; every filter given must hold.

    ``visible_to``: a department code whose data officer asks — only what that department
    asked for or owns the resource of; None: everything (the chief data officer, auditors).
    """

    state: str | None = None
    department: str | None = None
    resource: str | None = None
    visible_to: str | None = None


def _requests_select() -> Any:
    return select(REQUESTS, RESOURCES.c.department_code.label("owner")).join(
        RESOURCES, RESOURCES.c.code == REQUESTS.c.resource_code
    )


async def _read_requests(
    connection: AsyncConnection, where: Sequence[ColumnElement[bool]]
) -> list[StoredRequest]:
    rows = (
        await connection.execute(_requests_select().where(*where).order_by(REQUESTS.c.id.desc()))
    ).all()
    grants: dict[int, StoredGrant] = {}
    if rows:
        ids = [row.id for row in rows]
        for row in await connection.execute(select(GRANTS).where(GRANTS.c.request_id.in_(ids))):
            grants[row.request_id] = StoredGrant.of(row)
    return [
        StoredRequest(
            id=row.id,
            resource_code=row.resource_code,
            owner=row.owner,
            department=row.department_code,
            requested_by=row.requested_by,
            requested_at=row.requested_at,
            fields=tuple(row.fields),
            area=row.area,
            masked=bool(row.masked),
            purpose_code=row.purpose_code,
            purpose=row.purpose,
            duration_days=row.duration_days,
            state=RequestState(row.state),
            reviewed_by=row.reviewed_by,
            reviewed_at=row.reviewed_at,
            review_comment=row.review_comment,
            decided_by=row.decided_by,
            decided_at=row.decided_at,
            decision_comment=row.decision_comment,
            grant=grants.get(row.id),
        )
        for row in rows
    ]


def _listing(table: Any, listing: Listing) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if listing.state is not None:
        where.append(table.c.state == listing.state)
    if listing.department is not None:
        where.append(table.c.department_code == listing.department)
    if listing.resource is not None:
        where.append(table.c.resource_code == listing.resource)
    if listing.visible_to is not None:
        owned = select(RESOURCES.c.code).where(RESOURCES.c.department_code == listing.visible_to)
        where.append(
            or_(
                table.c.department_code == listing.visible_to,
                table.c.resource_code.in_(owned.scalar_subquery()),
            )
        )
    return where


async def get_request(connection: AsyncConnection, request_id: int) -> StoredRequest | None:
    found = await _read_requests(connection, [REQUESTS.c.id == request_id])
    return found[0] if found else None


async def list_requests(connection: AsyncConnection, listing: Listing) -> list[StoredRequest]:
    """The requests matching ``listing``, newest first, with their grants."""
    return await _read_requests(connection, _listing(REQUESTS, listing))


async def get_grant(connection: AsyncConnection, grant_id: int) -> StoredGrant | None:
    row = (await connection.execute(select(GRANTS).where(GRANTS.c.id == grant_id))).first()
    return None if row is None else StoredGrant.of(row)


async def grants_by_id(connection: AsyncConnection, ids: Sequence[int]) -> list[StoredGrant]:
    """The grants of ``ids`` that exist, by id (one statement: the grants a plan holds)."""
    if not ids:
        return []
    rows = await connection.execute(
        select(GRANTS).where(GRANTS.c.id.in_(sorted(set(ids)))).order_by(GRANTS.c.id)
    )
    return [StoredGrant.of(row) for row in rows]


async def list_grants(connection: AsyncConnection, listing: Listing) -> list[StoredGrant]:
    """The grants matching ``listing``, newest first."""
    rows = await connection.execute(
        select(GRANTS).where(*_listing(GRANTS, listing)).order_by(GRANTS.c.id.desc())
    )
    return [StoredGrant.of(row) for row in rows]


async def due(connection: AsyncConnection, now: datetime) -> list[int]:
    """The active grants whose expiry has come, oldest expiry first."""
    rows = await connection.scalars(
        select(GRANTS.c.id)
        .where(GRANTS.c.state == GrantState.ACTIVE, GRANTS.c.expires_at <= now)
        .order_by(GRANTS.c.expires_at, GRANTS.c.id)
    )
    return list(rows)
