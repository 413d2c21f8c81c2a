"""From a verified identity to the request's principal and access plan.

Per request: one statement reads the principal's row, its assigned areas and the policy version
(on the request's own connection, which its resolvers then reuse); the plan comes from the
process's :class:`PlanCache` — a dictionary look-up unless the policy changed since the last
request, in which case it is compiled once for the new version.

A token whose subject has no principal row, or whose kind differs from the row's, is refused
like a forged one: removing a principal revokes its live tokens at once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from starlette.requests import HTTPConnection

from hub.auth.principal import Identity, Unauthenticated
from hub.models import PolicyVersion, PrincipalGrid
from hub.models import Principal as PrincipalRow
from policies.plan import AccessPlan, PlanCache
from policies.principal import Principal
from policies.store import PolicyStore

PURPOSE_HEADER = "x-access-purpose"
#: A purpose code: what ``X-Access-Purpose`` carries and a read rule names.
_PURPOSE = re.compile(r"[a-z][a-z0-9_]{0,63}")


class BadPurpose(ValueError):
    """The ``X-Access-Purpose`` header is not one purpose code (answered with 400)."""


def declared_purpose(request: HTTPConnection) -> str | None:
    """The request's ``X-Access-Purpose`` (None: none declared); a malformed one is refused
    rather than ignored, so a caller never believes it declared a purpose it did not."""
    values = request.headers.getlist(PURPOSE_HEADER)
    if not values:
        return None
    if len(values) > 1:
        raise BadPurpose("Send one X-Access-Purpose header")
    value = values[0].strip()
    if not value:
        return None
    if _PURPOSE.fullmatch(value) is None:
        raise BadPurpose(
            "X-Access-Purpose is a purpose code: lower-case letters, digits and _ "
            "(for example elderly_care)"
        )
    return value


async def load_principal_and_version(
    connection: AsyncConnection, subject: str
) -> tuple[Principal | None, int]:
    """The principal ``subject`` and the policy version, in one statement (a row per assigned
    area, the version alongside); ``(None, 0)`` when there is no such principal."""
    version = select(PolicyVersion.version).where(PolicyVersion.id == 1).scalar_subquery()
    rows = (
        await connection.execute(
            select(
                PrincipalRow.kind,
                PrincipalRow.department_code,
                PrincipalGrid.grid_code,
                version.label("policy_version"),
            )
            .outerjoin(PrincipalGrid, PrincipalGrid.subject == PrincipalRow.subject)
            .where(PrincipalRow.subject == subject)
            .order_by(PrincipalGrid.grid_code)
        )
    ).all()
    if not rows:
        return None, 0
    first = rows[0]
    areas = tuple(row.grid_code for row in rows if row.grid_code is not None)
    principal = Principal(subject, first.kind, first.department_code, (), areas)
    return principal, int(first.policy_version or 0)


@dataclass
class Access:
    """The process's policy store and plan cache (one each, made in the app's lifespan)."""

    store: PolicyStore
    plans: PlanCache

    @classmethod
    def create(cls, engine: AsyncEngine) -> Access:
        store = PolicyStore(engine)
        return cls(store, PlanCache(store))

    async def plan_for(
        self, identity: Identity, purpose: str | None, connection: AsyncConnection
    ) -> AccessPlan:
        """The plan of the principal ``identity`` names; :class:`Unauthenticated` if there is
        no such principal (any more) or it is of another kind than the token says."""
        principal, version = await load_principal_and_version(connection, identity.subject)
        if principal is None or principal.kind != identity.kind:
            raise Unauthenticated(f"no {identity.kind} principal {identity.subject!r}")
        return await self.plans.plan_for(principal, purpose, connection, version=version)
