"""authenticate(): a bearer token becomes an Identity, and every failure the same 401."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from auth.issuers import Verifier
from auth.keys import HubKeys
from auth.principal import (
    UNAUTHENTICATED_BODY,
    Identity,
    Unauthenticated,
    authenticate,
    unauthenticated_handler,
)
from auth.tokens import issue_token
from hub.settings import Settings
from tests.auth.helpers import REASONS, attacks


@pytest.fixture(scope="module")
def http(verifier: Verifier) -> Iterator[TestClient]:
    """A test-only app with one route that needs a token, as /graphql does."""

    async def whoami(request: Request) -> JSONResponse:
        return JSONResponse(asdict(await authenticate(request, verifier)))

    app = Starlette(
        routes=[Route("/whoami", whoami)],
        exception_handlers={Unauthenticated: unauthenticated_handler},
    )
    with TestClient(app) as client:
        yield client


def bearer(token: str) -> dict[bytes, bytes]:
    return {b"Authorization": f"Bearer {token}".encode()}  # bytes: a token may be non-ASCII


def assert_unauthenticated(response: object) -> None:
    assert response.status_code == 401  # type: ignore[attr-defined]
    assert response.json() == UNAUTHENTICATED_BODY  # type: ignore[attr-defined]
    assert response.headers["www-authenticate"] == "Bearer"  # type: ignore[attr-defined]
    assert response.headers["content-type"] == "application/json"  # type: ignore[attr-defined]


def test_a_person_token_is_an_identity(
    http: TestClient, keys: HubKeys, auth_settings: Settings
) -> None:
    token = issue_token(keys, auth_settings, "grid-worker-3", "person")

    response = http.get("/whoami", headers=bearer(token))

    assert response.status_code == 200
    identity = Identity(**response.json())
    assert identity.subject == "grid-worker-3"
    assert identity.kind == "person"
    assert identity.client_id is None
    assert identity.issuer == auth_settings.issuer
    assert identity.token_id


def test_a_client_token_is_a_client_identity(
    http: TestClient, keys: HubKeys, auth_settings: Settings
) -> None:
    token = issue_token(keys, auth_settings, "housing-app", "client", client_id="gh_housing")

    response = http.get("/whoami", headers={"Authorization": f"bearer  {token}"})

    assert response.json()["kind"] == "client"
    assert response.json()["client_id"] == "gh_housing"


@pytest.mark.parametrize("attack", sorted(REASONS))
def test_every_bad_token_gets_the_same_401(
    http: TestClient, keys: HubKeys, auth_settings: Settings, attack: str
) -> None:
    token = attacks(keys, auth_settings)[attack]

    response = http.get("/whoami", headers=bearer(token))

    assert_unauthenticated(response)


@pytest.mark.parametrize(
    "headers",
    [
        [],
        [("Authorization", "")],
        [("Authorization", "Bearer")],
        [("Authorization", "Bearer ")],
        [("Authorization", "Basic dXNlcjpwYXNz")],
        [("Authorization", "Token abc.def.ghi")],
        [("Authorization", "Bearer abc def")],
        [("Authorization", "Bearer a.b.c"), ("Authorization", "Bearer a.b.c")],
    ],
    ids=[
        "no header",
        "empty",
        "scheme only",
        "scheme and space",
        "basic",
        "another scheme",
        "two tokens",
        "two headers",
    ],
)
def test_a_missing_or_malformed_header_gets_the_same_401(
    http: TestClient, headers: list[tuple[str, str]]
) -> None:
    response = http.get("/whoami", headers=headers)

    assert_unauthenticated(response)


def test_two_authorization_headers_are_refused_even_if_one_is_good(
    http: TestClient, keys: HubKeys, auth_settings: Settings
) -> None:
    token = issue_token(keys, auth_settings, "grid-worker-3", "person")

    response = http.get(
        "/whoami", headers=[("Authorization", f"Bearer {token}"), ("Authorization", "Bearer x")]
    )

    assert_unauthenticated(response)


async def test_authenticate_reads_a_starlette_request_directly(
    verifier: Verifier, keys: HubKeys, auth_settings: Settings
) -> None:
    app = Starlette()
    token = issue_token(keys, auth_settings, "grid-worker-9", "person")

    def request(authorization: bytes | None) -> Request:
        headers = [(b"authorization", authorization)] if authorization else []
        return Request({"type": "http", "app": app, "headers": headers, "method": "GET"})

    found = await authenticate(request(b"Bearer " + token.encode()), verifier)
    assert found.subject == "grid-worker-9"
    with pytest.raises(Unauthenticated):
        await authenticate(request(None), verifier)
    with pytest.raises(Unauthenticated):
        await authenticate(request(b"Bearer " + token[:-2].encode()), verifier)
