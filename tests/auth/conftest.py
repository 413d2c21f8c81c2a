"""Fixtures for identity: a key directory of its own, a verifier, clients that clean up.

The session's seeded database is shared with every other test, so clients made here get
subjects no other test uses and are deleted again when their test ends.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import typer
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from auth.clients import NewClient, create_client
from auth.issuers import Verifier
from auth.keys import HubKeys
from cli.auth import register
from hub.settings import Settings
from store.models import OAuthClient, Principal

MakeClient = Callable[..., Awaitable[NewClient]]


@pytest.fixture(scope="session")
def cli() -> typer.Typer:
    """A command like ``gridhub``, with the identity commands registered as cli/main.py does."""
    app = typer.Typer(no_args_is_help=True)

    @app.callback()
    def main() -> None:
        """gridhub"""

    register(app)
    return app


@pytest.fixture(scope="session")
def auth_settings(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The session's settings with a key directory of their own."""
    return settings.model_copy(update={"key_dir": tmp_path_factory.mktemp("keys") / "hub"})


@pytest.fixture(scope="session")
def keys(auth_settings: Settings) -> HubKeys:
    return HubKeys.load_or_create(auth_settings.key_dir)


@pytest.fixture(scope="session")
def verifier(auth_settings: Settings, keys: HubKeys) -> Verifier:
    return Verifier.from_settings(auth_settings, keys)


@pytest.fixture
def key_dir(tmp_path: Path) -> Path:
    """A key directory that does not exist yet."""
    return tmp_path / "keys"


@pytest.fixture
async def make_client(engine: AsyncEngine) -> AsyncIterator[MakeClient]:
    """Create (and commit) department-app clients; they and their principals go at teardown."""
    subjects: list[str] = []

    async def make(department: str = "housing", subject: str | None = None) -> NewClient:
        subject = subject or f"test-auth-{uuid.uuid4().hex[:12]}"
        subjects.append(subject)
        async with AsyncSession(engine) as session, session.begin():
            return await create_client(session, subject=subject, department_code=department)

    yield make
    async with AsyncSession(engine) as session, session.begin():
        await session.execute(delete(OAuthClient).where(OAuthClient.subject.in_(subjects)))
        await session.execute(delete(Principal).where(Principal.subject.in_(subjects)))
