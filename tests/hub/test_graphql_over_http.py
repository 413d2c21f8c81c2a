"""GraphQL over HTTP: media types and status codes as the specification asks, GET for queries
only, content types a browser form can send refused, and CORS closed unless configured."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from hub.app import create_app
from hub.endpoints.graphql import GRAPHQL_RESPONSE, JSON, negotiate
from hub.settings import Settings
from tests.audit.test_request_entries import only_entry
from tests.support import data_of, error_codes

WORKER = "worker-440306001001001"
QUERY = '{ grid(code: "440306") { name } }'
MUTATION = 'mutation { registerResource(input: {code: "x"}) { code } }'
ORIGIN = "https://map.district.example"


@pytest.fixture(scope="module")
def client(settings: Settings, token_for: Callable[[str], str]) -> Iterator[TestClient]:
    with TestClient(create_app(settings.model_copy(update={"cors_origins": [ORIGIN]}))) as client:
        client.headers["authorization"] = f"Bearer {token_for(WORKER)}"
        yield client


@pytest.mark.parametrize(
    ("accept", "media"),
    [
        (None, JSON),
        ("*/*", JSON),
        ("application/json", JSON),
        ("application/*", JSON),
        (GRAPHQL_RESPONSE, GRAPHQL_RESPONSE),
        (f"{GRAPHQL_RESPONSE}, application/json;q=0.9", GRAPHQL_RESPONSE),
        (f"application/json, {GRAPHQL_RESPONSE}", GRAPHQL_RESPONSE),
        (f"application/json, {GRAPHQL_RESPONSE};q=0.5", JSON),
        ("text/html, */*;q=0.8", JSON),
        ("text/html", None),
        ("application/json;q=0", None),
        ("application/xml, image/png", None),
    ],
)
def test_the_answer_takes_the_media_type_the_client_prefers(
    accept: str | None, media: str | None
) -> None:
    assert negotiate(accept) == media


def post(client: TestClient, body: Any, accept: str | None = None, **headers: str) -> Any:
    if accept is not None:
        headers["accept"] = accept
    return client.post("/graphql", json=body, headers=headers)


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"query": QUERY}, 200, None),
        ({"query": "{ grid(code: "}, 400, "GRAPHQL_PARSE_FAILED"),
        ({"query": "{ nothing }"}, 400, "GRAPHQL_VALIDATION_FAILED"),
        ({"query": "{ " + "a: me { subject } " * 20 + "}"}, 400, "TOO_MANY_ALIASES"),
        (
            {"query": "query($c: String!) { grid(code: $c) { name } }", "variables": {}},
            400,
            "BAD_USER_INPUT",
        ),
        ({"query": "{ houses(first: 1000) { totalCount } }"}, 200, "BAD_USER_INPUT"),
    ],
)
def test_graphql_response_json_answers_400_when_nothing_ran(
    client: TestClient, body: dict[str, Any], status: int, code: str | None
) -> None:
    strict = post(client, body, GRAPHQL_RESPONSE)
    assert strict.status_code == status
    assert strict.headers["content-type"] == GRAPHQL_RESPONSE
    assert ("data" in strict.json()) == (status == 200)
    if code is not None:
        assert error_codes(strict.json()) == [code]
    legacy = post(client, body)
    assert legacy.status_code == 200
    assert legacy.headers["content-type"] == JSON
    assert legacy.json() == strict.json()


async def test_nothing_acceptable_is_406_and_audited(client: TestClient, engine: Any) -> None:
    response = post(client, {"query": QUERY}, "text/html")
    assert response.status_code == 406
    assert error_codes(response.json()) == ["NOT_ACCEPTABLE"]
    entry = await only_entry(engine, response)
    assert (entry.outcome, entry.error_code, entry.subject) == ("error", "NOT_ACCEPTABLE", WORKER)


@pytest.mark.parametrize("accept", [None, GRAPHQL_RESPONSE])
async def test_a_mutation_over_get_is_405_with_allow_post(
    client: TestClient, engine: Any, accept: str | None
) -> None:
    headers = {"accept": accept} if accept else {}
    response = client.get("/graphql", params={"query": MUTATION}, headers=headers)
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert error_codes(response.json()) == ["METHOD_NOT_ALLOWED"]
    entry = await only_entry(engine, response)
    assert (entry.operation_type, entry.error_code) == ("mutation", "METHOD_NOT_ALLOWED")


def test_a_query_over_get_runs(client: TestClient) -> None:
    response = client.get("/graphql", params={"query": QUERY}, headers={"accept": GRAPHQL_RESPONSE})
    assert response.status_code == 200
    assert data_of(response.json()) == {"grid": {"name": "宝安区"}}


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
def test_other_methods_are_405(client: TestClient, method: str) -> None:
    response = client.request(method, "/graphql", json={"query": QUERY})
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"
    assert error_codes(response.json()) == ["METHOD_NOT_ALLOWED"]


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "multipart/form-data; boundary=x",
        "application/x-www-form-urlencoded",
        "application/graphql",
        "application/json; charset=latin-1",
        "application/json; charset=utf-16",
        "",
    ],
)
def test_content_types_a_form_can_send_are_refused_before_anything_runs(
    client: TestClient, content_type: str
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    response = client.post("/graphql", content=b'{"query": "{ me { subject } }"}', headers=headers)
    assert response.status_code == 415
    assert error_codes(response.json()) == ["UNSUPPORTED_MEDIA_TYPE"]


def test_json_with_a_utf8_charset_is_taken(client: TestClient) -> None:
    for content_type in ("application/json; charset=utf-8", 'Application/JSON; charset="UTF-8"'):
        response = client.post(
            "/graphql",
            content=f'{{"query": "{QUERY.replace(chr(34), chr(92) + chr(34))}"}}'.encode(),
            headers={"content-type": content_type},
        )
        assert data_of(response.json()) == {"grid": {"name": "宝安区"}}


@pytest.mark.parametrize(
    "body",
    [
        b'{"query": "{ me { subject \xff\xfe } }"}',
        b'\xc3\x28{"query": "{ me { subject } }"}',
        b'{"query": "\xed\xa0\x80"}',
        b'{"query": "{ me { subject } }", "variables": {"x": "\\ud800"}}',
    ],
)
def test_invalid_utf8_is_a_clean_400(client: TestClient, body: bytes) -> None:
    response = client.post("/graphql", content=body, headers={"content-type": JSON})
    assert response.status_code == 400
    assert error_codes(response.json()) == ["BAD_REQUEST"]


def test_a_batch_is_refused_with_its_own_code(client: TestClient) -> None:
    response = post(client, [{"query": QUERY}, {"query": QUERY}])
    assert response.status_code == 400
    assert error_codes(response.json()) == ["BATCH_NOT_SUPPORTED"]


def test_a_cors_preflight_from_an_allowed_origin_is_answered(client: TestClient) -> None:
    response = client.options(
        "/graphql",
        headers={
            "origin": ORIGIN,
            "access-control-request-method": "POST",
            "access-control-request-headers": "authorization, content-type, x-access-purpose",
        },
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert "POST" in response.headers["access-control-allow-methods"]
    assert "authorization" in response.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-credentials" not in response.headers
    actual = post(client, {"query": QUERY}, origin=ORIGIN)
    assert actual.headers["access-control-allow-origin"] == ORIGIN
    assert "x-request-id" in actual.headers["access-control-expose-headers"].lower()


@pytest.mark.parametrize("cors_origins", [[ORIGIN], []])
def test_a_cors_preflight_from_another_origin_is_refused(
    settings: Settings, cors_origins: list[str]
) -> None:
    with TestClient(create_app(settings.model_copy(update={"cors_origins": cors_origins}))) as c:
        response = c.options(
            "/graphql",
            headers={
                "origin": "https://evil.example",
                "access-control-request-method": "POST",
                "access-control-request-headers": "authorization",
            },
        )
    assert response.status_code == 400
    assert "access-control-allow-origin" not in response.headers


def test_cors_is_closed_by_default() -> None:
    assert Settings(_env_file=None).cors_origins == []  # type: ignore[call-arg]


def test_list_settings_read_comma_separated_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRIDHUB_CORS_ORIGINS", f"{ORIGIN}, https://apps.example")
    monkeypatch.setenv("GRIDHUB_INTROSPECTION_ROLES", '["auditor"]')
    loaded = Settings(_env_file=None)  # type: ignore[call-arg]
    assert loaded.cors_origins == [ORIGIN, "https://apps.example"]
    assert loaded.introspection_roles == ["auditor"]
