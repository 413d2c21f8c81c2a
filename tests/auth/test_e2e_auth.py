"""End to end: ``gridhub serve`` in its own process issues tokens over real HTTP.

A department app gets a token with its client credentials; anyone can verify it with nothing
but the published JWKS; the key outlives a restart.
"""

from __future__ import annotations

import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from auth.issuers import Verifier
from auth.keys import HubKeys
from auth.principal import identity_from_claims
from auth.tokens import verify_token
from hub.settings import Settings, TrustedIssuer
from tests.auth.conftest import MakeClient
from tests.support import running

pytestmark = pytest.mark.e2e

GRANT = {"grant_type": "client_credentials"}


@contextmanager
def serving(database_url: str, key_dir: Path) -> Iterator[str]:
    """``python -m hub serve`` with its keys in ``key_dir``, until it answers /healthz."""
    arguments = ["serve", "--database-url", database_url]
    with running(arguments, env={"GRIDHUB_KEY_DIR": str(key_dir)}) as (base, _):
        yield base


@pytest.fixture(scope="module")
def key_dir_e2e(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("e2e") / "keys"


@pytest.fixture(scope="module")
def server(database_url: str, key_dir_e2e: Path) -> Iterator[str]:
    with serving(database_url, key_dir_e2e) as base:
        yield base


async def test_a_department_app_gets_a_token_anyone_can_verify_with_the_jwks(
    server: str, make_client: MakeClient, tmp_path: Path
) -> None:
    new = await make_client(department="public_security")

    async with httpx.AsyncClient(base_url=server) as http:
        response = await http.post(
            "/oauth/token", data=GRANT, auth=(new.client_id, new.client_secret)
        )
        jwks = (await http.get("/.well-known/jwks.json")).json()

    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    token = response.json()["access_token"]
    # A gateway with only the JWKS and a JWT library checks it without the hub's code:
    decoded = jwt.decode(token, KeySet.import_key_set(jwks), algorithms=["ES256"])
    registry = jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": "gridhub"},
        aud={"essential": True, "value": "gridhub"},
        exp={"essential": True},
        sub={"essential": True},
    )
    registry.validate(decoded.claims)
    assert decoded.claims["sub"] == new.subject
    assert decoded.claims["client_id"] == new.client_id
    # And another hub that trusts this one by its JWKS URL fetches the keys over HTTP:
    trusted = TrustedIssuer(
        issuer="gridhub",
        audience="gridhub",
        jwks_url=f"{server}/.well-known/jwks.json",
        algorithms=("ES256",),
    )
    other = Settings(
        issuer="another-hub", key_dir=tmp_path / "other", trusted_issuers=[trusted], _env_file=None
    )  # type: ignore[call-arg]
    verifier = Verifier.from_settings(other, HubKeys.load_or_create(other.key_dir))
    try:
        identity = identity_from_claims(await verify_token(token, verifier), verifier)
    finally:
        await verifier.aclose()
    assert (identity.subject, identity.issuer) == (new.subject, "gridhub")


async def test_a_wrong_secret_over_http_is_invalid_client(
    server: str, make_client: MakeClient
) -> None:
    new = await make_client()

    async with httpx.AsyncClient(base_url=server) as http:
        response = await http.post("/oauth/token", data=GRANT, auth=(new.client_id, "guess"))

    assert response.status_code == 401
    assert response.json() == {
        "error": "invalid_client",
        "error_description": "Client authentication failed.",
    }
    assert response.headers["www-authenticate"].startswith("Basic ")


def test_the_signing_key_survives_a_restart(
    server: str, database_url: str, key_dir_e2e: Path
) -> None:
    before = httpx.get(f"{server}/.well-known/jwks.json").json()

    with serving(database_url, key_dir_e2e) as restarted:
        after = httpx.get(f"{restarted}/.well-known/jwks.json").json()

    assert after == before
    assert stat.S_IMODE((key_dir_e2e / "signing.jwk").stat().st_mode) == 0o600
