"""The access plan: a principal's rules compiled once into row predicates and field decisions.

At the start of a request the principal's rules (its own and its roles', in its department) are
read from the policy store once and compiled here into one :class:`ResourcePlan` per resource
(see :mod:`policies.resource_plan` for what the rules mean there): a SQL predicate put inside
every statement, so rows outside the plan never leave the database, and the decision of every
field, a dictionary look-up after its first use.

Plans are cached by :class:`PlanCache` until the policy version changes. A grant made through
the catalogue workflow (a role ``grant:<id>``) counts only until it expires: a plan leaves out
the rules of grants that have run out and carries the earliest expiry of those it kept
(``expires_at``), and the cache does not serve it from that instant on — so access ends on time
even before the sweep removes the grant's lines, and without a restart.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from types import MappingProxyType

from sqlalchemy import ColumnElement
from sqlalchemy.ext.asyncio import AsyncConnection

from policies.decision import Decision
from policies.field_rules import FieldRules
from policies.grants import is_grant_role
from policies.principal import Principal
from policies.resource_plan import CompiledRule, ResourceDescription, ResourcePlan
from policies.rules import ANY, RESOURCES, Rule, expand_area
from policies.store import PolicyStore

__all__ = [
    "AccessPlan",
    "Clock",
    "PlanCache",
    "ResourceDescription",
    "ResourcePlan",
    "compile_plan",
    "utc_now",
]

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class AccessPlan:
    """Per resource, a :class:`ResourcePlan`; what the resolvers apply to every statement.

    It is a ``policies.field_rules.Plan``: ``rows``, ``rules`` and ``filterable``.
    """

    def __init__(
        self,
        principal: Principal,
        purpose: str | None,
        version: int,
        roles: tuple[str, ...],
        rules: tuple[Rule, ...],
        expires_at: datetime | None = None,
    ) -> None:
        purpose = purpose or None  # an empty header declares nothing
        self.principal = principal
        self.purpose = purpose
        self.version = version
        self.roles = roles
        self.compiled_from = rules  # the store's rules for the principal
        #: The earliest expiry of the grants the plan holds: it is not used from then on.
        self.expires_at = expires_at
        #: Facts derived from the plan by others (the audit recorder), kept as long as it is.
        self.memo: dict[object, object] = {}
        compiled = [
            CompiledRule(
                rule,
                expand_area(rule.area, principal.areas),
                rule.selector,
                frozenset(rule.purposes),
            )
            for rule in rules
        ]
        self.resources: Mapping[str, ResourcePlan] = MappingProxyType(
            {
                resource: ResourcePlan(
                    resource, [c for c in compiled if c.rule.resource in (resource, ANY)], purpose
                )
                for resource in RESOURCES
            }
        )
        self._of_type = {
            type_name: self.resources[plan.name]
            for plan in self.resources.values()
            for type_name in plan.types
        }

    def resource(self, name: str) -> ResourcePlan:
        return self.resources[name]

    def of_type(self, type_name: str) -> ResourcePlan:
        return self._of_type[type_name]

    def rows(self, resource: str, column: ColumnElement[str] | None) -> ColumnElement[bool]:
        return self.resources[resource].rows(column)

    def decisions(self, type_name: str, grid_code: str | None) -> Mapping[str, Decision]:
        return self._of_type[type_name].decisions(grid_code, type_name)

    def rules(self, type_name: str, grid_code: str | None) -> FieldRules:
        """The field rules for a row (``policies.field_rules.Plan``): one look-up per row."""
        return self._of_type[type_name].field_rules(grid_code, type_name)

    def writable(self, type_name: str, grid_code: str | None) -> frozenset[str]:
        """The fields of a ``type_name`` row in ``grid_code`` the principal may write."""
        return self._of_type[type_name].writable(grid_code, type_name)

    def filterable(self, type_name: str, field_name: str, value_tier: int | None = None) -> bool:
        return self._of_type[type_name].filterable(field_name, type_name, value_tier)

    def needs_purpose(self, type_name: str, field_name: str) -> bool:
        return self._of_type[type_name].needs_purpose(field_name, type_name)

    def purpose_known(self) -> bool | None:
        """Whether a read rule of the principal serves the declared purpose (None: none was
        declared). An unknown purpose — a typo, or one no grant was made for — unlocks
        nothing, and the caller is told so by ``Query.me``."""
        if self.purpose is None:
            return None
        return any(plan.serves(self.purpose) for plan in self.resources.values())

    def area_splits(self, resource: str, area: str) -> bool:
        return self.resources[resource].area_splits(area)

    def describe(self) -> Mapping[str, ResourceDescription]:
        return MappingProxyType({name: plan.describe() for name, plan in self.resources.items()})

    def summary(self, type_name: str, field_name: str) -> Decision:
        """One decision for a field over every area the principal sees (for the audit log):
        ALLOW if allowed everywhere, DENY if refused everywhere, else MASK."""
        plan = self._of_type[type_name]
        seen = {
            plan.decisions(place, type_name).get(field_name, Decision.DENY)
            for place in plan.places()
        }
        if seen == {Decision.ALLOW}:
            return Decision.ALLOW
        if seen <= {Decision.DENY, Decision.PURPOSE_REQUIRED}:
            return Decision.DENY
        return Decision.MASK


async def compile_plan(
    store: PolicyStore, principal: Principal, purpose: str | None, now: datetime | None = None
) -> AccessPlan:
    """Compile ``principal``'s plan from the store's current rules (refreshing them first),
    with the grants that are live at ``now`` (default: the present)."""
    version = await store.refresh()
    return await _compile(store, principal, purpose, version, now or utc_now())


async def _compile(
    store: PolicyStore, principal: Principal, purpose: str | None, version: int, now: datetime
) -> AccessPlan:
    roles = await store.roles_of(principal.subject, principal.department)
    rules = await store.rules_for(principal.subject, principal.department)
    expiries = {role: store.grant_expiry(role) for role in roles if is_grant_role(role)}
    lapsed = {role for role, ends in expiries.items() if ends is None or ends <= now}
    if lapsed:
        roles = tuple(role for role in roles if role not in lapsed)
        rules = tuple(rule for rule in rules if rule.subject not in lapsed)
    live = [ends for role, ends in expiries.items() if ends is not None and role not in lapsed]
    return AccessPlan(principal, purpose, version, roles, rules, min(live, default=None))


class PlanCache:
    """Compiled plans by (principal, purpose), valid for one policy version.

    The version is read once per request (one cheap SELECT); when it moved on, every plan
    is dropped, so a policy change takes effect on the next request in every process. The key
    is the whole frozen principal (its subject, department and own areas), so a principal whose
    areas changed gets a new plan too. A plan holding a grant is not served from the grant's
    expiry on (by ``clock``): it is compiled again, without the grant.
    """

    def __init__(self, store: PolicyStore, max_size: int = 4096, clock: Clock = utc_now) -> None:
        self._store = store
        self._max_size = max_size
        self._clock = clock
        self._version: int | None = None
        self._plans: dict[tuple[Principal, str | None], AccessPlan] = {}

    async def plan_for(
        self,
        principal: Principal,
        purpose: str | None,
        connection: AsyncConnection | None = None,
        *,
        version: int | None = None,
    ) -> AccessPlan:
        """The plan for this request: one SELECT of the version (on the request's
        ``connection`` if given; none if the caller read ``version`` already), then a
        dictionary look-up, or a compile once per version."""
        version = await self._store.refresh(connection, version=version)
        plan = self.lookup(principal, purpose, version)
        if plan is None:
            plan = await _compile(self._store, principal, purpose, version, self._clock())
            self._keep(plan)
        return plan

    def cached(self, principal: Principal, purpose: str | None, version: int) -> AccessPlan | None:
        """The plan :meth:`plan_for` would return for ``version`` with no statement and no
        compile, if the store holds that version's rules and the plan is cached; else None."""
        if not self._store.holds(version):
            return None
        return self.lookup(principal, purpose, version)

    def lookup(self, principal: Principal, purpose: str | None, version: int) -> AccessPlan | None:
        """The cached plan for this version, if any and not past a grant's expiry (a
        dictionary look-up, and a clock reading for a plan that holds a grant)."""
        if version != self._version:
            self._plans.clear()
            self._version = version
            return None
        key = (principal, purpose or None)
        plan = self._plans.get(key)
        if plan is not None and plan.expires_at is not None and self._clock() >= plan.expires_at:
            del self._plans[key]
            return None
        return plan

    def _keep(self, plan: AccessPlan) -> None:
        if plan.version != self._version:
            return  # the policy changed while compiling: don't keep a plan nobody will ask for
        if len(self._plans) >= self._max_size:
            del self._plans[next(iter(self._plans))]
        self._plans[(plan.principal, plan.purpose)] = plan
