"""The policy store: Casbin's enforcer over the hub's ``casbin_rule`` table, behind a typed API.

Rules and role links are stored through ``casbin_async_sqlalchemy_adapter`` in the hub's own
database; each change writes its lines and bumps ``policy_version`` in one transaction, and every
process compares that counter per request (:meth:`PolicyStore.refresh`), reloading when another
process (the CLI, another worker) has changed the policy. Nothing here runs at import time.

Casbin is used for what it is good at: storing lines, role inheritance with domains, and single
decisions (:meth:`PolicyStore.explain`). The access-plan compiler reads a principal's rules once
per plan (:meth:`PolicyStore.rules_for`) and decides fields in Python with the same functions.

Grants made through the catalogue workflow are roles ``grant:<id>`` (:mod:`policies.grants`);
with the lines, the store loads when each active grant expires (:meth:`PolicyStore.grant_expiry`),
so a plan can leave out a grant that ran out before the sweep removed its lines.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from importlib.resources import files

from casbin import AsyncEnforcer
from casbin.core_enforcer import EnforceContext
from casbin.model import Model
from casbin_async_sqlalchemy_adapter import Adapter
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from policies.decision import Decision
from policies.fields import FIELDS, Tier
from policies.grants import grant_role
from policies.principal import Principal
from policies.rules import (
    ANY,
    MASK_LINE,
    OWN,
    Act,
    PolicyError,
    RoleLink,
    Rule,
    act_match,
    area_covers,
    domain_match,
    expand_area,
    object_match,
    purpose_match,
    purposes_cover,
)
from store.models import CasbinRule, Grant, PolicyVersion

PURPOSE_CONTEXT = EnforceContext("r2", "p2", "e", "m2")


class _Adapter(Adapter):  # type: ignore[misc]  # the adapter is untyped
    """The upstream adapter, with two changes.

    - Lines are loaded column by column rather than through ``str(line)`` (our model class is
      the hub's, without the upstream ``__str__``, and values then never need CSV quoting).
    - Writes go to the unit of work the store hands it, never to a session of its own, so a
      change and its version bump commit together (or, with a caller's session, with the
      caller's other writes).
    """

    unit: AsyncSession | None = None
    #: A connection the caller already holds (a request's), to read through instead of taking
    #: another from the pool: a burst of first requests, each holding one connection and
    #: waiting for the reload, would otherwise exhaust the pool and wait on itself.
    reader: AsyncConnection | None = None
    #: When each active grant's role expires, as of the last load.
    expiries: Mapping[str, datetime] = {}

    @asynccontextmanager
    async def _session_scope(self) -> AsyncIterator[AsyncSession]:
        if self.unit is None:
            raise RuntimeError("policy writes go through PolicyStore, inside its transaction")
        yield self.unit

    async def load_policy(self, model: Model) -> None:
        """Load every line; inside a write, through its unit (which sees its own changes)."""
        table = CasbinRule.__table__
        statement = select(table.c.ptype, *(table.c[f"v{i}"] for i in range(6))).order_by(
            table.c.id
        )
        grants = select(Grant.id, Grant.expires_at).where(Grant.state == "active")
        if self.unit is not None:
            rows = list(await self.unit.execute(statement))
            active = list(await self.unit.execute(grants))
        elif self.reader is not None:
            rows = list(await self.reader.execute(statement))
            active = list(await self.reader.execute(grants))
        else:
            async with self._engine.connect() as connection:
                rows = list(await connection.execute(statement))
                active = list(await connection.execute(grants))
        self.expiries = {grant_role(row.id): row.expires_at for row in active}
        for ptype, *values in rows:
            assertions = model.model.get(ptype[:1], {})
            if ptype in assertions:
                assertions[ptype].policy.append([v for v in values if v is not None])


@dataclass(frozen=True, slots=True)
class Policy:
    """Everything stored: rules and role links (for listing)."""

    rules: tuple[Rule, ...]
    links: tuple[RoleLink, ...]


@dataclass(frozen=True, slots=True)
class Explanation:
    """One field decision, with the rules that decided it (empty: nothing matched)."""

    decision: Decision
    rules: tuple[Rule, ...]
    roles: tuple[str, ...]


def _model() -> Model:
    model = Model()
    model.load_model_from_text(files("policies").joinpath("model.conf").read_text("utf-8"))
    return model


class PolicyStore:
    """A small typed API over one :class:`casbin.AsyncEnforcer` per process."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._adapter = _Adapter(engine, db_class=CasbinRule)
        self._enforcer = AsyncEnforcer(_model(), self._adapter)
        self._enforcer.add_named_domain_matching_func("g", domain_match)
        # areaMatch needs the principal's own areas: explain() puts them here first.
        self._own: dict[str, tuple[str, ...]] = {}
        for name, function in (
            ("objectMatch", object_match),
            ("areaMatch", self._area_match),
            ("actMatch", act_match),
            ("purposeMatch", purpose_match),
        ):
            self._enforcer.add_function(name, function)
        self._loaded: int | None = None  # the version in memory; None: load before use
        self._synced: AsyncSession | None = None  # the write whose view memory holds, if any
        self._index: Mapping[str, tuple[Rule, ...]] = {}
        self._lock = asyncio.Lock()

    @property
    def engine(self) -> AsyncEngine:
        return self._engine

    # -- keeping up with the database ----------------------------------------------------------

    async def version(self, connection: AsyncConnection | None = None) -> int:
        """The stored policy version: one cheap SELECT (on ``connection`` if given, e.g. the
        request's own, which saves a pool check-out)."""
        if connection is not None:
            return await self._version_in(connection)
        async with self._engine.connect() as own:
            return await self._version_in(own)

    def holds(self, version: int) -> bool:
        """Whether the rules in memory are those of ``version`` (:meth:`refresh` would read
        nothing)."""
        return version == self._loaded

    async def refresh(
        self, connection: AsyncConnection | None = None, *, version: int | None = None
    ) -> int:
        """Reload the rules if the stored version moved on; return the version now in memory.

        The version is read before the rules (or was, by the caller: ``version``), so the rules
        loaded are at least that new: a change committed in between only causes one more
        reload on the next request.
        """
        if version is None:
            version = await self.version(connection)
        if version != self._loaded:
            async with self._lock:
                if version != self._loaded:
                    self._adapter.reader = connection
                    try:
                        await self._reload()
                    finally:
                        self._adapter.reader = None
                    self._loaded = version
        return version

    async def _reload(self, unit: AsyncSession | None = None) -> None:
        """Load every rule: committed ones, or as ``unit`` (a write in progress) sees them."""
        self._adapter.unit = unit
        try:
            await self._enforcer.load_policy()
        finally:
            self._adapter.unit = None
        self._synced = unit
        self._reindex()

    def _reindex(self) -> None:
        purposes = {tuple(line[:4]): line[4] for line in self._enforcer.get_named_policy("p2")}
        index: dict[str, list[Rule]] = defaultdict(list)
        for line in self._enforcer.get_named_policy("p"):
            index[line[0]].append(Rule.from_lines(line, purposes.get(tuple(line[:4]))))
        self._index = {subject: tuple(rules) for subject, rules in index.items()}

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One unit of work for several changes (commits at the end, rolls back on error)."""
        async with AsyncSession(self._engine) as session, session.begin():
            yield session

    @asynccontextmanager
    async def _writing(self, session: AsyncSession | None) -> AsyncIterator[AsyncSession]:
        """Write through ``session`` (the caller commits) or a transaction of our own.

        Memory is first brought up to what the unit of work sees (the committed rules plus its
        own earlier changes), so duplicate and missing rules are judged against the truth.
        """
        async with self._lock, self.within(session) as unit:
            loaded, self._loaded = self._loaded, None
            # From here memory may hold a change its transaction has not committed (or will
            # roll back): until then no plan is compiled from it, and the next refresh
            # reloads whatever the database says.
            if self._synced is not unit and (
                loaded is None or loaded != await self._version_in(unit)
            ):
                await self._reload(unit)
            self._adapter.unit = unit
            try:
                yield unit
            finally:
                self._adapter.unit = None
                self._synced = unit
                self._reindex()

    @asynccontextmanager
    async def within(self, session: AsyncSession | None) -> AsyncIterator[AsyncSession]:
        """The caller's ``session`` (the caller commits), or a transaction of the store's own."""
        if session is not None:
            yield session
            return
        async with self.transaction() as own:
            yield own

    @staticmethod
    async def _version_in(connection: AsyncConnection | AsyncSession) -> int:
        found = await connection.scalar(select(PolicyVersion.version).where(PolicyVersion.id == 1))
        return int(found or 0)

    @staticmethod
    async def _bump(session: AsyncSession) -> None:
        await session.execute(
            update(PolicyVersion)
            .where(PolicyVersion.id == 1)
            .values(version=PolicyVersion.version + 1)
        )

    # -- roles -----------------------------------------------------------------------------------

    async def add_role_parent(
        self, role: str, parent: str, domain: str = ANY, *, session: AsyncSession | None = None
    ) -> bool:
        """``role`` inherits every rule of ``parent`` (in ``domain``); False if it already did."""
        return await self._link(RoleLink.make(role, parent, domain), session, add=True)

    async def assign(
        self, subject: str, role: str, domain: str = ANY, *, session: AsyncSession | None = None
    ) -> bool:
        """Give ``subject`` ``role`` when acting in ``domain`` (its department, or ``*``)."""
        return await self._link(RoleLink.make(subject, role, domain), session, add=True)

    async def unassign(
        self, subject: str, role: str, domain: str = ANY, *, session: AsyncSession | None = None
    ) -> bool:
        """Take a role (or a role's parent) away; False if there was no such link."""
        return await self._link(RoleLink.make(subject, role, domain), session, add=False)

    async def _link(self, link: RoleLink, session: AsyncSession | None, *, add: bool) -> bool:
        async with self._writing(session) as unit:
            if add:
                changed = await self._enforcer.add_named_grouping_policy("g", *link.line())
            else:
                changed = await self._enforcer.remove_named_grouping_policy("g", *link.line())
            if changed:
                await self._bump(unit)
        return bool(changed)

    async def roles_of(self, subject: str, department: str | None) -> tuple[str, ...]:
        """Direct and inherited roles of ``subject`` in its department (links in ``*`` apply)."""
        roles = await self._enforcer.get_implicit_roles_for_user(subject, department or ANY)
        return tuple(roles)

    # -- rules -----------------------------------------------------------------------------------

    async def grant(
        self,
        subject: str,
        domain: str,
        resource: str,
        fields: str,
        area: str,
        *,
        act: Act | str = Act.READ,
        purposes: Sequence[str] = (ANY,),
        session: AsyncSession | None = None,
    ) -> Rule:
        """Store a read, mask or write rule; granting a stored read rule again replaces its
        purposes."""
        rule = Rule.make(subject, domain, resource, fields, area, act, purposes)
        if rule.act is Act.DENY:
            raise PolicyError("use deny() for deny rules")
        return await self._put(rule, session)

    async def deny(
        self,
        subject: str,
        domain: str,
        resource: str,
        fields: str,
        area: str,
        *,
        session: AsyncSession | None = None,
    ) -> Rule:
        """Store a deny rule: it overrides every allow of those fields there (``*``: the rows)."""
        rule = Rule.make(subject, domain, resource, fields, area, Act.DENY)
        return await self._put(rule, session)

    async def _put(self, rule: Rule, session: AsyncSession | None) -> Rule:
        async with self._writing(session) as unit:
            changed = await self._enforcer.add_named_policy("p", *rule.policy_line())
            purpose_line = rule.purpose_line()
            if purpose_line is not None:
                stored = self._enforcer.get_filtered_named_policy("p2", 0, *rule.key)
                if stored != [purpose_line]:
                    if stored:
                        await self._enforcer.remove_filtered_named_policy("p2", 0, *rule.key)
                    await self._enforcer.add_named_policy("p2", *purpose_line)
                    changed = True
            if changed:
                await self._bump(unit)
        return rule

    async def revoke(
        self,
        subject: str,
        domain: str,
        resource: str,
        fields: str,
        area: str,
        act: Act | str,
        *,
        session: AsyncSession | None = None,
    ) -> bool:
        """Remove a rule (with its purposes); False if there was no such rule."""
        rule = Rule.make(subject, domain, resource, fields, area, act)
        async with self._writing(session) as unit:
            changed = await self._enforcer.remove_named_policy("p", *rule.policy_line())
            if rule.act is Act.READ:
                await self._enforcer.remove_filtered_named_policy("p2", 0, *rule.key)
            if changed:
                await self._bump(unit)
        return bool(changed)

    # -- grants ----------------------------------------------------------------------------------

    async def put_grant(
        self,
        role: str,
        domain: str,
        rules: Sequence[Rule],
        members: Sequence[str],
        *,
        session: AsyncSession,
    ) -> None:
        """Store a grant's ``rules`` (made for ``role`` in ``domain``) and give ``role`` to
        ``members`` there: one change, in the caller's transaction (with the grant's row)."""
        if any(rule.subject != role or rule.domain != domain for rule in rules):
            raise PolicyError(f"a grant's rules belong to {role} in {domain}")
        async with self._writing(session) as unit:
            for rule in rules:
                await self._enforcer.add_named_policy("p", *rule.policy_line())
                purpose_line = rule.purpose_line()
                if purpose_line is not None:
                    await self._enforcer.add_named_policy("p2", *purpose_line)
            for member in members:
                link = RoleLink.make(member, role, domain)
                await self._enforcer.add_named_grouping_policy("g", *link.line())
            await self._bump(unit)

    async def drop_grant(self, role: str, *, session: AsyncSession) -> bool:
        """Remove every line of a grant's role (its rules and who held it); False if none."""
        async with self._writing(session) as unit:
            removed = [
                await self._enforcer.remove_filtered_named_policy("p", 0, role),
                await self._enforcer.remove_filtered_named_policy("p2", 0, role),
                await self._enforcer.remove_filtered_named_grouping_policy("g", 1, role),
            ]
            if any(removed):
                await self._bump(unit)
        return any(removed)

    def grant_expiry(self, role: str) -> datetime | None:
        """When the grant behind ``role`` expires; None if it is not an active grant (revoked,
        expired and swept, or never made): its lines, if any are left, grant nothing."""
        return self._adapter.expiries.get(role)

    async def rules_for(self, subject: str, department: str | None) -> tuple[Rule, ...]:
        """The rules that apply to ``subject`` in its department: its own and its roles'.

        Call :meth:`refresh` first (the plan cache does, once per request).
        """
        domains = {ANY, department or ANY}
        subjects = (subject, *await self.roles_of(subject, department))
        return tuple(
            rule
            for name in subjects
            for rule in self._index.get(name, ())
            if rule.domain in domains
        )

    def list(self) -> Policy:
        """Every stored rule and role link, as loaded by the last :meth:`refresh`."""
        rules = tuple(rule for rules in self._index.values() for rule in rules)
        links = tuple(RoleLink(*line) for line in self._enforcer.get_named_grouping_policy("g"))
        return Policy(rules, links)

    # -- single decisions --------------------------------------------------------------------------

    def _area_match(self, subject: str, grid_code: str, area: str) -> bool:
        own = self._own.get(subject, ()) if area == OWN else ()
        return area_covers(expand_area(area, own), grid_code or None)

    async def may_write(
        self,
        principal: Principal,
        type_name: str,
        field_name: str,
        grid_code: str | None,
        purpose: str | None = None,
    ) -> bool:
        """Decide through Casbin whether the principal may write one field of one row: a
        write line covers it there and the field is read in full (ALLOW) there. The twin of
        ``ResourcePlan.writable``, held to it by the tests."""
        explained = await self.explain(principal, type_name, field_name, grid_code, purpose)
        if explained.decision is not Decision.ALLOW:
            return False
        request = (
            principal.subject,
            principal.department or ANY,
            f"{type_name}.{field_name}",
            grid_code or "",
        )
        return bool(self._enforcer.enforce(*request, Act.WRITE.value))

    async def explain(
        self,
        principal: Principal,
        type_name: str,
        field_name: str,
        grid_code: str | None,
        purpose: str | None = None,
    ) -> Explanation:
        """Decide one field of one row through Casbin, and name the rules that decided it.

        ``grid_code`` is the row's grid (None for rows of no place: matters, departments).
        """
        spec = FIELDS.get(type_name, {}).get(field_name)
        if spec is None:
            raise PolicyError(f"{type_name}.{field_name} is not a declared field")
        subject, department = principal.subject, principal.department
        self._own = {subject: principal.areas}
        request = (subject, department or ANY, f"{type_name}.{field_name}", grid_code or "")
        enforce: Callable[..., bool] = self._enforcer.enforce
        if enforce(*request, Act.READ.value):
            decision = Decision.ALLOW
            if spec.tier >= Tier.SENSITIVE and not (
                purpose and enforce(PURPOSE_CONTEXT, *request, purpose)
            ):
                # Without a covered purpose a mask still applies; only then is it refused.
                masked = enforce(*request, MASK_LINE)
                decision = Decision.MASK if masked else Decision.PURPOSE_REQUIRED
        elif enforce(*request, Act.MASK.value):
            decision = Decision.MASK
        else:
            decision = Decision.DENY
        covering = [
            rule
            for rule in await self.rules_for(subject, department)
            if rule.selector.covers(type_name, field_name)
            and area_covers(expand_area(rule.area, principal.areas), grid_code)
        ]
        deciding_act = {
            Decision.ALLOW: Act.READ,
            Decision.PURPOSE_REQUIRED: Act.READ,
            Decision.MASK: Act.MASK,
        }.get(decision, Act.DENY)
        deciding = [
            rule
            for rule in covering
            if rule.act is deciding_act
            and (
                decision is not Decision.ALLOW
                or spec.tier < Tier.SENSITIVE
                or purposes_cover(frozenset(rule.purposes), purpose)
            )
        ]
        roles = await self.roles_of(subject, department)
        return Explanation(decision, tuple(deciding), roles)
