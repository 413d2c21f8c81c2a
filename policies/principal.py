"""Who a plan is for: the facts about a principal that rules refer to."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from store.models import Principal as PrincipalRow
from store.models import PrincipalGrid


@dataclass(frozen=True, slots=True)
class Principal:
    """A person or a client as the policies see it (frozen: it is part of a plan cache key).

    ``areas`` are the codes ``own`` stands for (``principal_grids``, at any level). ``roles``
    are for display (``Query.me``, the audit log): the plan compiler asks the policy store for
    the subject's roles itself, so a stale or made-up list here grants nothing.
    """

    subject: str
    kind: str = "person"
    department: str | None = None
    roles: tuple[str, ...] = ()
    areas: tuple[str, ...] = ()


async def load_principal(connection: AsyncConnection, subject: str) -> Principal | None:
    """The principal ``subject`` from ``principals`` and ``principal_grids`` (None: unknown)."""
    row = (
        await connection.execute(
            select(PrincipalRow.kind, PrincipalRow.department_code).where(
                PrincipalRow.subject == subject
            )
        )
    ).first()
    if row is None:
        return None
    areas = await connection.scalars(
        select(PrincipalGrid.grid_code)
        .where(PrincipalGrid.subject == subject)
        .order_by(PrincipalGrid.grid_code)
    )
    return Principal(subject, row.kind, row.department_code, (), tuple(areas))
