"""A token names a principal as it is now, or is refused like a forged one.

A signed token whose subject holds a NUL can name nobody (PostgreSQL text holds none): 401, and
no audit entry carries a mangled subject. A token issued before its principal was (re)created
was issued to someone who no longer exists: removing a subject and adding it again must not
revive the old subject's live tokens."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from starlette.testclient import TestClient

from auth.keys import HubKeys
from auth.tokens import issue_token
from hub.app import create_app
from hub.settings import Settings
from store.models import AuditEntry, Principal

ME = {"query": "{ me { subject } }"}


@pytest.fixture(scope="module")
def http(auth_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(auth_settings)) as client:
        yield client


def _ask(http: TestClient, token: str) -> tuple[int, dict[str, object]]:
    response = http.post("/graphql", json=ME, headers={"Authorization": f"Bearer {token}"})
    return response.status_code, response.json()


async def _add_person(engine: AsyncEngine, subject: str) -> None:
    async with AsyncSession(engine) as session, session.begin():
        session.add(Principal(subject=subject, kind="person", name="测试", department_code=None))


async def _remove(engine: AsyncEngine, subject: str) -> None:
    async with AsyncSession(engine) as session, session.begin():
        await session.execute(delete(Principal).where(Principal.subject == subject))


@pytest.fixture
async def subject(engine: AsyncEngine) -> AsyncIterator[str]:
    """A person principal of this test's own, removed at the end."""
    name = f"test-person-{uuid.uuid4().hex[:12]}"
    await _add_person(engine, name)
    yield name
    await _remove(engine, name)


async def test_a_signed_subject_holding_a_nul_is_refused_and_not_audited_mangled(
    http: TestClient, keys: HubKeys, auth_settings: Settings, engine: AsyncEngine, subject: str
) -> None:
    forged = subject[:6] + "\x00" + subject[6:]
    status, body = _ask(http, issue_token(keys, auth_settings, forged, "person"))
    assert status == 401
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"  # type: ignore[index]
    async with AsyncSession(engine) as session:
        subjects = (await session.scalars(select(AuditEntry.subject))).all()
    assert not any(s and "\x00" in s for s in subjects)
    assert not any(s and s.startswith(subject[:6]) and s != subject for s in subjects)


async def test_a_subject_removed_and_added_again_does_not_revive_its_old_tokens(
    http: TestClient, keys: HubKeys, auth_settings: Settings, engine: AsyncEngine, subject: str
) -> None:
    old = issue_token(keys, auth_settings, subject, "person")
    assert _ask(http, old)[0] == 200

    await _remove(engine, subject)
    # Refused once the hub has heard of the removal (on PostgreSQL a notification, which a
    # loaded machine may deliver some milliseconds after the next request arrives).
    deadline = time.monotonic() + 5
    while _ask(http, old)[0] != 401:
        assert time.monotonic() < deadline, "the removed principal's token is still taken"
        await asyncio.sleep(0.05)
    await asyncio.sleep(1.1)  # a token's iat is in whole seconds: add it again in a later one
    await _add_person(engine, subject)

    assert _ask(http, old)[0] == 401
    status, body = _ask(http, issue_token(keys, auth_settings, subject, "person"))
    assert status == 200
    assert body == {"data": {"me": {"subject": subject}}}
