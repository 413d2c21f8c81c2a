"""A data officer registers and updates their own department's resources; every change is a
version; anyone else, and any bad input, is refused with nothing written."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from graphql import GraphQLObjectType
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from resolvers.ids import to_global_id
from schema import build_schema
from store.models import (
    AccessRequest,
    CasbinRule,
    CatalogField,
    CatalogResource,
    CatalogVersion,
    Grant,
)
from tests.conftest import GraphQL
from tests.support import data_of, error_codes

REGISTER = """mutation Register($input: RegisterResourceInput!) { registerResource(input: $input) {
    changed resource { code name departmentCode origin source version updatedBy sharing
        sharingCondition fields { name description tier }
        versions { version changedBy origin definition } } } }"""
UPDATE = """mutation Update($input: UpdateResourceInput!) { updateResource(input: $input) {
    changed resource { code name summary version sharing sharingCondition updatedBy
        fields { name description } versions { version changedBy definition } } } }"""
OFFICER = "officer-housing"
PREFIX = "TEST-"


def house_resource(code: str = "TEST-FW-101", **changes: Any) -> dict[str, Any]:
    return {
        "code": code,
        "name": "楼栋层数",
        "summary": "全区楼栋的地上层数。",
        "graphqlType": "House",
        "fields": [
            {"name": "code", "description": "楼栋编码"},
            {"name": "floors", "description": "地上层数"},
        ],
        "sharing": "UNCONDITIONAL",
        "updateFrequency": "MONTHLY",
        **changes,
    }


@pytest.fixture(autouse=True)
async def _forget_test_resources(engine: AsyncEngine) -> AsyncIterator[None]:
    """The session's database is shared: leave no test resource behind."""
    yield
    async with engine.begin() as connection:
        for model in (CatalogVersion, CatalogField):
            await connection.execute(delete(model).where(model.resource_code.startswith(PREFIX)))
        await connection.execute(
            delete(CatalogResource).where(CatalogResource.code.startswith(PREFIX))
        )


async def _counts(engine: AsyncEngine) -> tuple[int, ...]:
    async with engine.connect() as connection:
        return tuple(
            [
                int(await connection.scalar(select(func.count()).select_from(model)) or 0)
                for model in (CatalogResource, CatalogField, CatalogVersion)
            ]
            + [int(await connection.scalar(select(func.sum(CatalogResource.version))) or 0)]
        )


async def test_an_officer_registers_a_resource_of_their_department(gql: GraphQL) -> None:
    body = await gql(REGISTER, {"input": house_resource()}, as_=OFFICER)
    change = data_of(body)["registerResource"]
    resource = change["resource"]
    assert change["changed"] is True
    assert resource["departmentCode"] == "housing"
    assert (resource["origin"], resource["source"], resource["version"]) == ("API", None, 1)
    assert resource["updatedBy"] == OFFICER
    assert resource["fields"] == [
        {"name": "code", "description": "楼栋编码", "tier": 1},
        {"name": "floors", "description": "地上层数", "tier": 1},
    ]
    [version] = resource["versions"]
    assert (version["version"], version["changedBy"], version["origin"]) == (1, OFFICER, "API")
    assert version["definition"]["fields"][1] == {"name": "floors", "description": "地上层数"}

    listed = await gql('{ catalog(filter: {department: "housing"}) { code } }', as_="auditor-01")
    assert {"code": "TEST-FW-101"} in data_of(listed)["catalog"]


async def test_an_update_is_a_new_version_and_the_old_one_is_kept(gql: GraphQL) -> None:
    data_of(await gql(REGISTER, {"input": house_resource()}, as_=OFFICER))
    update = {
        "code": "TEST-FW-101",
        "expectedVersion": 1,
        "name": "楼栋层数与用途",
        "fields": [
            {"name": "code", "description": "楼栋编码"},
            {"name": "floors", "description": "地上层数"},
            {"name": "use", "description": "房屋用途"},
        ],
        "sharing": "CONDITIONAL",
        "sharingCondition": "用于住房保障。",
    }
    change = data_of(await gql(UPDATE, {"input": update}, as_=OFFICER))["updateResource"]
    resource = change["resource"]
    assert change["changed"] is True
    assert resource["version"] == 2
    assert resource["name"] == "楼栋层数与用途"
    assert resource["summary"] == "全区楼栋的地上层数。"  # left out: kept
    assert [f["name"] for f in resource["fields"]] == ["code", "floors", "use"]
    assert [v["version"] for v in resource["versions"]] == [2, 1]
    old = resource["versions"][1]["definition"]
    assert old["name"] == "楼栋层数"
    assert old["sharing"] == "UNCONDITIONAL"
    assert resource["versions"][0]["definition"]["sharingCondition"] == "用于住房保障。"

    # Back to unconditional: the condition has to go (null removes it).
    back = {"code": "TEST-FW-101", "sharing": "UNCONDITIONAL", "sharingCondition": None}
    resource = data_of(await gql(UPDATE, {"input": back}, as_=OFFICER))["updateResource"]
    assert resource["resource"]["version"] == 3
    assert resource["resource"]["sharingCondition"] is None


async def test_an_update_that_changes_nothing_writes_no_version(
    gql: GraphQL, engine: AsyncEngine
) -> None:
    data_of(await gql(REGISTER, {"input": house_resource()}, as_=OFFICER))
    before = await _counts(engine)
    same = {"code": "TEST-FW-101", "name": "  楼栋层数 ", "updateFrequency": "MONTHLY"}
    change = data_of(await gql(UPDATE, {"input": same}, as_=OFFICER))["updateResource"]
    assert change["changed"] is False
    assert change["resource"]["version"] == 1
    assert await _counts(engine) == before


@pytest.mark.parametrize(
    "subject",
    [
        "officer-civil-affairs",  # another department's data officer
        "worker-440306001001001",
        "housing-app",  # the owner's own app is not its data officer
        "cdo",
        "auditor-01",
    ],
)
async def test_only_the_owning_departments_officer_may_update(
    gql: GraphQL, engine: AsyncEngine, subject: str
) -> None:
    data_of(await gql(REGISTER, {"input": house_resource()}, as_=OFFICER))
    before = await _counts(engine)
    body = await gql(UPDATE, {"input": {"code": "TEST-FW-101", "name": "改名"}}, as_=subject)
    assert error_codes(body) == ["FORBIDDEN"]
    assert body["data"] is None
    assert await _counts(engine) == before


async def test_an_officer_may_not_register_for_another_department(
    gql: GraphQL, engine: AsyncEngine
) -> None:
    before = await _counts(engine)
    stranger = house_resource(department="market_regulation")
    body = await gql(REGISTER, {"input": stranger}, as_=OFFICER)
    assert error_codes(body) == ["FORBIDDEN"]
    assert await _counts(engine) == before


#: The event workflow's mutations: their owners are per step, per area and per department (a
#: grid worker reports, an app accepts), so a role alone does not refuse them;
#: tests/events/test_flow_http.py refuses each for every wrong role, area and state.
EVENT_MUTATIONS = {
    "reportEvent",
    "dispatchEvent",
    "acceptEvent",
    "returnEvent",
    "resolveEvent",
    "closeEvent",
    "reopenEvent",
    "superviseEvent",
}


#: The verification loop's mutations: a grid worker resolves tasks in their grid, a department
#: decides corrections of the fields it is authoritative for and asks for rows it may read, so
#: a role alone does not refuse them either; tests/tasks/test_loop.py refuses each for every
#: wrong principal, grid and state. The auditor, who has no part in the loop, is refused here.
TASK_CALLS = {
    "resolveTask": 'resolveTask(id: "task:1", outcome: CONFIRMED) { id }',
    "requestVerification": f'requestVerification(recordId: "{to_global_id("Person", 1)}", '
    'why: "test") { id }',
    "decideCorrection": 'decideCorrection(id: "correction:1", accept: true) { id }',
    "escalateTask": 'escalateTask(id: "task:1", note: "test") { id }',
    "cancelTask": 'cancelTask(id: "task:1", reason: "test") { id }',
}


def _mutations() -> list[str]:
    mutation = build_schema()._schema.mutation_type
    assert isinstance(mutation, GraphQLObjectType)
    return [
        name for name in mutation.fields if name not in EVENT_MUTATIONS and name not in TASK_CALLS
    ]


@pytest.mark.parametrize("name", sorted(TASK_CALLS))
async def test_the_auditor_has_no_part_in_the_verification_loop(
    gql: GraphQL, engine: AsyncEngine, name: str
) -> None:
    before = await _counts(engine), await _workflow_counts(engine)
    body = await gql(f"mutation {{ {TASK_CALLS[name]} }}", as_="auditor-01")
    assert error_codes(body) == ["FORBIDDEN"]
    assert (await _counts(engine), await _workflow_counts(engine)) == before


#: Mutations that take other arguments than ``input: <Name>Input``: a call of each.
CALLS = {
    "reviewAccessRequest": 'reviewAccessRequest(id: "request:1", approve: true) { id }',
    "decideAccessRequest": 'decideAccessRequest(id: "request:1", approve: true) { id }',
    "revokeGrant": 'revokeGrant(id: "grant:1", reason: "test") { id }',
    "defineView": 'defineView(input: {code: "test-view", name: "t", layers: [{code: "h", '
    'name: "h", source: HOUSES, style: {colour: "#000000"}}]}) { changed }',
    "updateView": 'updateView(code: "grid-office-patrol", input: {name: "t"}) { changed }',
    "deleteView": 'deleteView(code: "grid-office-patrol")',
    # a house outside the worker's grid (and no app, no auditor teaches)
    "teachAddressAlias": 'teachAddressAlias(text: "东门", code: "4403060020010010001") '
    "{ normalised }",
}
ACCESS_REQUEST = {
    "resource": "RK-LX-003",
    "fields": ["phone"],
    "purposeCode": "emergency_contact",
    "purpose": "test",
    "durationDays": 1,
}


@pytest.mark.parametrize("name", _mutations())
@pytest.mark.parametrize("subject", ["worker-440306001001001", "civil-affairs-app", "auditor-01"])
async def test_every_mutation_refuses_a_principal_without_its_duty(
    gql: GraphQL, engine: AsyncEngine, name: str, subject: str
) -> None:
    """Deny by default: a mutation added later must check a duty too, or this fails (one that
    does not take ``input: <Name>Input`` needs its own arguments in ``CALLS``)."""
    before = await _counts(engine), await _workflow_counts(engine)
    if name in CALLS:
        body = await gql(f"mutation {{ {CALLS[name]} }}", as_=subject)
    else:
        selection = "{ id }" if name == "requestAccess" else "{ changed }"
        body = await gql(
            f"mutation($input: {name[0].upper()}{name[1:]}Input!) {{ "
            f"{name}(input: $input) {selection} }}",
            {"input": ACCESS_REQUEST if name == "requestAccess" else house_resource()},
            as_=subject,
        )
    assert error_codes(body) == ["FORBIDDEN"]
    assert (await _counts(engine), await _workflow_counts(engine)) == before


async def _workflow_counts(engine: AsyncEngine) -> tuple[int, ...]:
    async with engine.connect() as connection:
        return tuple(
            [
                int(await connection.scalar(select(func.count()).select_from(model)) or 0)
                for model in (AccessRequest, Grant, CasbinRule)
            ]
        )


async def test_without_a_principal_nothing_is_changed(gql: GraphQL) -> None:
    """In-process use on the all-allowing plan has no principal, hence no duty."""
    body = await gql(REGISTER, {"input": house_resource()})
    assert error_codes(body) == ["FORBIDDEN"]


BAD_REGISTRATIONS = {
    "unknown type": house_resource(graphqlType="Building"),
    "type that is not stored": house_resource(graphqlType="GridStats"),
    "unknown field": house_resource(fields=[{"name": "height", "description": "高度"}]),
    "list of other rows": house_resource(fields=[{"name": "residents", "description": "住户"}]),
    "no fields": house_resource(fields=[]),
    "a field twice": house_resource(
        fields=[{"name": "code", "description": "a"}, {"name": "code", "description": "b"}]
    ),
    "empty description": house_resource(fields=[{"name": "code", "description": " "}]),
    "unknown department": house_resource(department="nowhere"),
    "bad code": house_resource(code="test fw 101"),
    "empty name": house_resource(name=""),
    "conditional without a condition": house_resource(sharing="CONDITIONAL"),
    "not shared without a legal basis": house_resource(sharing="NOT_SHARED"),
    "unconditional with a condition": house_resource(sharingCondition="只给住建。"),
    "unconditional with a sensitive field": {
        **house_resource(graphqlType="Person"),
        "fields": [{"name": "idNumber", "description": "身份号码"}],
    },
    "bad sharing attribute": house_resource(sharing="SOMETIMES"),
    "bad update frequency": house_resource(updateFrequency="HOURLY"),
}


@pytest.mark.parametrize("given", BAD_REGISTRATIONS.values(), ids=list(BAD_REGISTRATIONS))
async def test_a_bad_registration_is_refused_and_writes_nothing(
    gql: GraphQL, engine: AsyncEngine, given: dict[str, Any]
) -> None:
    before = await _counts(engine)
    body = await gql(REGISTER, {"input": given}, as_=OFFICER)
    assert error_codes(body) == ["BAD_USER_INPUT"], body
    assert await _counts(engine) == before


async def test_every_problem_is_reported_at_once(gql: GraphQL) -> None:
    given = house_resource(
        graphqlType="House",
        fields=[{"name": "height", "description": "高度"}],
        sharing="CONDITIONAL",
    )
    body = await gql(REGISTER, {"input": given}, as_=OFFICER)
    problems = body["errors"][0]["extensions"]["problems"]
    assert len(problems) == 2
    assert any("height" in p for p in problems)
    assert any("condition" in p for p in problems)


async def test_a_code_is_registered_once(gql: GraphQL, engine: AsyncEngine) -> None:
    data_of(await gql(REGISTER, {"input": house_resource()}, as_=OFFICER))
    before = await _counts(engine)
    again = await gql(REGISTER, {"input": house_resource(name="另一个")}, as_=OFFICER)
    assert error_codes(again) == ["BAD_USER_INPUT"]
    assert await _counts(engine) == before


BAD_UPDATES = {
    "unknown resource": {"code": "TEST-XX-999", "name": "x"},
    "stale version": {"code": "TEST-FW-101", "expectedVersion": 7, "name": "x"},
    "null name": {"code": "TEST-FW-101", "name": None},
    "unknown field": {"code": "TEST-FW-101", "fields": [{"name": "height", "description": "高"}]},
    "type without its fields": {"code": "TEST-FW-101", "graphqlType": "Entity"},
    "conditional without a condition": {"code": "TEST-FW-101", "sharing": "CONDITIONAL"},
}


@pytest.mark.parametrize("given", BAD_UPDATES.values(), ids=list(BAD_UPDATES))
async def test_a_bad_update_is_refused_and_writes_nothing(
    gql: GraphQL, engine: AsyncEngine, given: dict[str, Any]
) -> None:
    data_of(await gql(REGISTER, {"input": house_resource()}, as_=OFFICER))
    before = await _counts(engine)
    body = await gql(UPDATE, {"input": given}, as_=OFFICER)
    assert error_codes(body) == ["BAD_USER_INPUT"], body
    assert await _counts(engine) == before


async def test_a_resource_kept_in_a_file_is_changed_in_the_file(
    gql: GraphQL, engine: AsyncEngine
) -> None:
    before = await _counts(engine)
    body = await gql(UPDATE, {"input": {"code": "FW-JC-001", "name": "房屋"}}, as_=OFFICER)
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert body["errors"][0]["extensions"]["source"] == "housing.toml"
    assert await _counts(engine) == before
