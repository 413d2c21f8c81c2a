"""The policy store: rules persist in ``casbin_rule``, and every change bumps the version."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from policies.defaults import RULES, load_defaults
from policies.rules import ANY, Act, PolicyError, RoleLink, Rule
from policies.store import PolicyStore
from store.models import CasbinRule


async def stored_lines(engine: AsyncEngine) -> list[tuple[str | None, ...]]:
    table = CasbinRule.__table__
    async with engine.connect() as connection:
        rows = await connection.execute(
            select(
                table.c.ptype,
                table.c.v0,
                table.c.v1,
                table.c.v2,
                table.c.v3,
                table.c.v4,
                table.c.v5,
            )
        )
        return sorted(tuple(row) for row in rows)


async def test_rules_persist_for_another_store(store: PolicyStore, engine: AsyncEngine) -> None:
    before = await store.version()
    await store.add_role_parent("street_staff", "grid_worker")
    await store.assign("alice", "street_staff", "grid_office")
    await store.grant("grid_worker", ANY, "people", "tier:2", "own")
    await store.grant("grid_worker", ANY, "people", "birthDate", "own", purposes=["elderly_care"])
    await store.deny("grid_worker", ANY, "people", "careTags", "440306001")

    other = PolicyStore(engine)
    assert await other.refresh() == before + 5
    assert set(await other.rules_for("alice", "grid_office")) == {
        Rule.make("grid_worker", ANY, "people", "tier:2", "own"),
        Rule.make("grid_worker", ANY, "people", "birthDate", "own", "read", ["elderly_care"]),
        Rule.make("grid_worker", ANY, "people", "careTags", "440306001", "deny"),
    }
    assert await other.roles_of("alice", "grid_office") == ("street_staff", "grid_worker")
    assert set(other.list().links) == {
        RoleLink("street_staff", "grid_worker", ANY),
        RoleLink("alice", "street_staff", "grid_office"),
    }


async def test_the_stored_lines_are_the_documented_packing(
    store: PolicyStore, engine: AsyncEngine
) -> None:
    await store.grant(
        "civil_app", ANY, "people", "tier:3", "*", purposes=["social_assistance", "elderly_care"]
    )
    await store.grant("grid_worker", ANY, "people", "idNumber|phone", "own", act=Act.MASK)
    await store.deny("night", "housing", "*", "*", "440306001003")
    await store.assign("alice", "grid_worker", "grid_office")

    assert await stored_lines(engine) == [
        ("g", "alice", "grid_worker", "grid_office", None, None, None),
        ("p", "civil_app", "*", "people/tier:3", "*", "read", "allow"),
        ("p", "grid_worker", "*", "people/idNumber|phone", "own", "mask", "allow"),
        ("p", "night", "housing", "*/*", "440306001003", "*", "deny"),
        ("p2", "civil_app", "*", "people/tier:3", "*", "elderly_care|social_assistance", None),
    ]


async def test_a_change_that_changes_nothing_keeps_the_version(store: PolicyStore) -> None:
    await store.grant("a", ANY, "people", "tier:2", "*")
    await store.assign("alice", "a")
    version = await store.version()

    await store.grant("a", ANY, "people", "tier:2", "*")
    assert not await store.assign("alice", "a")
    assert not await store.revoke("a", ANY, "people", "tier:2", "*", Act.MASK)

    assert await store.version() == version


async def test_granting_again_replaces_the_purposes(
    store: PolicyStore, engine: AsyncEngine
) -> None:
    await store.grant("app", ANY, "people", "idNumber", "*", purposes=["case_handling"])
    version = await store.version()
    await store.grant("app", ANY, "people", "idNumber", "*", purposes=["elderly_care"])

    await store.refresh()
    assert await store.rules_for("app", None) == (
        Rule.make("app", ANY, "people", "idNumber", "*", "read", ["elderly_care"]),
    )
    assert await store.version() == version + 1
    assert [line for line in await stored_lines(engine) if line[0] == "p2"] == [
        ("p2", "app", "*", "people/idNumber", "*", "elderly_care", None)
    ]


async def test_revoking_a_read_rule_removes_its_purposes(
    store: PolicyStore, engine: AsyncEngine
) -> None:
    await store.grant("app", ANY, "people", "idNumber", "*", purposes=["case_handling"])
    await store.grant("app", ANY, "people", "idNumber", "*", act=Act.MASK)
    version = await store.version()

    assert await store.revoke("app", ANY, "people", "idNumber", "*", "read")

    assert await stored_lines(engine) == [
        ("p", "app", "*", "people/idNumber", "*", "mask", "allow")
    ]
    assert await store.version() == version + 1


async def test_a_rolled_back_change_leaves_nothing_behind(
    store: PolicyStore, engine: AsyncEngine
) -> None:
    version = await store.version()

    async def write_then_fail() -> None:
        async with store.transaction() as session:
            await store.grant("app", ANY, "people", "*", "*", session=session)
            await store.assign("alice", "app", session=session)
            raise RuntimeError("the caller's other write failed")

    with pytest.raises(RuntimeError, match="the caller's other write failed"):
        await write_then_fail()

    assert await store.refresh() == version
    assert await stored_lines(engine) == []
    assert await store.rules_for("app", None) == ()
    assert await store.roles_of("alice", None) == ()


async def test_changes_in_one_transaction_see_each_other(store: PolicyStore) -> None:
    async with store.transaction() as session:
        await store.grant("app", ANY, "people", "*", "*", session=session)
        assert await store.revoke("app", ANY, "people", "*", "*", "read", session=session)
        await store.grant("app", ANY, "houses", "*", "*", session=session)

    await store.refresh()
    assert await store.rules_for("app", None) == (Rule.make("app", ANY, "houses", "*", "*"),)


async def test_bad_rules_are_refused_before_anything_is_written(
    store: PolicyStore, engine: AsyncEngine
) -> None:
    with pytest.raises(PolicyError):
        await store.grant("app", ANY, "people", "tier:9", "*")
    with pytest.raises(PolicyError, match="deny"):
        await store.grant("app", ANY, "people", "*", "*", act=Act.DENY)
    with pytest.raises(PolicyError, match="own role"):
        await store.assign("app", "app")
    assert await stored_lines(engine) == []


async def test_the_defaults_load_once(store: PolicyStore) -> None:
    await load_defaults(store)
    version = await store.version()
    await load_defaults(store)

    assert await store.version() == version
    await store.refresh()
    assert len(store.list().rules) == len(RULES)
    assert await store.roles_of("someone", "grid_office") == ()
    await store.assign("someone", "street_staff", "grid_office")
    assert await store.roles_of("someone", "grid_office") == (
        "street_staff",
        "community_staff",
        "grid_worker",
        "reference_reader",
    )


async def test_a_grants_lines_come_and_go_together(store: PolicyStore, engine: AsyncEngine) -> None:
    role = "grant:999999"
    rule = Rule.make(role, "housing", "people", "name|phone", "440306001", Act.READ, ["visit"])
    version = await store.version()
    async with store.transaction() as session:
        await store.put_grant(role, "housing", [rule], ["housing_app"], session=session)
    assert await store.version() == version + 1
    assert await stored_lines(engine) == [
        ("g", "housing_app", role, "housing", None, None, None),
        ("p", role, "housing", "people/name|phone", "440306001", "read", "allow"),
        ("p2", role, "housing", "people/name|phone", "440306001", "visit", None),
    ]
    async with store.transaction() as session:
        assert await store.drop_grant(role, session=session) is True
    assert await stored_lines(engine) == []
    assert await store.version() == version + 2
    async with store.transaction() as session:
        assert await store.drop_grant(role, session=session) is False
    assert await store.version() == version + 2


async def test_a_grants_rules_are_its_roles(store: PolicyStore) -> None:
    stray = Rule.make("housing_app", "housing", "people", "name", "*")
    async with store.transaction() as session:
        with pytest.raises(PolicyError):
            await store.put_grant("grant:1", "housing", [stray], [], session=session)
