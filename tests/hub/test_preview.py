"""A data officer previews the hub as their department's app (``X-Preview-As``): the answer
is the app's, the audit entry is the officer's and names the app, and nobody else may do it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.testclient import TestClient

from hub.app import create_app
from hub.settings import Settings
from store.models import AuditEntry
from tests.support import data_of, error_codes

OFFICER = "officer-civil-affairs"
APP = "civil-affairs-app"
VIEW = "civil-affairs-elderly"
MAP = """query Map($code: String!) { mapView(code: $code) {
    code layers { code featureCount geojson } } }"""
PEOPLE = "{ people(first: 3) { totalCount edges { node { name idNumber } } } }"


@pytest.fixture(scope="module")
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


def _post(
    client: TestClient,
    token: str,
    query: str,
    variables: dict[str, Any] | None = None,
    **headers: str,
) -> Any:
    sent = {
        "authorization": f"Bearer {token}",
        **{k.replace("_", "-"): v for k, v in headers.items()},
    }
    return client.post("/graphql", json={"query": query, "variables": variables}, headers=sent)


async def _entry(engine: AsyncEngine, response: Any) -> Any:
    async with engine.connect() as connection:
        rows = (
            await connection.execute(
                select(AuditEntry).where(AuditEntry.request_id == response.headers["x-request-id"])
            )
        ).all()
    assert len(rows) == 1
    return rows[0]


async def test_an_officer_sees_their_apps_view_as_the_app_does_and_the_entry_names_both(
    client: TestClient, engine: AsyncEngine, token_for: Callable[[str], str]
) -> None:
    variables = {"code": VIEW}
    as_app = _post(client, token_for(APP), MAP, variables, x_access_purpose="elderly_care")
    own = _post(client, token_for(OFFICER), MAP, variables, x_access_purpose="elderly_care")
    preview = _post(
        client,
        token_for(OFFICER),
        MAP,
        variables,
        x_access_purpose="elderly_care",
        x_preview_as=APP,
    )

    assert "errors" in own.json()  # the officer holds no shared data of their own
    assert data_of(preview.json()) == data_of(as_app.json())

    entry = await _entry(engine, preview)
    assert entry.subject == OFFICER
    assert entry.principal_kind == "person"
    assert entry.department_code == "civil_affairs"
    assert f"preview-as:{APP}" in entry.roles
    assert "civil_affairs_app" in entry.roles
    assert entry.purpose == "elderly_care"
    app_entry = await _entry(engine, as_app)
    assert entry.grant_ids == app_entry.grant_ids
    assert entry.grant_ids


async def test_a_preview_masks_and_refuses_what_the_app_may_not_see(
    client: TestClient, token_for: Callable[[str], str]
) -> None:
    """Without the purpose, the app's ID numbers need one: the preview says so too."""
    as_app = _post(client, token_for(APP), PEOPLE).json()
    preview = _post(client, token_for(OFFICER), PEOPLE, x_preview_as=APP).json()
    assert preview == as_app
    assert "PURPOSE_REQUIRED" in error_codes(preview)


@pytest.mark.parametrize(
    ("subject", "app"),
    [
        ("officer-housing", APP),  # another department's app
        (OFFICER, "housing-app"),
        (OFFICER, "worker-440306001001001"),  # a person, not an app
        (OFFICER, "no-such-app"),
        (OFFICER, "civil\x7faffairs"),
        ("worker-440306001001001", APP),  # not a data officer
        (APP, APP),  # an app previews nothing
    ],
)
async def test_only_an_officer_previews_and_only_their_departments_apps(
    client: TestClient, engine: AsyncEngine, token_for: Callable[[str], str], subject: str, app: str
) -> None:
    response = _post(client, token_for(subject), PEOPLE, x_preview_as=app)
    body = response.json()
    assert error_codes(body) == ["FORBIDDEN"]
    assert body.get("data") is None
    entry = await _entry(engine, response)
    assert entry.subject == subject
    assert entry.outcome == "denied"
    assert entry.person_ids == []


def test_a_preview_only_reads(client: TestClient, token_for: Callable[[str], str]) -> None:
    mutation = 'mutation { deleteView(code: "civil-affairs-elderly") }'
    body = _post(client, token_for(OFFICER), mutation, x_preview_as=APP).json()
    assert error_codes(body) == ["FORBIDDEN"]
    assert "only reads" in body["errors"][0]["message"]
    still = _post(client, token_for(APP), MAP, {"code": VIEW}, x_access_purpose="elderly_care")
    assert data_of(still.json())["mapView"]["code"] == VIEW


def test_the_geojson_url_previews_too(client: TestClient, token_for: Callable[[str], str]) -> None:
    url = f"/views/{VIEW}.geojson?layer=elderly-80"
    app = {"authorization": f"Bearer {token_for(APP)}", "x-access-purpose": "elderly_care"}
    officer = {"authorization": f"Bearer {token_for(OFFICER)}", "x-access-purpose": "elderly_care"}
    as_app = client.get(url, headers=app)
    preview = client.get(url, headers={**officer, "x-preview-as": APP})
    assert preview.status_code == 200
    assert preview.json() == as_app.json()
    refused = client.get(url, headers={**officer, "x-preview-as": "housing-app"})
    assert refused.status_code == 403
    assert error_codes(refused.json()) == ["FORBIDDEN"]
