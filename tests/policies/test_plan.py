"""The compiled plan: row predicates against the seeded database, value reach, filtering,
the description for ``Query.me``, and the plan cache."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from casbin import AsyncEnforcer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from demo import District
from policies import masking
from policies.decision import Decision
from policies.defaults import load_defaults
from policies.grants import grant_role
from policies.plan import AccessPlan, PlanCache, compile_plan
from policies.principal import Principal
from policies.rules import ANY, OWN, Act, Rule
from policies.store import PolicyStore
from store.models import Matter, Person
from tests.conftest import GraphQL

STREET = "440306001"
COMMUNITY = "440306001001"
GRID = "440306001001001"
NEIGHBOUR = "440306001002001"
PEOPLE = Person.__table__


def rule(resource: str, fields: str, area: str, act: str, purposes: str = "*") -> Rule:
    return Rule.make("alice", ANY, resource, fields, area, act, purposes.split("|"))


def plan_of(
    rules: Sequence[tuple[str, ...]], purpose: str | None = None, areas: tuple[str, ...] = ()
) -> AccessPlan:
    """A plan of the principal's own rules (no store: the compiler alone)."""
    made = tuple(rule(*row) for row in rules)
    return AccessPlan(Principal("alice", areas=areas), purpose, 0, (), made)


# -- rows --------------------------------------------------------------------------------------


@st.composite
def rule_sets(draw: st.DrawFn, codes: list[str]) -> tuple[list[Rule], tuple[str, ...]]:
    rules = draw(
        st.lists(
            st.builds(
                rule,
                st.just("people"),
                st.sampled_from(["*", "tier:1", "tier:3", "tier:4", "name", "idNumber|phone"]),
                st.sampled_from([*codes, ANY, OWN]),
                st.sampled_from(list(Act)),
            ),
            max_size=6,
        )
    )
    own = tuple(draw(st.lists(st.sampled_from(codes), max_size=3, unique=True)))
    return rules, own


def expected_rows(district: District, rules: list[Rule], own: tuple[str, ...]) -> list[str]:
    """The rows under an allowed area and not under a denied one, computed without the plan."""

    def codes(rule: Rule) -> list[str]:
        return [""] if rule.area == ANY else list(own) if rule.area == OWN else [rule.area]

    # A write rule shows nothing by itself: rows are shown by reads and masks.
    shown = [c for r in rules if r.act in (Act.READ, Act.MASK) for c in codes(r)]
    hidden = [c for r in rules if r.act is Act.DENY and r.fields == "*" for c in codes(r)]
    return sorted(
        person["grid_code"]
        for person in district.people
        if any(person["grid_code"].startswith(c) for c in shown)
        and not any(person["grid_code"].startswith(c) for c in hidden)
    )


@pytest.fixture(scope="module")
def area_codes(district: District) -> list[str]:
    """Every area code of the district, at every level."""
    return sorted({grid["code"] for grid in district.grids})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
async def test_the_row_predicate_selects_exactly_the_allowed_rows(
    engine: AsyncEngine, district: District, area_codes: list[str], data: st.DataObject
) -> None:
    rules, own = data.draw(rule_sets(area_codes))
    plan = AccessPlan(Principal("alice", areas=own), None, 0, (), tuple(rules))
    people = plan.resource("people")

    async with engine.connect() as connection:
        found = sorted(
            await connection.scalars(
                select(PEOPLE.c.grid_code).where(people.rows(PEOPLE.c.grid_code))
            )
        )

    assert found == expected_rows(district, rules, own)
    assert found == sorted(
        p["grid_code"] for p in district.people if people.visible(p["grid_code"])
    )


#: Areas of one lineage (and a neighbour), so that rules' areas often nest.
LINEAGE = [ANY, OWN, "440306", STREET, COMMUNITY, GRID, NEIGHBOUR]


@st.composite
def nested_rule_sets(draw: st.DrawFn) -> tuple[list[Rule], tuple[str, ...]]:
    rules = draw(
        st.lists(
            st.builds(
                rule,
                st.just("people"),
                st.sampled_from(["*", "tier:1", "tier:2", "name", "gridCode", "name|gridCode"]),
                st.sampled_from(LINEAGE),
                st.sampled_from(list(Act)),
            ),
            min_size=1,
            max_size=6,
        )
    )
    own = tuple(draw(st.lists(st.sampled_from(LINEAGE[2:]), max_size=2, unique=True)))
    return rules, own


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
async def test_shown_rows_are_exactly_where_the_rows_decision_shows_the_field(
    engine: AsyncEngine, district: District, data: st.DataObject
) -> None:
    """The SQL twin of the per-row decisions (what a map view draws by): ALLOW, or MASK of a
    field whose mask hides nothing (``gridCode``); a masked name is not shown as it is. Each
    field asked of one plan, one after the other, gets its own rows (a map with a layer per
    field asks one plan for several)."""
    rules, own = data.draw(nested_rule_sets())
    fields = data.draw(st.permutations(["name", "gridCode"]))
    plan = AccessPlan(Principal("alice", areas=own), None, 0, (), tuple(rules))
    people = plan.resource("people")

    for field in fields:
        shown_as_is = {Decision.ALLOW} | ({Decision.MASK} if field == "gridCode" else set())
        async with engine.connect() as connection:
            found = sorted(
                await connection.scalars(
                    select(PEOPLE.c.id).where(
                        people.shown_rows(PEOPLE.c.grid_code, field, "Person")
                    )
                )
            )

        assert found == sorted(
            p["id"]
            for p in district.people
            if people.decisions(p["grid_code"], "Person")[field] in shown_as_is
        ), field


async def test_a_rule_removing_everything_everywhere_leaves_no_row_beside_any_other(
    engine: AsyncEngine,
) -> None:
    """Deny over allow, at the widest: a rule removing every field of a resource everywhere
    leaves none of its rows, whatever else shows them (everywhere, or in one street)."""
    for shown in ("*", "440306001"):
        plan = plan_of([("people", "*", shown, "read"), ("people", "*", "*", "deny")])
        async with engine.connect() as connection:
            found = await connection.scalar(
                select(func.count()).where(plan.rows("people", PEOPLE.c.grid_code))
            )
        assert found == 0, shown


async def test_no_rule_no_rows_and_rows_of_no_place(engine: AsyncEngine) -> None:
    nothing = plan_of([])
    matters = plan_of([("matters", "*", "*", "read")])
    async with engine.connect() as connection:
        assert (
            await connection.scalar(
                select(PEOPLE.c.id).where(nothing.rows("people", PEOPLE.c.grid_code))
            )
            is None
        )
        assert (
            await connection.scalar(select(Matter.code).where(nothing.rows("matters", None)))
            is None
        )
        assert await connection.scalar(select(Matter.code).where(matters.rows("matters", None)))


def test_the_predicate_is_as_small_as_the_areas_allow() -> None:
    plan = plan_of(
        [
            ("people", "tier:2", STREET, "read"),
            ("people", "name", COMMUNITY, "mask"),  # inside STREET: adds nothing
            ("people", "*", "440306002", "deny"),  # outside every shown area: irrelevant
        ]
    )
    sql = str(
        plan.rows("people", PEOPLE.c.grid_code).compile(compile_kwargs={"literal_binds": True})
    )
    assert sql == "people.grid_code >= '440306001' AND people.grid_code < '440306002'"


# -- values, filtering, description ------------------------------------------------------


def people(fields: str, area: str, act: str, purposes: str = "*") -> tuple[str, ...]:
    return ("people", fields, area, act, purposes)


REACH = {
    "tier:3 reaches 3": ([people("tier:3", "*", "read")], "x", 3),
    "tier:4 reaches the core tags": ([people("tier:4", "*", "read")], "x", 4),
    "naming the field reaches its tier": ([people("careTags", "*", "read")], "x", 3),
    "all fields reach all": ([people("*", "*", "read")], "x", 4),
    "the mask shows the age tags": ([people("careTags", "*", "mask")], None, 2),
    "without a purpose nothing": ([people("careTags", "*", "read")], None, 0),
    "only the rules serving the purpose": (
        [people("tier:4", "*", "read", "a"), people("careTags", "*", "read", "b")],
        "b",
        3,
    ),
}


@pytest.mark.parametrize(("rules", "purpose", "reach"), REACH.values(), ids=REACH.keys())
def test_care_tags_reach_as_far_as_the_deciding_rules(
    rules: list[tuple[str, ...]], purpose: str | None, reach: int
) -> None:
    assert plan_of(rules, purpose).resource("people").reach(GRID, "careTags") == reach


WORKER = [people("tier:2", "own", "read"), people("idNumber", "own", "mask")]
FILTERING = {
    "an allowed field": (WORKER, None, "name", True),
    "a masked field": (WORKER, None, "idNumber", False),
    "a denied field": (WORKER, None, "birthDate", False),
    "masked in part of the areas": (
        [people("name", COMMUNITY, "read"), people("name", STREET, "mask")],
        None,
        "name",
        False,
    ),
    "denied in part of the areas": (
        [people("name", STREET, "read"), people("name", COMMUNITY, "deny")],
        None,
        "name",
        False,
    ),
    "rows removed where it is not allowed": (
        [people("name", STREET, "read"), people("*", COMMUNITY, "deny")],
        None,
        "name",
        True,
    ),
    "allowed everywhere but one area": (
        [people("name", "*", "read"), people("name", COMMUNITY, "deny")],
        None,
        "name",
        False,
    ),
    "with the purpose": ([people("idNumber", "*", "read", "case")], "case", "idNumber", True),
    "without the purpose": ([people("idNumber", "*", "read", "case")], None, "idNumber", False),
    "nothing visible": ([], None, "name", False),
}


@pytest.mark.parametrize(
    ("rules", "purpose", "field", "filterable"), FILTERING.values(), ids=FILTERING.keys()
)
def test_filtering_needs_allow_everywhere_visible(
    rules: list[tuple[str, ...]], purpose: str | None, field: str, filterable: bool
) -> None:
    plan = plan_of(rules, purpose, areas=(STREET,))
    assert plan.filterable("Person", field) is filterable


def test_the_description_lists_areas_and_what_is_not_denied() -> None:
    plan = plan_of(
        [("people", "tier:2", "own", "read"), ("people", "idNumber", COMMUNITY, "mask")],
        areas=(STREET,),
    )
    people = plan.describe()["people"]
    assert people.areas == (STREET,)
    assert set(people.fields) == {STREET, COMMUNITY}
    assert people.fields[STREET]["Person.name"] is Decision.ALLOW
    assert "Person.idNumber" not in people.fields[STREET]
    assert people.fields[COMMUNITY]["Person.idNumber"] is Decision.MASK
    assert plan.describe()["houses"].areas == ()


def test_decisions_are_memoized_per_grid() -> None:
    people = plan_of([("people", "tier:2", STREET, "read")]).resource("people")
    assert people.decisions(GRID) is people.decisions(GRID)
    assert people.decisions(GRID) is people.decisions(NEIGHBOUR)  # the same rules cover both


# -- with the store ------------------------------------------------------------------------------


async def test_a_plan_is_compiled_without_a_casbin_call_per_row(
    store: PolicyStore, district: District, monkeypatch: pytest.MonkeyPatch
) -> None:
    await store.grant("grid_worker", ANY, "*", "tier:2", OWN)
    await store.assign("alice", "grid_worker", ANY)

    def no_enforce(*_: object) -> bool:
        raise AssertionError("enforce() called while compiling or using a plan")

    monkeypatch.setattr(AsyncEnforcer, "enforce", no_enforce)
    plan = await compile_plan(store, Principal("alice", areas=(STREET,)), None)
    for person in district.people:
        plan.decisions("Person", person["grid_code"])
    assert plan.roles == ("grid_worker",)
    assert plan.decisions("Person", GRID)["name"] is Decision.ALLOW


async def test_the_cache_keeps_a_plan_until_the_policy_changes(store: PolicyStore) -> None:
    await store.grant("alice", ANY, "people", "tier:2", ANY)
    cache = PlanCache(store)
    alice = Principal("alice", department="grid_office", areas=(STREET,))

    first = await cache.plan_for(alice, None)
    assert await cache.plan_for(alice, None) is first
    assert cache.lookup(alice, None, first.version) is first
    assert await cache.plan_for(alice, "elderly_care") is not first
    assert await cache.plan_for(Principal("alice", areas=(COMMUNITY,)), None) is not first

    await store.grant("alice", ANY, "people", "idNumber", ANY, act=Act.MASK)
    changed = await cache.plan_for(alice, None)

    assert changed is not first
    assert changed.version > first.version
    assert changed.decisions("Person", GRID)["idNumber"] is Decision.MASK
    assert await cache.plan_for(alice, None) is changed


async def test_a_compiled_plan_drives_the_api(
    store: PolicyStore, gql: GraphQL, district: District
) -> None:
    """AccessPlan is the resolvers' Plan: a grid worker sees own rows, masked as declared."""
    await load_defaults(store)
    await store.assign("alice", "grid_worker", "grid_office")
    alice = Principal("alice", department="grid_office", areas=(COMMUNITY,))
    plan = await compile_plan(store, alice, None)

    body = await gql(
        "{ people(first: 500) { totalCount edges { node { name idNumber gridCode birthDate } } } }",
        plan=plan,
    )

    people = body["data"]["people"]
    mine = [p for p in district.people if p["grid_code"].startswith(COMMUNITY)]
    assert people["totalCount"] == len(mine)
    first = people["edges"][0]["node"]
    assert first["gridCode"].startswith(COMMUNITY)
    assert first["idNumber"] == masking.id_number(mine[0]["id_number"])
    assert first["name"] == mine[0]["name"]
    assert first["birthDate"] is None
    assert {e["extensions"]["code"] for e in body["errors"]} == {"FORBIDDEN"}


async def test_a_grant_counts_until_it_expires(
    store: PolicyStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A grant's role counts only while its grant is active and not past its expiry: a plan
    leaves it out from then on, and the cache does not serve a plan past it (the sweep that
    removes the lines may come later)."""
    role = grant_role(999_999)
    await store.grant(role, "housing", "houses", "use", ANY)
    await store.assign("alice", role, "housing")
    alice = Principal("alice", department="housing")
    ends = datetime(2030, 1, 1, tzinfo=UTC)
    second = timedelta(seconds=1)

    # No active grant behind the role (never made, revoked, swept): its lines grant nothing.
    unknown = await compile_plan(store, alice, None, now=ends - second)
    assert unknown.decisions("House", GRID)["use"] is Decision.DENY
    assert role not in unknown.roles

    monkeypatch.setattr(store, "grant_expiry", lambda name: ends if name == role else None)
    live = await compile_plan(store, alice, None, now=ends - second)
    assert live.decisions("House", GRID)["use"] is Decision.ALLOW
    assert (live.expires_at, live.roles) == (ends, (role,))
    lapsed = await compile_plan(store, alice, None, now=ends)
    assert lapsed.decisions("House", GRID)["use"] is Decision.DENY
    assert (lapsed.expires_at, lapsed.roles) == (None, ())

    now = [ends - second]
    cache = PlanCache(store, clock=lambda: now[0])
    first = await cache.plan_for(alice, None)
    assert await cache.plan_for(alice, None) is first
    now[0] = ends
    assert cache.lookup(alice, None, first.version) is None
    again = await cache.plan_for(alice, None)
    assert again.decisions("House", GRID)["use"] is Decision.DENY
    assert await cache.plan_for(alice, None) is again  # no grant left: kept as long as it holds


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_an_area_said_not_to_split_keeps_all_the_rows_seen_or_none(
    district: District, area_codes: list[str], data: st.DataObject
) -> None:
    """What lets an area filter go without ``gridCode``: if the plan says the area does not
    split the rows it shows, filtering by it keeps all of them or none, so it tells nothing."""
    rules, own = data.draw(rule_sets(area_codes))
    area = data.draw(st.sampled_from(area_codes))
    people = AccessPlan(Principal("alice", areas=own), None, 0, (), tuple(rules)).resource("people")
    seen = [p["grid_code"] for p in district.people if people.visible(p["grid_code"])]
    kept = [code for code in seen if code.startswith(area)]
    if not people.area_splits(area):
        assert kept == [] or kept == seen
