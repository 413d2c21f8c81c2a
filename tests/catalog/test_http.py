"""The catalogue through the HTTP server, as clients use it: browsing with a token, a mutation
by POST (its write on its own connection beside the request's open one, on both back ends),
and a mutation by GET refused before it runs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.testclient import TestClient

from hub.app import create_app
from hub.settings import Settings
from store.models import AuditEntry, CatalogField, CatalogResource, CatalogVersion
from tests.support import data_of, error_codes

CODE = "TEST-HTTP-001"
REGISTER = """mutation Register($input: RegisterResourceInput!) {
  registerResource(input: $input) {
    resource { code version statistics { rowCount fields { field completeness } } }
  }
}"""
RESOURCE = {
    "code": CODE,
    "name": "房屋用途",
    "summary": "楼栋的用途。",
    "graphqlType": "House",
    "fields": [{"name": "use", "description": "房屋用途"}],
    "sharing": "UNCONDITIONAL",
    "updateFrequency": "WEEKLY",
}


@pytest.fixture(scope="module")
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture(autouse=True)
async def _forget(engine: AsyncEngine) -> AsyncIterator[None]:
    yield
    async with engine.begin() as connection:
        for model in (CatalogVersion, CatalogField):
            await connection.execute(delete(model).where(model.resource_code == CODE))
        await connection.execute(delete(CatalogResource).where(CatalogResource.code == CODE))


def _post(client: TestClient, token: str, query: str, variables: Any = None) -> Any:
    return client.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"authorization": f"Bearer {token}"},
    )


@pytest.mark.parametrize("subject", ["auditor-01", "worker-440306001001001", "housing-app"])
def test_anyone_with_a_token_browses(
    client: TestClient, token_for: Callable[[str], str], subject: str
) -> None:
    response = _post(client, token_for(subject), '{ resource(code: "RK-JC-001") { name } }')
    assert response.status_code == 200
    assert data_of(response.json())["resource"] == {"name": "人口基础信息"}


def test_without_a_token_nothing_is_browsed(client: TestClient) -> None:
    response = client.post("/graphql", json={"query": "{ catalog { code } }"})
    assert response.status_code == 401


async def test_a_mutation_by_post_writes_and_is_audited(
    client: TestClient, engine: AsyncEngine, token_for: Callable[[str], str]
) -> None:
    response = _post(client, token_for("officer-housing"), REGISTER, {"input": RESOURCE})
    resource = data_of(response.json())["registerResource"]["resource"]
    assert resource["code"] == CODE
    assert resource["version"] == 1
    # Statistics are read on the request's connection after the write committed on another.
    assert resource["statistics"]["rowCount"] > 0
    async with engine.connect() as connection:
        assert (
            await connection.scalar(
                select(CatalogResource.version).where(CatalogResource.code == CODE)
            )
            == 1
        )
        entry = (
            await connection.execute(
                select(AuditEntry).where(AuditEntry.request_id == response.headers["x-request-id"])
            )
        ).one()
    assert entry.operation_type == "mutation"
    assert entry.subject == "officer-housing"
    assert entry.variables["input"]["code"] == CODE

    # The next request sees it, and a second write to it goes through as well.
    update = """mutation { updateResource(input: {code: "TEST-HTTP-001", name: "房屋用途表"}) {
        resource { name version } } }"""
    updated = _post(client, token_for("officer-housing"), update)
    assert data_of(updated.json())["updateResource"]["resource"] == {
        "name": "房屋用途表",
        "version": 2,
    }


def test_concurrent_writers_to_one_code_leave_one_version(
    client: TestClient, token_for: Callable[[str], str]
) -> None:
    """Two registrations of one code: one wins, the other is told, none is a server error."""
    from concurrent.futures import ThreadPoolExecutor

    token = token_for("officer-housing")
    with ThreadPoolExecutor(4) as pool:
        responses = list(
            pool.map(lambda _: _post(client, token, REGISTER, {"input": RESOURCE}), range(4))
        )
    bodies = [r.json() for r in responses]
    assert all(r.status_code == 200 for r in responses)
    assert sum("errors" not in body for body in bodies) == 1
    assert all(error_codes(b) == ["BAD_USER_INPUT"] for b in bodies if "errors" in b)


async def test_a_mutation_by_get_is_refused_and_writes_nothing(
    client: TestClient, engine: AsyncEngine, token_for: Callable[[str], str]
) -> None:
    import orjson

    response = client.get(
        "/graphql",
        params={"query": REGISTER, "variables": orjson.dumps({"input": RESOURCE}).decode()},
        headers={"authorization": f"Bearer {token_for('officer-housing')}"},
    )
    assert response.status_code == 405
    async with engine.connect() as connection:
        found = await connection.scalar(
            select(CatalogResource.code).where(CatalogResource.code == CODE)
        )
    assert found is None
