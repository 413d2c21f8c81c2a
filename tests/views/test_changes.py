"""A department's data officer defines, updates and deletes its views; every change is a
version that stays; anyone else, a bad definition, or a filter the department may not use, is
refused with nothing written."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from store.models import View, ViewVersion
from tests.conftest import GraphQL
from tests.support import data_of, error_codes
from tests.views.helpers import DEFINE, PREFIX, house_layer, view_input

UPDATE = """mutation Update($code: String!, $input: UpdateViewInput!) {
  updateView(code: $code, input: $input) { changed view { code name version updatedBy purpose
    layers { code filter } versions { version change changedBy definition } } } }"""
DELETE = "mutation Delete($code: String!) { deleteView(code: $code) }"
VERSIONS = """query($code: String!) { view(code: $code) { version versions { version change } } }"""
HOUSING = "officer-housing"
CIVIL = "officer-civil-affairs"


async def _counts(engine: AsyncEngine) -> tuple[int, int]:
    async with engine.connect() as connection:
        views = await connection.scalar(select(func.count()).select_from(View))
        versions = await connection.scalar(select(func.count()).select_from(ViewVersion))
    return int(views or 0), int(versions or 0)


async def define(gql: GraphQL, as_: str = HOUSING, **changes: Any) -> dict[str, Any]:
    return await gql(DEFINE, {"input": view_input(**changes)}, as_=as_)


async def test_an_officer_defines_a_view_of_their_department(gql: GraphQL) -> None:
    body = await define(gql, description="全区楼栋", layers=[house_layer(filter={"minFloors": 9})])
    change = data_of(body)["defineView"]
    view = change["view"]
    assert change["changed"] is True
    assert (view["code"], view["department"], view["version"]) == (f"{PREFIX}houses", "housing", 1)
    assert view["createdBy"] == view["updatedBy"] == HOUSING
    assert view["layers"][0]["filter"] == {"minFloors": 9}
    assert view["layers"][0]["style"] == {"colour": "#1e88e5", "size": 6.0, "labelField": None}
    assert [(v["version"], v["change"], v["changedBy"]) for v in view["versions"]] == [
        (1, "defined", HOUSING)
    ]
    listed = data_of(await gql("{ views { code department } }", as_=HOUSING))["views"]
    assert {"code": f"{PREFIX}houses", "department": "housing"} in listed
    assert all(v["department"] == "housing" for v in listed)


async def test_an_update_is_a_new_version_and_the_old_one_is_kept(gql: GraphQL) -> None:
    data_of(await define(gql))
    code = f"{PREFIX}houses"
    layers = [house_layer(filter={"use": "PUBLIC_RENTAL"})]
    body = await gql(
        UPDATE, {"code": code, "input": {"name": "公租房", "layers": layers}}, as_=HOUSING
    )
    view = data_of(body)["updateView"]["view"]
    assert view["version"] == 2
    assert view["layers"][0]["filter"] == {"use": "PUBLIC_RENTAL"}
    first, second = view["versions"]
    assert (first["change"], second["change"]) == ("defined", "updated")
    assert first["definition"]["name"] == "测试视图"
    assert first["definition"]["layers"][0]["filter"] == {}
    assert second["definition"]["name"] == "公租房"
    # An update that changes nothing writes no version.
    again = await gql(UPDATE, {"code": code, "input": {"name": "公租房"}}, as_=HOUSING)
    assert data_of(again)["updateView"]["changed"] is False
    assert data_of(again)["updateView"]["view"]["version"] == 2
    # A stale expected version is refused.
    stale = await gql(
        UPDATE, {"code": code, "input": {"name": "x", "expectedVersion": 1}}, as_=HOUSING
    )
    assert error_codes(stale) == ["BAD_USER_INPUT"]


async def test_a_deleted_view_keeps_its_history_and_its_code_continues_it(
    gql: GraphQL, engine: AsyncEngine
) -> None:
    data_of(await define(gql))
    code = f"{PREFIX}houses"
    assert data_of(await gql(DELETE, {"code": code}, as_=HOUSING)) == {"deleteView": True}
    assert data_of(await gql(VERSIONS, {"code": code}, as_=HOUSING)) == {"view": None}
    async with engine.connect() as connection:
        changes = (
            await connection.execute(
                select(ViewVersion.version, ViewVersion.change)
                .where(ViewVersion.view_code == code)
                .order_by(ViewVersion.version)
            )
        ).all()
    assert [tuple(c) for c in changes] == [(1, "defined"), (2, "deleted")]
    again = data_of(await define(gql))["defineView"]["view"]
    assert again["version"] == 3
    assert [v["change"] for v in again["versions"]] == ["defined", "deleted", "defined"]
    missing = await gql(DELETE, {"code": f"{PREFIX}nothing"}, as_=HOUSING)
    assert error_codes(missing) == ["BAD_USER_INPUT"]


@pytest.mark.parametrize(
    ("operation", "variables"),
    [
        (UPDATE, {"code": "grid-office-patrol", "input": {"name": "改名"}}),
        (DELETE, {"code": "grid-office-patrol"}),
        (UPDATE, {"code": "housing-public-rental", "input": {"name": "改名"}}),
    ],
)
@pytest.mark.parametrize("subject", [CIVIL, "worker-440306001001001", "housing-app", "cdo"])
async def test_only_the_owning_departments_officer_changes_a_view(
    gql: GraphQL, engine: AsyncEngine, operation: str, variables: dict[str, Any], subject: str
) -> None:
    before = await _counts(engine)
    body = await gql(operation, variables, as_=subject)
    assert error_codes(body) == ["FORBIDDEN"]
    assert await _counts(engine) == before


async def test_an_officer_may_not_define_for_another_department(
    gql: GraphQL, engine: AsyncEngine
) -> None:
    before = await _counts(engine)
    assert error_codes(await define(gql, department="civil_affairs")) == ["FORBIDDEN"]
    assert error_codes(await define(gql, as_="worker-440306001001001")) == ["FORBIDDEN"]
    assert await _counts(engine) == before


BAD = {
    "unknown source": {"layers": [house_layer(source="BUILDINGS")]},
    "unknown field": {"layers": [house_layer(fields=["height"])]},
    "unknown filter field": {"layers": [house_layer(filter={"height": 3})]},
    "count under three": {
        "layers": [house_layer(source="PEOPLE", fields=[], aggregate={"by": "GRID", "minCount": 2})]
    },
    "people one by one": {"layers": [house_layer(source="PEOPLE", fields=[])]},
    "bad colour": {"layers": [house_layer(style={"colour": "blue"})]},
    "bad code": {"code": "Test Houses"},
    "no layers": {"layers": []},
}


@pytest.mark.parametrize("changes", BAD.values(), ids=list(BAD))
async def test_a_bad_definition_is_refused_and_writes_nothing(
    gql: GraphQL, engine: AsyncEngine, changes: dict[str, Any]
) -> None:
    before = await _counts(engine)
    assert error_codes(await define(gql, **changes)) == ["BAD_USER_INPUT"]
    assert await _counts(engine) == before


async def test_a_code_is_defined_once(gql: GraphQL) -> None:
    data_of(await define(gql))
    assert error_codes(await define(gql)) == ["BAD_USER_INPUT"]


FORBIDDEN_FILTERS = {
    # Housing's apps see people's names and grids only: not their gender, nor care tags.
    "gender": (HOUSING, {"gender": "FEMALE"}, None),
    "care tag": (HOUSING, {"careTag": "ELDERLY_ALONE"}, "elderly_care"),
    # Civil affairs filters on care tags only for the purposes its grants name.
    "care tag without its purpose": (CIVIL, {"careTag": "ELDERLY_ALONE"}, None),
    "care tag for another purpose": (CIVIL, {"careTag": "ELDERLY_ALONE"}, "case_handling"),
    # Nobody in civil affairs may filter on a core-tier tag.
    "core tag": (CIVIL, {"careTag": "KEY_PERSON"}, "elderly_care"),
}


@pytest.mark.parametrize(
    ("officer", "person_filter", "purpose"),
    FORBIDDEN_FILTERS.values(),
    ids=list(FORBIDDEN_FILTERS),
)
async def test_a_filter_the_department_may_not_use_is_forbidden(
    gql: GraphQL,
    engine: AsyncEngine,
    officer: str,
    person_filter: dict[str, Any],
    purpose: str | None,
) -> None:
    before = await _counts(engine)
    layer = house_layer(
        code="people", source="PEOPLE", fields=[], filter=person_filter, aggregate={"by": "GRID"}
    )
    body = await define(gql, as_=officer, layers=[layer], purpose=purpose)
    assert error_codes(body) == ["FORBIDDEN"], body
    assert await _counts(engine) == before


async def test_a_filter_someone_in_the_department_may_use_is_accepted(gql: GraphQL) -> None:
    """The data officer sees no people; the department's app does, for the view's purpose."""
    layer = house_layer(
        code="people",
        source="PEOPLE",
        fields=["name"],
        filter={"careTag": "ELDERLY_ALONE", "minAge": 70},
        aggregate={"by": "GRID", "minCount": 3},
    )
    body = await define(gql, as_=CIVIL, layers=[layer], purpose="elderly_care")
    view = data_of(body)["defineView"]["view"]
    assert (view["department"], view["purpose"]) == ("civil_affairs", "elderly_care")
    # The same filter without the purpose is refused on update.
    refused = await gql(UPDATE, {"code": view["code"], "input": {"purpose": None}}, as_=CIVIL)
    assert error_codes(refused) == ["FORBIDDEN"]


async def test_any_signed_in_principal_may_read_any_departments_views(gql: GraphQL) -> None:
    query = """query($d: String) { views(department: $d) { code department layers { code } } }"""
    for subject in ("worker-440306001001001", "auditor-01", "housing-app"):
        found = data_of(await gql(query, {"d": "civil_affairs"}, as_=subject))["views"]
        assert "civil-affairs-elderly" in [v["code"] for v in found]
        assert {v["department"] for v in found} == {"civil_affairs"}
    own = data_of(await gql(query, as_="worker-440306001001001"))["views"]
    assert "grid-office-patrol" in [v["code"] for v in own]
    assert {v["department"] for v in own} == {"grid_office"}
    patrol = data_of(await gql('{ view(code: "grid-office-patrol") { version } }', as_="cdo"))
    assert patrol == {"view": {"version": 1}}
