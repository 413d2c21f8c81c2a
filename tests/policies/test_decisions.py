"""Field decisions as tables: (rules, principal, Type.field, grid, purpose) → decision.

Each case is decided twice, by the compiled plan and by Casbin's model (``store.explain``):
the two must agree, so the model file and the compiler can never drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine

from policies.decision import Decision
from policies.plan import compile_plan
from policies.principal import Principal
from policies.rules import Act
from policies.store import PolicyStore
from store.models import CasbinRule

STREET = "440306001"
COMMUNITY = "440306001001"
GRID = "440306001001001"  # in STREET and COMMUNITY
NEIGHBOUR = "440306001002001"  # in STREET, not in COMMUNITY
ELSEWHERE = "440306002001001"  # in neither

ALLOW, MASK, DENY = Decision.ALLOW, Decision.MASK, Decision.DENY
PURPOSE_REQUIRED = Decision.PURPOSE_REQUIRED

# A rule: (subject, domain, resource, fields, area, act[, purposes]); a link: (member, role, domain)
RuleRow = tuple[str, ...] | tuple[str, str, str, str, str, str, tuple[str, ...]]


@dataclass(frozen=True)
class Case:
    rules: tuple[RuleRow, ...]
    field: str
    expected: Decision
    grid: str | None = GRID
    purpose: str | None = None
    links: tuple[tuple[str, str, str], ...] = ()
    principal: Principal = field(default_factory=lambda: Principal("alice", areas=(STREET,)))


CASES: dict[str, Case] = {
    "nothing granted: deny by default": Case((), "Person.name", DENY),
    "a tier rule covers lower tiers": Case(
        (("alice", "*", "people", "tier:2", "*", "read"),), "Person.name", ALLOW
    ),
    "a tier rule does not reach higher tiers": Case(
        (("alice", "*", "people", "tier:2", "*", "read"),), "Person.idNumber", DENY
    ),
    "a rule of another resource does not apply": Case(
        (("alice", "*", "houses", "*", "*", "read"),), "Person.name", DENY
    ),
    "a name rule with its purpose": Case(
        (("alice", "*", "people", "idNumber", "*", "read", ("case_handling",)),),
        "Person.idNumber",
        ALLOW,
        purpose="case_handling",
    ),
    "tier 3 without a purpose": Case(
        (("alice", "*", "people", "idNumber", "*", "read", ("case_handling",)),),
        "Person.idNumber",
        PURPOSE_REQUIRED,
    ),
    "tier 3 for a purpose the rule does not serve": Case(
        (("alice", "*", "people", "idNumber", "*", "read", ("case_handling",)),),
        "Person.idNumber",
        PURPOSE_REQUIRED,
        purpose="elderly_care",
    ),
    "tier 3 without a purpose falls back to a mask rule": Case(
        (
            ("alice", "*", "people", "idNumber", "*", "read", ("case_handling",)),
            ("alice", "*", "people", "idNumber", "*", "mask", ()),
        ),
        "Person.idNumber",
        MASK,
    ),
    "tier 3 with the purpose reads through a mask rule": Case(
        (
            ("alice", "*", "people", "idNumber", "*", "read", ("case_handling",)),
            ("alice", "*", "people", "idNumber", "*", "mask", ()),
        ),
        "Person.idNumber",
        ALLOW,
        purpose="case_handling",
    ),
    "purposes * serve any declared purpose": Case(
        (("alice", "*", "people", "tier:3", "*", "read", ("*",)),),
        "Person.phone",
        ALLOW,
        purpose="anything_declared",
    ),
    "purposes * still need one declared": Case(
        (("alice", "*", "people", "tier:3", "*", "read", ("*",)),), "Person.phone", PURPOSE_REQUIRED
    ),
    "tier 2 needs no purpose": Case(
        (("alice", "*", "people", "tier:3", "*", "read", ("case_handling",)),), "Person.name", ALLOW
    ),
    "a mask": Case(
        (("alice", "*", "people", "idNumber|phone", "*", "mask"),), "Person.phone", MASK
    ),
    "a mask needs no purpose": Case(
        (("alice", "*", "people", "tier:4", "*", "mask"),), "Person.idNumber", MASK
    ),
    "a read beats a mask": Case(
        (
            ("alice", "*", "people", "name", "*", "mask"),
            ("alice", "*", "people", "tier:2", "*", "read"),
        ),
        "Person.name",
        ALLOW,
    ),
    "a deny overrides a read": Case(
        (
            ("alice", "*", "people", "tier:3", "*", "read", ("*",)),
            ("alice", "*", "people", "idNumber", COMMUNITY, "deny"),
        ),
        "Person.idNumber",
        DENY,
        purpose="case_handling",
    ),
    "a deny overrides a mask": Case(
        (
            ("alice", "*", "people", "idNumber", "*", "mask"),
            ("alice", "*", "people", "tier:4", "*", "deny"),
        ),
        "Person.idNumber",
        DENY,
    ),
    "a deny covers only its fields": Case(
        (
            ("alice", "*", "people", "tier:3", "*", "read", ("*",)),
            ("alice", "*", "people", "idNumber", COMMUNITY, "deny"),
        ),
        "Person.phone",
        ALLOW,
        purpose="case_handling",
    ),
    "a deny covers only its area": Case(
        (
            ("alice", "*", "people", "tier:2", STREET, "read"),
            ("alice", "*", "people", "name", COMMUNITY, "deny"),
        ),
        "Person.name",
        ALLOW,
        grid=NEIGHBOUR,
    ),
    "an area code covers the grids under it": Case(
        (("alice", "*", "people", "tier:2", COMMUNITY, "read"),), "Person.name", ALLOW
    ),
    "an area code covers nothing outside": Case(
        (("alice", "*", "people", "tier:2", COMMUNITY, "read"),),
        "Person.name",
        DENY,
        grid=NEIGHBOUR,
    ),
    "own: the principal's areas": Case(
        (("alice", "*", "people", "tier:2", "own", "read"),), "Person.name", ALLOW
    ),
    "own: nothing outside them": Case(
        (("alice", "*", "people", "tier:2", "own", "read"),),
        "Person.name",
        DENY,
        grid=ELSEWHERE,
    ),
    "own: nothing for a principal without areas": Case(
        (("alice", "*", "people", "tier:2", "own", "read"),),
        "Person.name",
        DENY,
        principal=Principal("alice"),
    ),
    "area * covers rows of no place": Case(
        (("alice", "*", "matters", "*", "*", "read"),), "Matter.name", ALLOW, grid=None
    ),
    "an area code does not cover rows of no place": Case(
        (("alice", "*", "*", "*", "440306", "read"),), "Matter.name", DENY, grid=None
    ),
    "a role's rules": Case(
        (("grid_worker", "*", "people", "tier:2", "own", "read"),),
        "Person.name",
        ALLOW,
        links=(("alice", "grid_worker", "*"),),
    ),
    "inheritance through two roles": Case(
        (("grid_worker", "*", "people", "idNumber", "own", "mask"),),
        "Person.idNumber",
        MASK,
        links=(
            ("alice", "street_staff", "*"),
            ("street_staff", "community_staff", "*"),
            ("community_staff", "grid_worker", "*"),
        ),
    ),
    "a deny of a parent role reaches the children": Case(
        (
            ("community_staff", "*", "people", "tier:2", "own", "read"),
            ("grid_worker", "*", "people", "name", "own", "deny"),
        ),
        "Person.name",
        DENY,
        links=(("alice", "community_staff", "*"), ("community_staff", "grid_worker", "*")),
    ),
    "a role held in the principal's department": Case(
        (("housing_app", "*", "houses", "*", "*", "read"),),
        "House.use",
        ALLOW,
        links=(("alice", "housing_app", "housing"),),
        principal=Principal("alice", "client", "housing"),
    ),
    "a role held in another department does not apply": Case(
        (("housing_app", "*", "houses", "*", "*", "read"),),
        "House.use",
        DENY,
        links=(("alice", "housing_app", "housing"),),
        principal=Principal("alice", "client", "civil_affairs"),
    ),
    "a rule in another department's domain does not apply": Case(
        (("reader", "housing", "houses", "*", "*", "read"),),
        "House.use",
        DENY,
        links=(("alice", "reader", "*"),),
        principal=Principal("alice", "client", "civil_affairs"),
    ),
    "a rule in the principal's department's domain applies": Case(
        (("reader", "housing", "houses", "*", "*", "read"),),
        "House.use",
        ALLOW,
        links=(("alice", "reader", "*"),),
        principal=Principal("alice", "client", "housing"),
    ),
    "a principal without a department gets only rules of every department": Case(
        (
            ("alice", "housing", "houses", "*", "*", "read"),
            ("alice", "*", "houses", "use", "*", "mask"),
        ),
        "House.use",
        MASK,
    ),
    "a role's parent linked in one department only": Case(
        (("base", "*", "houses", "*", "*", "read"),),
        "House.use",
        DENY,
        links=(("alice", "app", "*"), ("app", "base", "housing")),
        principal=Principal("alice", "client", "civil_affairs"),
    ),
}


async def given_policy(store: PolicyStore, case: Case) -> None:
    async with store.transaction() as session:
        for member, role, domain in case.links:
            await store.assign(member, role, domain, session=session)
        for subject, domain, resource, fields, area, act, *purposes in case.rules:
            if act == Act.DENY:
                await store.deny(subject, domain, resource, fields, area, session=session)
            else:
                await store.grant(
                    subject,
                    domain,
                    resource,
                    fields,
                    area,
                    act=act,
                    purposes=purposes[0] if purposes else ("*",),
                    session=session,
                )


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
async def test_decision(store: PolicyStore, case: Case) -> None:
    await given_policy(store, case)
    type_name, _, field_name = case.field.partition(".")

    plan = await compile_plan(store, case.principal, case.purpose)
    explained = await store.explain(case.principal, type_name, field_name, case.grid, case.purpose)

    assert plan.decisions(type_name, case.grid)[field_name] is case.expected
    assert explained.decision is case.expected
    deciding_act = {ALLOW: Act.READ, PURPOSE_REQUIRED: Act.READ, MASK: Act.MASK}
    if case.expected is DENY:  # by a deny rule, or by default: then no rule at all
        assert all(rule.act is Act.DENY for rule in explained.rules)
    else:
        assert explained.rules
        assert all(rule.act is deciding_act[case.expected] for rule in explained.rules)


# -- the model and the compiler agree on any policy ------------------------------------------------

SUBJECTS = ["alice", "role_a", "role_b"]
DOMAINS = ["*", "housing", "civil_affairs"]
FIELD_SPECS = ["*", "tier:1", "tier:2", "tier:3", "tier:4", "name", "idNumber|careTags", "room"]
AREAS = [STREET, COMMUNITY, GRID, "440306002", "own", "*"]
PURPOSES = [("*",), ("case_handling",), ("case_handling", "elderly_care")]
PROBES = ["Person.name", "Person.idNumber", "Person.careTags", "Person.room", "House.use"]

random_rules = st.lists(
    st.tuples(
        st.sampled_from(SUBJECTS),
        st.sampled_from(DOMAINS),
        st.sampled_from(["people", "*"]),
        st.sampled_from(FIELD_SPECS),
        st.sampled_from(AREAS),
        st.sampled_from([a.value for a in Act]),
        st.sampled_from(PURPOSES),
    ),
    max_size=6,
)


async def clear(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(delete(CasbinRule.__table__))


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    rules=random_rules,
    department=st.sampled_from(["housing", "civil_affairs", None]),
    areas=st.lists(st.sampled_from([STREET, COMMUNITY, "440306002"]), max_size=2, unique=True),
    purpose=st.sampled_from([None, "case_handling", "elderly_care"]),
)
async def test_the_model_and_the_compiler_agree(
    store: PolicyStore,
    engine: AsyncEngine,
    rules: list[RuleRow],
    department: str | None,
    areas: list[str],
    purpose: str | None,
) -> None:
    await clear(engine)
    links = (("alice", "role_a", "housing"), ("role_a", "role_b", "*"))
    await given_policy(store, Case(tuple(rules), "", DENY, links=links))
    alice = Principal("alice", department=department, areas=tuple(areas))

    plan = await compile_plan(store, alice, purpose)

    for probe in PROBES:
        type_name, _, field_name = probe.partition(".")
        for grid in (GRID, NEIGHBOUR, ELSEWHERE):
            explained = await store.explain(alice, type_name, field_name, grid, purpose)
            assert plan.decisions(type_name, grid)[field_name] is explained.decision, (probe, grid)
            writes = await store.may_write(alice, type_name, field_name, grid, purpose)
            assert (field_name in plan.writable(type_name, grid)) is writes, (probe, grid)
