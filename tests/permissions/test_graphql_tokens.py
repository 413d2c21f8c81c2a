"""The GraphQL endpoint itself refuses every bad token, and tokens of principals it does not know.

The attack tokens name a principal that exists (made here as the subject of ``hub_claims``), so
the only reason for the 401 is the attack itself.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy import delete, insert
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.testclient import TestClient

from auth.keys import HubKeys
from auth.principal import UNAUTHENTICATED_BODY
from auth.tokens import issue_token
from hub.app import create_app
from hub.settings import Settings
from store.models import Principal
from tests.auth.helpers import REASONS, attacks, hub_claims, sign
from tests.support import data_of

QUERY = {"query": "{ me { subject } }"}
ATTACKED = hub_claims(Settings(_env_file=None))["sub"]  # type: ignore[call-arg]  # attacks name it


@pytest.fixture(scope="module")
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture(scope="module")
async def attacked_principal(engine: AsyncEngine) -> AsyncIterator[str]:
    async with engine.begin() as connection:
        await connection.execute(
            insert(Principal),
            {
                "subject": ATTACKED,
                "kind": "person",
                "name": "测试",
                "department_code": "grid_office",
            },
        )
    yield ATTACKED
    async with engine.begin() as connection:
        await connection.execute(delete(Principal).where(Principal.subject == ATTACKED))


def _assert_401(response: object) -> None:
    assert response.status_code == 401  # type: ignore[attr-defined]
    assert response.json() == UNAUTHENTICATED_BODY  # type: ignore[attr-defined]


def test_the_attacked_subjects_good_token_is_answered(
    client: TestClient, hub_keys: HubKeys, settings: Settings, attacked_principal: str
) -> None:
    """The control: the same claims, signed properly, are served."""
    token = sign(hub_claims(settings), hub_keys.signing_key, kid=hub_keys.kid)
    response = client.post("/graphql", json=QUERY, headers={"authorization": f"Bearer {token}"})
    assert data_of(response.json()) == {"me": {"subject": attacked_principal}}


@pytest.mark.parametrize("attack", sorted(REASONS))
def test_every_token_attack_is_401_on_graphql(
    client: TestClient, hub_keys: HubKeys, settings: Settings, attacked_principal: str, attack: str
) -> None:
    token = attacks(hub_keys, settings)[attack]
    # bytes: a token may be non-ASCII, which a str header could not carry
    headers = {b"authorization": f"Bearer {token}".encode()}
    _assert_401(client.post("/graphql", json=QUERY, headers=headers))


def test_a_valid_token_for_no_principal_is_401(
    client: TestClient, hub_keys: HubKeys, settings: Settings
) -> None:
    token = issue_token(hub_keys, settings, "nobody-at-all", "person")
    _assert_401(client.post("/graphql", json=QUERY, headers={"authorization": f"Bearer {token}"}))


def test_a_person_token_for_an_apps_subject_is_401(
    client: TestClient, hub_keys: HubKeys, settings: Settings
) -> None:
    """``gridhub token`` mints person tokens: it can not be used to act as a department app."""
    token = issue_token(hub_keys, settings, "housing-app", "person")
    _assert_401(client.post("/graphql", json=QUERY, headers={"authorization": f"Bearer {token}"}))


def test_a_client_token_for_a_persons_subject_is_401(
    client: TestClient, hub_keys: HubKeys, settings: Settings
) -> None:
    token = issue_token(
        hub_keys, settings, "worker-440306001001001", "client", client_id="gh_forged"
    )
    _assert_401(client.post("/graphql", json=QUERY, headers={"authorization": f"Bearer {token}"}))


async def test_a_deleted_principals_live_token_stops_working(
    client: TestClient, hub_keys: HubKeys, settings: Settings, engine: AsyncEngine
) -> None:
    subject = "temp-worker-deleted"
    async with engine.begin() as connection:
        await connection.execute(
            insert(Principal),
            {"subject": subject, "kind": "person", "name": "临时", "department_code": None},
        )
    headers = {"authorization": f"Bearer {issue_token(hub_keys, settings, subject, 'person')}"}
    try:
        assert client.post("/graphql", json=QUERY, headers=headers).status_code == 200
    finally:
        async with engine.begin() as connection:
            await connection.execute(delete(Principal).where(Principal.subject == subject))
    _assert_401(client.post("/graphql", json=QUERY, headers=headers))
