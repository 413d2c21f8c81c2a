"""POST /oauth/token and GET /.well-known/jwks.json, through the app as a department app sees it."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from auth.keys import rotate
from auth.principal import identity_from_claims
from auth.tokens import verify_token
from hub.app import create_app
from hub.services import services
from hub.settings import Settings
from tests.auth.conftest import MakeClient
from tests.auth.helpers import unb64

GRANT = {"grant_type": "client_credentials"}


@pytest.fixture(scope="module")
def http(auth_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(auth_settings)) as client:
        yield client


def basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def oauth_error(response: Any) -> str:
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    return str(response.json()["error"])


async def test_a_client_gets_a_token_with_http_basic(
    http: TestClient, make_client: MakeClient, auth_settings: Settings
) -> None:
    new = await make_client(department="emergency")

    response = http.post(
        "/oauth/token", data=GRANT, headers=basic(new.client_id, new.client_secret)
    )

    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == auth_settings.token_ttl
    verifier = services(http.app).verifier
    identity = identity_from_claims(await verify_token(body["access_token"], verifier), verifier)
    assert (identity.subject, identity.kind, identity.client_id) == (
        new.subject,
        "client",
        new.client_id,
    )


async def test_a_client_gets_a_token_with_credentials_in_the_body(
    http: TestClient, make_client: MakeClient
) -> None:
    new = await make_client()

    response = http.post(
        "/oauth/token",
        data={**GRANT, "client_id": new.client_id, "client_secret": new.client_secret},
    )

    assert response.status_code == 200
    assert response.json()["token_type"] == "Bearer"


async def test_every_failed_client_authentication_looks_the_same(
    http: TestClient, make_client: MakeClient
) -> None:
    new = await make_client()
    other = await make_client()
    attempts: dict[str, dict[str, Any]] = {
        "wrong secret": {"headers": basic(new.client_id, other.client_secret)},
        "unknown client": {"headers": basic("gh_nobody", new.client_secret)},
        "wrong secret in the body": {
            "data": {**GRANT, "client_id": new.client_id, "client_secret": "guess"}
        },
        "unknown client in the body": {
            "data": {**GRANT, "client_id": "gh_nobody", "client_secret": "guess"}
        },
        "no credentials": {},
        "id without secret": {"data": {**GRANT, "client_id": new.client_id}},
        "Basic without a colon": {
            "headers": {"Authorization": "Basic " + base64.b64encode(b"gh_x").decode()}
        },
        "Basic not UTF-8": {
            "headers": {"Authorization": "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode()}
        },
        "a bearer token instead": {"headers": {"Authorization": "Bearer abc"}},
    }
    answers = []
    for name, request in attempts.items():
        response = http.post(
            "/oauth/token", data=request.get("data", GRANT), headers=request.get("headers")
        )
        assert response.status_code == 401, name
        assert response.headers["www-authenticate"].startswith("Basic "), name
        assert oauth_error(response) == "invalid_client", name
        assert new.client_id.encode() not in response.content, name
        answers.append(response.content)

    assert len(set(answers)) == 1


@pytest.mark.parametrize(
    ("request_kwargs", "status", "error"),
    [
        ({"data": {"grant_type": "password"}}, 400, "unsupported_grant_type"),
        ({"data": {"grant_type": "authorization_code"}}, 400, "unsupported_grant_type"),
        ({"data": {}}, 400, "invalid_request"),
        ({"data": {"grant_type": ""}}, 400, "invalid_request"),
        ({"json": GRANT}, 400, "invalid_request"),
        (
            {
                "content": b"grant_type=client_credentials&grant_type=client_credentials",
                "headers": {"content-type": "application/x-www-form-urlencoded"},
            },
            400,
            "invalid_request",
        ),
        (
            {
                "content": b"grant_type=client_credentials&" + b"x" * 9000,
                "headers": {"content-type": "application/x-www-form-urlencoded"},
            },
            400,
            "invalid_request",
        ),
    ],
    ids=[
        "password grant",
        "code grant",
        "no grant",
        "empty grant",
        "json body",
        "repeated",
        "too large",
    ],
)
async def test_a_malformed_token_request_is_an_rfc6749_error(
    http: TestClient,
    make_client: MakeClient,
    request_kwargs: dict[str, Any],
    status: int,
    error: str,
) -> None:
    new = await make_client()
    headers = {**basic(new.client_id, new.client_secret), **request_kwargs.pop("headers", {})}

    response = http.post("/oauth/token", headers=headers, **request_kwargs)

    assert response.status_code == status
    assert oauth_error(response) == error


async def test_two_authentication_methods_at_once_are_refused(
    http: TestClient, make_client: MakeClient
) -> None:
    new = await make_client()

    both = http.post(
        "/oauth/token",
        data={**GRANT, "client_secret": new.client_secret},
        headers=basic(new.client_id, new.client_secret),
    )
    other_id = http.post(
        "/oauth/token",
        data={**GRANT, "client_id": "gh_someone_else"},
        headers=basic(new.client_id, new.client_secret),
    )

    assert (both.status_code, oauth_error(both)) == (400, "invalid_request")
    assert (other_id.status_code, oauth_error(other_id)) == (400, "invalid_request")


async def test_a_secret_in_the_url_is_refused(http: TestClient, make_client: MakeClient) -> None:
    new = await make_client()

    response = http.post(
        f"/oauth/token?client_id={new.client_id}&client_secret={new.client_secret}", data=GRANT
    )

    assert (response.status_code, oauth_error(response)) == (400, "invalid_request")


async def test_a_scope_is_refused_because_grants_decide(
    http: TestClient, make_client: MakeClient
) -> None:
    new = await make_client()

    response = http.post(
        "/oauth/token",
        data={**GRANT, "scope": "people:read"},
        headers=basic(new.client_id, new.client_secret),
    )

    assert (response.status_code, oauth_error(response)) == (400, "invalid_scope")


def test_the_token_endpoint_takes_post_only(http: TestClient) -> None:
    assert http.get("/oauth/token").status_code == 405


def test_the_jwks_publishes_the_signing_key_without_private_parts(http: TestClient) -> None:
    response = http.get("/.well-known/jwks.json")

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    (key,) = response.json()["keys"]
    assert key["kid"] == services(http.app).keys.kid
    assert (key["kty"], key["crv"], key["alg"], key["use"]) == ("EC", "P-256", "ES256", "sig")
    assert "d" not in key


async def test_after_a_rotation_the_endpoint_signs_with_the_new_key_and_lists_both(
    auth_settings: Settings, make_client: MakeClient, tmp_path: Any
) -> None:
    settings = auth_settings.model_copy(update={"key_dir": tmp_path / "keys"})
    new = await make_client()
    with TestClient(create_app(settings)) as client:
        old_kid = client.get("/.well-known/jwks.json").json()["keys"][0]["kid"]
        before = client.post(
            "/oauth/token", data=GRANT, headers=basic(new.client_id, new.client_secret)
        ).json()["access_token"]

        new_kid = rotate(settings.key_dir)
        listed = [key["kid"] for key in client.get("/.well-known/jwks.json").json()["keys"]]
        after = client.post(
            "/oauth/token", data=GRANT, headers=basic(new.client_id, new.client_secret)
        ).json()["access_token"]
        verifier = services(client.app).verifier

        assert listed == [new_kid, old_kid]
        assert _kid(before) == old_kid
        assert _kid(after) == new_kid
        assert await verify_token(before, verifier)
        assert await verify_token(after, verifier)


def _kid(token: str) -> str:
    return str(json.loads(unb64(token.split(".")[0]))["kid"])


@pytest.mark.parametrize("where", ["body", "basic"])
async def test_a_nul_in_the_client_id_is_invalid_client(
    http: TestClient, make_client: MakeClient, where: str
) -> None:
    """A NUL can be in no client id (PostgreSQL text holds none): invalid_client like any
    unknown id, in RFC 6749's JSON, never a 500."""
    new = await make_client()
    forged = new.client_id[:4] + "\x00" + new.client_id[4:]
    if where == "body":
        response = http.post(
            "/oauth/token",
            data={**GRANT, "client_id": forged, "client_secret": new.client_secret},
        )
    else:
        response = http.post("/oauth/token", data=GRANT, headers=basic(forged, new.client_secret))
    assert response.status_code == 401
    assert oauth_error(response) == "invalid_client"
