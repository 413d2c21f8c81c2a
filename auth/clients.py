"""OAuth clients: department apps that sign in with a client id and secret.

A client acts as a principal of kind ``client``: its row in ``principals`` is what policies name,
and ``oauth_clients`` holds only the credentials. The secret is 256 random bits, shown once when
the client is created; the table keeps a salted scrypt hash of it. The secrets are random, so a
fast hash would already resist guessing — scrypt is there so that a copied table is useless for
offline attempts even if an operator ever sets a weak secret by hand, and it costs a few tens of
milliseconds once per token, not per request.

Service functions take a session and never commit: the caller owns the transaction.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from store.models import Department
from store.models.access import OAuthClient, Principal, PrincipalKind

SCRYPT_N, SCRYPT_R, SCRYPT_P, SCRYPT_LENGTH = 2**14, 8, 1, 32
CLIENT_ID_PREFIX = "gh_"
MAX_SECRET_LENGTH = 512


class ClientError(Exception):
    """A client can not be created as asked; the message says why."""


@dataclass(frozen=True)
class NewClient:
    """What :func:`create_client` hands back; the secret exists nowhere else afterwards."""

    client_id: str
    client_secret: str
    subject: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_secret(secret: str, *, salt: bytes | None = None) -> str:
    """``scrypt$N$r$p$salt$hash`` (base64url), so the cost can be raised later per row."""
    salt = secrets.token_bytes(16) if salt is None else salt
    digest = hashlib.scrypt(
        secret.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=SCRYPT_LENGTH
    )
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def check_secret(secret: str, stored: str) -> bool:
    """Whether ``secret`` matches ``stored``, compared in constant time."""
    try:
        scheme, n, r, p, salt, expected = stored.split("$")
        if scheme != "scrypt":
            return False
        digest = hashlib.scrypt(
            secret.encode("utf-8"),
            salt=_unb64(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(_unb64(expected)),
            maxmem=256 * 1024 * 1024,
        )
    except ValueError:
        return False
    return hmac.compare_digest(digest, _unb64(expected))


@functools.cache
def _dummy_hash() -> str:
    """Checked against when the client id is unknown, so that takes as long as a known id."""
    return hash_secret("not a secret", salt=b"\0" * 16)


async def create_client(
    session: AsyncSession,
    *,
    subject: str,
    department_code: str,
    name: str | None = None,
) -> NewClient:
    """Register a department app: its principal (created if new) and a fresh id and secret.

    An existing principal may get another client (a second app, or a new secret before the old
    one is deleted) if it is a client of the same department; a person's subject is refused.
    """
    if await session.get(Department, department_code) is None:
        raise ClientError(f"no department with code {department_code!r}")
    principal = await session.get(Principal, subject)
    if principal is None:
        session.add(
            Principal(
                subject=subject,
                kind=PrincipalKind.CLIENT.value,
                name=(name or subject)[:64],
                department_code=department_code,
            )
        )
        await session.flush()  # no ORM relationship orders the two inserts: the principal first
    elif principal.kind != PrincipalKind.CLIENT or principal.department_code != department_code:
        raise ClientError(
            f"{subject!r} is already a {principal.kind} of department {principal.department_code}"
        )
    client_id = CLIENT_ID_PREFIX + secrets.token_urlsafe(16)
    secret = secrets.token_urlsafe(32)
    session.add(
        OAuthClient(
            client_id=client_id,
            secret_hash=await asyncio.to_thread(hash_secret, secret),
            subject=subject,
            created_at=datetime.now(UTC),
        )
    )
    await session.flush()
    return NewClient(client_id, secret, subject)


@dataclass(frozen=True)
class ClientListing:
    """A client as an operator sees it: never its secret, nor the secret's hash."""

    client_id: str
    subject: str
    created_at: datetime


async def list_clients(session: AsyncSession) -> list[ClientListing]:
    """Every client, by subject then age, so an app's old and new clients sit together."""
    rows = await session.execute(
        select(OAuthClient.client_id, OAuthClient.subject, OAuthClient.created_at).order_by(
            OAuthClient.subject, OAuthClient.created_at, OAuthClient.client_id
        )
    )
    return [ClientListing(client_id, subject, created) for client_id, subject, created in rows]


async def delete_client(session: AsyncSession, client_id: str) -> str:
    """Delete the client ``client_id`` (its secret gets no token from then on); the subject it
    acted as. The principal stays, with its roles and grants, for the app's other clients.
    :class:`ClientError` when there is no such client, so a mistyped id is not taken for done."""
    subject = await session.scalar(
        delete(OAuthClient).where(OAuthClient.client_id == client_id).returning(OAuthClient.subject)
    )
    if subject is None:
        raise ClientError(f"no client with id {client_id!r}")
    return subject


async def authenticate_client(
    session: AsyncSession, client_id: str, client_secret: str
) -> OAuthClient | None:
    """The client whose id and secret these are, or None (unknown id and wrong secret alike)."""
    client = None
    if len(client_id) <= 64 and len(client_secret) <= MAX_SECRET_LENGTH:
        client = (
            await session.execute(select(OAuthClient).where(OAuthClient.client_id == client_id))
        ).scalar_one_or_none()
    stored = client.secret_hash if client is not None else _dummy_hash()
    matches = await asyncio.to_thread(check_secret, client_secret, stored)
    return client if matches and client is not None else None
