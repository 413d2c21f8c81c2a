"""From a verified identity to the request's principal and access plan.

Per request: one statement reads the principal's row, its assigned areas and the policy version
(on the request's own connection, which its resolvers then reuse) — on PostgreSQL, only when a
change was heard since it was last read (:mod:`policies.access_watch`); the plan comes from the
process's :class:`PlanCache` — a dictionary look-up unless the policy changed since the last
request, in which case it is compiled once for the new version.

A token whose subject has no principal row, or whose kind differs from the row's, is refused
like a forged one: removing a principal revokes its live tokens at once. So is a client token
whose client has been deleted (``gridhub client delete``), read in the same statement, and a
token issued before its principal was created (the principal's ``created_at``, same statement):
a subject removed and added again does not revive its old tokens.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from sqlalchemy import bindparam, exists, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from auth.principal import Identity, Unauthenticated
from policies.access_watch import AccessWatch
from policies.plan import AccessPlan, Clock, PlanCache, utc_now
from policies.principal import Principal
from policies.store import PolicyStore
from store.models import OAuthClient, PolicyVersion, PrincipalGrid
from store.models import Principal as PrincipalRow

#: Built once: constructing the statement per request cost more than running it (0.65 ms
#: against 0.24 ms on PostgreSQL), the compiled form is cached by SQLAlchemy either way.
_PRINCIPAL_AND_VERSION = (
    select(
        PrincipalRow.kind,
        PrincipalRow.department_code,
        PrincipalRow.created_at,
        PrincipalGrid.grid_code,
        select(PolicyVersion.version)
        .where(PolicyVersion.id == 1)
        .scalar_subquery()
        .label("policy_version"),
        exists().where(OAuthClient.client_id == bindparam("client_id")).label("client_known"),
    )
    .outerjoin(PrincipalGrid, PrincipalGrid.subject == PrincipalRow.subject)
    .where(PrincipalRow.subject == bindparam("subject"))
    .order_by(PrincipalGrid.grid_code)
)


async def load_principal_and_version(
    connection: AsyncConnection, subject: str, client_id: str | None = None
) -> tuple[Principal | None, int]:
    """The principal ``subject`` and the policy version, in one statement (a row per assigned
    area, the version alongside); ``(None, 0)`` when there is no such principal, or when
    ``client_id`` (a client token's) names a client that no longer exists."""
    principal, version, _ = await _load(connection, subject, client_id)
    return principal, version


async def _load(
    connection: AsyncConnection, subject: str, client_id: str | None
) -> tuple[Principal | None, int, int | None]:
    """:func:`load_principal_and_version` and the second the principal was created in (None:
    not known)."""
    rows = (
        await connection.execute(
            _PRINCIPAL_AND_VERSION, {"subject": subject, "client_id": client_id}
        )
    ).all()
    if not rows or (client_id is not None and not rows[0].client_known):
        return None, 0, None
    first = rows[0]
    areas = tuple(row.grid_code for row in rows if row.grid_code is not None)
    principal = Principal(subject, first.kind, first.department_code, (), areas)
    created = first.created_at
    # whole seconds, as a token's iat: a token issued in the second of creation is accepted
    created_second = None if created is None else int(created.timestamp())
    return principal, int(first.policy_version or 0), created_second


#: Where a statement runs: a connection, or how to take one (only if a statement is needed).
Connection = AsyncConnection | Callable[[], Awaitable[AsyncConnection]]


async def _taken(connection: Connection) -> AsyncConnection:
    return connection if isinstance(connection, AsyncConnection) else await connection()


#: Most principals whose rows a process keeps between notifications.
KEPT_PRINCIPALS = 100_000


@dataclass
class Access:
    """The process's policy store and plan cache (one each, made in the app's lifespan), and,
    on PostgreSQL, the principals read under the :class:`AccessWatch`'s current generation."""

    store: PolicyStore
    plans: PlanCache
    watch: AccessWatch | None = None
    _kept: dict[tuple[str, str | None], tuple[int, Principal, int, int | None]] = field(
        default_factory=dict
    )

    @classmethod
    def create(
        cls, engine: AsyncEngine, watch: AccessWatch | None = None, clock: Clock = utc_now
    ) -> Access:
        """``clock`` is what grants expire by (tests pass one they can move on)."""
        store = PolicyStore(engine)
        return cls(store, PlanCache(store, clock=clock), watch)

    async def _principal(
        self, connection: Connection, subject: str, client_id: str | None
    ) -> tuple[Principal | None, int, int | None]:
        """The principal, policy version and creation second: kept from an earlier request
        while no change has been heard since (a client's deletion is one), else read (one
        statement)."""
        watch = self.watch
        if watch is None or not watch.live:
            return await _load(await _taken(connection), subject, client_id)
        generation = watch.generation
        key = (subject, client_id)
        kept = self._kept.get(key)
        if kept is not None and kept[0] == generation:
            return kept[1], kept[2], kept[3]
        principal, version, created = await _load(await _taken(connection), subject, client_id)
        if principal is not None and watch.live and watch.generation == generation:
            if len(self._kept) >= KEPT_PRINCIPALS:
                self._kept.clear()
            self._kept[key] = (generation, principal, version, created)
        return principal, version, created

    async def plan_for(
        self, identity: Identity, purpose: str | None, connection: Connection
    ) -> AccessPlan:
        """The plan of the principal ``identity`` names; :class:`Unauthenticated` if there is
        no such principal (any more), it is of another kind than the token says, or the token
        was issued before the principal was created (to an earlier principal of that subject,
        since removed: adding a subject again does not revive its old tokens).

        ``connection`` is one on the primary, or how to take one: on PostgreSQL, a principal
        kept since the last change notification and a plan cached for the version then need no
        statement at all, and the request takes a connection only if its answer needs one.
        Otherwise the plan (and any rules the policy store must reload) is read on the
        connection taken then: with read replicas it is one on the primary beside the
        request's replica. (Left to the store's own connections, a cold process's first burst
        of requests would each take a second connection and exhaust the pool.)"""
        principal, version, created = await self._principal(
            connection, identity.subject, identity.client_id
        )
        if principal is None or principal.kind != identity.kind:
            raise Unauthenticated(f"no {identity.kind} principal {identity.subject!r}")
        if created is not None and identity.issued_at is not None and identity.issued_at < created:
            raise Unauthenticated(f"a token of {identity.subject!r} issued before it was created")
        plan = self.plans.cached(principal, purpose, version)
        if plan is not None:
            return plan
        return await self.plans.plan_for(
            principal, purpose, await _taken(connection), version=version
        )
