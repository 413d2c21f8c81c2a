"""``history`` on the shared types: the same changes ``recordHistory`` shows, cut the same way
(a masked field's values masked, a field the caller may not read left out, a record outside
the plan null), for a whole page in one statement; the compiled path leaves it to the
resolvers and both paths agree."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import delete, insert
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.testclient import TestClient

from auth.principal import Identity
from demo import District
from hub.app import create_app
from hub.settings import Settings
from policies.access import Access
from resolvers.ids import to_global_id
from store.models import RowChange
from tests.conftest import GraphQL, StatementCounter
from tests.resolvers.test_compiled_differential import _compare
from tests.tasks.conftest import NOW
from tests.tasks.test_loop import GRID, NEIGHBOUR, WORKER, Caller

CHANGE = "field oldValue newValue changedByKind changedBy sourceRef department"
PERSON = f"""query($id: ID!) {{ person(id: $id) {{ name history {{ {CHANGE} }} }}
  recordHistory(id: $id) {{ {CHANGE} }} }}"""
HOUSES = """{ grid(code: "440306001001001") { houses(first: 20) { edges { node { code
  history { field newValue } } } } } }"""


@pytest.fixture(scope="module")
def caller(settings: Settings, token_for: Callable[[str], str]) -> Iterator[Caller]:
    with TestClient(create_app(settings)) as client:
        yield Caller(client, token_for)


@pytest.fixture
async def changes(engine: AsyncEngine, district: District) -> AsyncIterator[dict[str, Any]]:
    """Feed changes of a person of the worker's grid (phone, residence kind, birth date) and
    of two of its houses."""
    person = next(p for p in district.people if p["grid_code"] == GRID)
    houses = [h for h in district.houses if h["grid_code"] == GRID][:2]
    rows = [
        ("people", str(person["id"]), "phone", "13800001234", "13912345678"),
        ("people", str(person["id"]), "residenceKind", "OWNER", "RENTER"),
        ("people", str(person["id"]), "birthDate", "1950-01-01", "1950-02-01"),
        *(("houses", h["code"], "floors", "6", "7") for h in houses),
    ]
    table = RowChange.__table__
    async with engine.begin() as connection:
        await connection.execute(delete(table))
        await connection.execute(
            insert(table),
            [
                {
                    "target": target,
                    "row_key": key,
                    "field": field,
                    "old_value": old,
                    "new_value": new,
                    "changed_at": NOW + timedelta(minutes=i),
                    "changed_by_kind": "feed",
                    "changed_by": "GA-RK-FEED",
                    "source_ref": "GA-RK-FEED/3",
                    "department": "public_security",
                }
                for i, (target, key, field, old, new) in enumerate(rows)
            ],
        )
    yield {"person": person, "houses": houses}
    async with engine.begin() as connection:
        await connection.execute(delete(table))


async def test_a_persons_history_is_record_history_cut_by_the_plan(
    caller: Caller, changes: dict[str, Any]
) -> None:
    key = to_global_id("Person", changes["person"]["id"])
    data = caller.data(WORKER, PERSON, {"id": key})
    history = data["person"]["history"]
    assert history == data["recordHistory"]
    # Newest first; the phone masked as the worker reads phones; the birth date (not read by a
    # grid worker) left out.
    assert [c["field"] for c in history] == ["residenceKind", "phone"]
    assert (history[0]["oldValue"], history[0]["newValue"]) == ("OWNER", "RENTER")
    assert history[1]["oldValue"] == "138****1234"
    assert history[1]["newValue"] == "139****5678"
    # Outside the neighbour's plan the person does not exist, nor its history.
    other = caller.data(NEIGHBOUR, PERSON, {"id": key})
    assert other == {"person": None, "recordHistory": None}
    # `first` keeps the newest; out of range is refused.
    one = caller.data(
        WORKER, "query($id: ID!) { person(id: $id) { history(first: 1) { field } } }", {"id": key}
    )
    assert one["person"]["history"] == [{"field": "residenceKind"}]
    body, _ = caller.post(
        WORKER, "query($id: ID!) { person(id: $id) { history(first: 999) { field } } }", {"id": key}
    )
    assert body["data"] == {"person": {"history": None}}
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_a_page_of_houses_reads_its_history_in_one_statement(
    gql: GraphQL,
    statements: StatementCounter,
    changes: dict[str, Any],
    access: Access,
    settings: Settings,
    engine: AsyncEngine,
) -> None:
    identity = Identity(WORKER, "person", None, settings.issuer, None)
    async with engine.connect() as connection:
        plan = await access.plan_for(identity, None, connection)
    with statements:
        body = await gql(HOUSES, plan=plan)
    assert "errors" not in body, body
    found = {
        e["node"]["code"]: e["node"]["history"] for e in body["data"]["grid"]["houses"]["edges"]
    }
    changed = {h["code"] for h in changes["houses"]}
    assert {code for code, history in found.items() if history} == changed
    assert all(found[code] == [{"field": "floors", "newValue": "7"}] for code in changed)
    history_reads = [s for s in statements.statements if "row_history" in s]
    assert len(history_reads) == 1, history_reads


@pytest.mark.parametrize("subject", [WORKER, "community-440306001001", "housing-app"])
async def test_both_paths_agree_on_history_and_it_is_left_to_the_resolvers(
    settings: Settings, engine: AsyncEngine, access: Access, subject: str, changes: dict[str, Any]
) -> None:
    kind = "client" if subject.endswith("-app") else "person"
    identity = Identity(subject, kind, None, settings.issuer, None)
    async with engine.connect() as connection:
        plan = await access.plan_for(identity, None, connection)
    query = HOUSES.replace("{ grid", "{ plain: houses(first: 1) { totalCount } grid", 1)
    answer = await _compare(settings, engine, plan, query, {})
    assert "grid" not in answer.compiled
