"""A grant becomes policy, and ending it takes the policy back.

A grant of fields of a catalogue resource to a department is one Casbin rule held by the role
``grant:<id>`` (:mod:`policies.grants`) in the department's domain: a read rule (or a mask rule,
for a grant of the masked form) on the resource's policy resource (``people``), on the granted
fields joined with ``|``, in the granted area (``*`` for the whole district), serving the
grant's one purpose code. The role is given to the department's **app roles** — the roles its
OAuth clients hold in the department (``housing_app``) — so every app of the department that
holds such a role receives the grant, and nobody else: a department's people (its data officer)
work the catalogue, not the data.

Besides the granted data items, the rule opens the **lists** of the resource's type
(``House.residents``, ``House.rooms``, ``Entity.employees``) whose tier is at most the highest
tier granted. A list is no data item of its own (the catalogue lists none): it links to rows of
another resource, and those rows stay governed by that resource's grants, so a list shows only
rows its holder may see anyway.

Everything here runs in the caller's transaction: the grant's row and its lines commit
together, and the policy version is bumped through the :class:`PolicyStore`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from catalog.columns import STORED
from catalog.requests import GRANTS, GrantState, StoredGrant, StoredRequest
from policies.fields import FIELDS, RESOURCE_OF_TYPE
from policies.grants import grant_role, is_grant_role
from policies.rules import ANY, TYPES_OF_RESOURCE, Act, Rule
from policies.store import PolicyStore
from store.models import CasbinRule, PrincipalKind
from store.models import Principal as PrincipalRow

RULES = CasbinRule.__table__


def opened_lists(type_name: str, fields: Sequence[str]) -> tuple[str, ...]:
    """The lists of ``type_name`` a grant of ``fields`` opens: those of no higher tier."""
    ceiling = max(FIELDS[type_name][name].tier for name in fields)
    items = STORED[type_name].items
    return tuple(
        name
        for name, spec in FIELDS[type_name].items()
        if name not in items and spec.tier <= ceiling
    )


def rule_fields(type_name: str, fields: Sequence[str]) -> str:
    """The rule's ``fields``: the granted data items and the lists they open, ``|``-joined
    (qualified by type where the policy resource holds several types, as ``grids`` does)."""
    names = [*fields, *opened_lists(type_name, fields)]
    several = len(TYPES_OF_RESOURCE[RESOURCE_OF_TYPE[type_name]]) > 1
    return "|".join(f"{type_name}.{name}" if several else name for name in names)


def grant_rule(
    grant_id: int,
    department: str,
    type_name: str,
    fields: Sequence[str],
    area: str | None,
    masked: bool,
    purpose_code: str,
) -> Rule:
    """The one rule a grant stands for (checked like any rule)."""
    return Rule.make(
        grant_role(grant_id),
        department,
        RESOURCE_OF_TYPE[type_name],
        rule_fields(type_name, fields),
        area or ANY,
        Act.MASK if masked else Act.READ,
        (purpose_code,),
    )


async def app_roles(connection: AsyncConnection, department: str) -> tuple[str, ...]:
    """The roles the department's OAuth clients hold in the department's domain: who
    receives its grants."""
    clients = select(PrincipalRow.subject).where(
        PrincipalRow.department_code == department,
        PrincipalRow.kind == PrincipalKind.CLIENT.value,
    )
    found = await connection.scalars(
        select(RULES.c.v1)
        .where(
            RULES.c.ptype == "g",
            RULES.c.v2 == department,
            RULES.c.v0.in_(clients.scalar_subquery()),
        )
        .distinct()
        .order_by(RULES.c.v1)
    )
    return tuple(role for role in found if not is_grant_role(role))


async def make_grant(
    session: AsyncSession,
    store: PolicyStore,
    request: StoredRequest,
    type_name: str,
    *,
    fields: Sequence[str],
    area: str | None,
    at: datetime,
    expires_at: datetime,
) -> int:
    """Write the grant of ``request`` (as decided: ``fields``, ``area``, ``expires_at``) and
    its rule; return the grant's id."""
    connection = await session.connection()
    roles = await app_roles(connection, request.department)
    result = await connection.execute(
        insert(GRANTS).values(
            request_id=request.id,
            resource_code=request.resource_code,
            department_code=request.department,
            policy_resource=RESOURCE_OF_TYPE[type_name],
            fields=list(fields),
            area=area,
            masked=request.masked,
            purpose_code=request.purpose_code,
            roles=list(roles),
            granted_at=at,
            expires_at=expires_at,
            state=GrantState.ACTIVE.value,
        )
    )
    (grant_id,) = result.inserted_primary_key or (None,)
    assert grant_id is not None
    rule = grant_rule(
        grant_id,
        request.department,
        type_name,
        fields,
        area,
        request.masked,
        request.purpose_code,
    )
    await store.put_grant(rule.subject, request.department, [rule], roles, session=session)
    return int(grant_id)


async def end_grant(
    session: AsyncSession,
    store: PolicyStore,
    grant: StoredGrant,
    state: GrantState,
    *,
    at: datetime,
    by: str | None,
    reason: str,
) -> bool:
    """Mark an active grant ``state`` (expired or revoked) and remove its lines; False if it
    was no longer active (another process ended it first), in which case nothing changes."""
    connection = await session.connection()
    result = await connection.execute(
        update(GRANTS)
        .where(GRANTS.c.id == grant.id, GRANTS.c.state == GrantState.ACTIVE.value)
        .values(state=state.value, ended_at=at, ended_by=by, end_reason=reason)
    )
    if result.rowcount != 1:
        return False
    await store.drop_grant(grant.key, session=session)
    return True
