"""The HTTP endpoint: what a client sends wrong gets a clear answer, never a 500."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import orjson
import pytest
from starlette.testclient import TestClient

from hub.app import create_app
from hub.settings import Settings
from tests.support import data_of, error_codes

QUERY = '{ grid(code: "440306") { name } }'


WORKER = "worker-440306001001001"


@pytest.fixture(scope="module")
def client(settings: Settings, token_for: Callable[[str], str]) -> Iterator[TestClient]:
    """A client that sends a grid worker's token with every request."""
    with TestClient(create_app(settings)) as client:
        client.headers["authorization"] = f"Bearer {token_for(WORKER)}"
        yield client


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_without_a_token_nothing_is_answered(settings: Settings, method: str) -> None:
    with TestClient(create_app(settings)) as anonymous:
        if method == "GET":
            response = anonymous.get("/graphql", params={"query": QUERY})
        else:
            response = anonymous.post("/graphql", json={"query": "{ grid(code: "})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json() == {
        "errors": [
            {"message": "Invalid or missing token", "extensions": {"code": "UNAUTHENTICATED"}}
        ]
    }


def test_the_graphiql_page_itself_needs_no_token(settings: Settings) -> None:
    development = settings.model_copy(update={"mode": "development"})
    with TestClient(create_app(development)) as anonymous:
        response = anonymous.get("/graphql", headers={"accept": "text/html"})
    assert response.status_code == 200
    assert "graphiql" in response.text.lower()


@pytest.mark.parametrize("purpose", ["Elderly Care", "a" * 80, "care;drop"])
def test_a_malformed_purpose_is_400(client: TestClient, purpose: str) -> None:
    response = client.post("/graphql", json={"query": QUERY}, headers={"x-access-purpose": purpose})
    assert response.status_code == 400
    assert error_codes(response.json()) == ["BAD_REQUEST"]
    assert "purpose code" in response.json()["errors"][0]["message"]


def test_post_json_runs_the_query(client: TestClient) -> None:
    response = client.post("/graphql", json={"query": QUERY})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert data_of(response.json())["grid"]["name"] == "宝安区"


def test_get_runs_a_query(client: TestClient) -> None:
    response = client.get(
        "/graphql",
        params={
            "query": "query($c: String!) { grid(code: $c) { code } }",
            "variables": orjson.dumps({"c": "440306"}).decode(),
        },
    )
    assert response.status_code == 200
    assert data_of(response.json()) == {"grid": {"code": "440306"}}


def test_get_from_a_browser_serves_graphiql_in_development_mode(settings: Settings) -> None:
    development = settings.model_copy(update={"mode": "development"})
    with TestClient(create_app(development)) as client:
        response = client.get("/graphql", headers={"accept": "text/html"})
    assert response.status_code == 200
    assert "graphiql" in response.text.lower()


@pytest.mark.parametrize("update", [{"graphiql": False, "mode": "development"}, {"graphiql": True}])
def test_graphiql_is_off_when_switched_off_and_in_production_mode(
    settings: Settings, token_for: Callable[[str], str], update: dict[str, object]
) -> None:
    with TestClient(create_app(settings.model_copy(update=update))) as client:
        page = client.get("/graphql", headers={"accept": "text/html"})
        response = client.get(
            "/graphql",
            headers={"accept": "text/html, */*", "authorization": f"Bearer {token_for(WORKER)}"},
        )
    assert page.status_code == 401
    assert "graphiql" not in page.text.lower()
    assert response.status_code == 400
    assert error_codes(response.json()) == ["BAD_REQUEST"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b"5", "JSON object"),
        (b'{"variables": {}}', "`query`"),
        (b'{"query": ""}', "`query`"),
        (b'{"query": "{ departments { code } }", "variables": [1]}', "`variables`"),
        (b'{"query": "{ departments { code } }", "operationName": 5}', "`operationName`"),
    ],
)
def test_a_malformed_request_is_400(client: TestClient, body: bytes, message: str) -> None:
    response = client.post("/graphql", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert error_codes(response.json()) == ["BAD_REQUEST"]
    assert message in response.json()["errors"][0]["message"]


def test_a_form_post_is_refused(client: TestClient) -> None:
    response = client.post("/graphql", data={"query": QUERY})
    assert response.status_code == 415


def test_an_oversized_body_is_refused_unread(client: TestClient, settings: Settings) -> None:
    padding = " " * (settings.max_body_bytes + 1)
    response = client.post(
        "/graphql",
        content=orjson.dumps({"query": QUERY + padding}),
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 413
    assert error_codes(response.json()) == ["REQUEST_TOO_LARGE"]


def test_bad_variables_on_get_are_400(client: TestClient) -> None:
    response = client.get("/graphql", params={"query": QUERY, "variables": "{oops"})
    assert response.status_code == 400


def test_healthz(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
