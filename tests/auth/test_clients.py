"""Department-app clients: a principal row, a hashed secret, authentication that leaks nothing."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from auth.clients import (
    ClientError,
    authenticate_client,
    check_secret,
    create_client,
    hash_secret,
)
from store.models import OAuthClient, Principal
from tests.auth.conftest import MakeClient


async def test_a_new_client_is_a_client_principal_of_its_department(
    make_client: MakeClient, engine: AsyncEngine
) -> None:
    new = await make_client(department="emergency")

    async with AsyncSession(engine) as session:
        principal = await session.get(Principal, new.subject)
        client = await session.get(OAuthClient, new.client_id)

    assert principal is not None
    assert (principal.kind, principal.department_code) == ("client", "emergency")
    assert client is not None
    assert client.subject == new.subject
    assert client.created_at.tzinfo is not None


async def test_the_secret_is_not_stored_in_clear(
    make_client: MakeClient, engine: AsyncEngine
) -> None:
    new = await make_client()

    async with engine.connect() as connection:
        row = (
            await connection.execute(
                select(OAuthClient.__table__).where(OAuthClient.client_id == new.client_id)
            )
        ).one()

    stored = row.secret_hash
    assert new.client_secret not in stored
    assert new.client_secret not in "".join(str(value) for value in row)
    assert stored.startswith("scrypt$16384$8$1$")
    assert len(new.client_secret) >= 43  # 256 random bits


async def test_authentication_takes_the_right_secret_only(
    make_client: MakeClient, engine: AsyncEngine
) -> None:
    new = await make_client()
    other = await make_client()

    async with AsyncSession(engine) as session:
        right = await authenticate_client(session, new.client_id, new.client_secret)
        wrong = await authenticate_client(session, new.client_id, other.client_secret)
        unknown = await authenticate_client(session, "gh_unknown", new.client_secret)
        empty = await authenticate_client(session, new.client_id, "")

    assert right is not None
    assert right.client_id == new.client_id
    assert (wrong, unknown, empty) == (None, None, None)


async def test_a_principal_may_hold_two_clients_to_change_its_secret(
    make_client: MakeClient, engine: AsyncEngine
) -> None:
    first = await make_client(subject=f"test-auth-{uuid.uuid4().hex[:8]}")

    second = await make_client(subject=first.subject)

    assert second.client_id != first.client_id
    async with AsyncSession(engine) as session:
        assert await authenticate_client(session, first.client_id, first.client_secret)
        assert await authenticate_client(session, second.client_id, second.client_secret)


@pytest.mark.parametrize(
    ("department", "existing", "message"),
    [
        ("no-such-department", None, "no department"),
        ("housing", "person", "already a person"),
        ("emergency", "client", "already a client of department housing"),
    ],
)
async def test_a_client_that_would_confuse_principals_is_refused(
    engine: AsyncEngine, department: str, existing: str | None, message: str
) -> None:
    subject = f"test-auth-{uuid.uuid4().hex[:8]}"
    async with AsyncSession(engine) as session:
        if existing:
            session.add(
                Principal(subject=subject, kind=existing, name="x", department_code="housing")
            )
            await session.flush()

        with pytest.raises(ClientError, match=message):
            await create_client(session, subject=subject, department_code=department)
        await session.rollback()


@pytest.mark.parametrize(
    "stored",
    ["", "plain-text-secret", "bcrypt$x$y", "scrypt$16384$8$1$!!$!!", "scrypt$a$b$c$d$e"],
)
def test_a_malformed_stored_hash_matches_nothing(stored: str) -> None:
    assert check_secret("plain-text-secret", stored) is False


def test_the_same_secret_hashes_differently_each_time() -> None:
    first, second = hash_secret("s3cret"), hash_secret("s3cret")

    assert first != second
    assert check_secret("s3cret", first)
    assert check_secret("s3cret", second)
    assert not check_secret("s3cret ", first)
