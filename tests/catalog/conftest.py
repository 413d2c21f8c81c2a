"""Fixtures of the grant tests: a server with a movable clock, and a fixture that takes back
every request and grant a test made (the database is the session's, and the demo apps' views
must stay as tests/permissions pins them)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.testclient import TestClient

from hub.app import create_app
from hub.settings import Settings
from policies.grants import grant_role
from policies.store import PolicyStore
from store.models import AccessRequest, CasbinRule, Grant, Principal
from tests.catalog.grant_helpers import Clock, Hub


@pytest.fixture(scope="module")
def hub(settings: Settings, token_for: Callable[[str], str]) -> Iterator[Hub]:
    """The app on the session's database; its sweep is left to the tests (an hour apart)."""
    clock = Clock()
    quiet = settings.model_copy(update={"grant_sweep_seconds": 3600.0})
    with TestClient(create_app(quiet, clock)) as client:
        yield Hub(client, clock, token_for)


@pytest.fixture
async def forget(engine: AsyncEngine) -> AsyncIterator[list[str]]:
    """Take back every request and grant the test made, and the test principals it names
    (append their subjects): their lines, their rows, with a policy version bump."""
    async with engine.connect() as connection:
        last_request = int(await connection.scalar(select(func.max(AccessRequest.id))) or 0)
        last_grant = int(await connection.scalar(select(func.max(Grant.id))) or 0)
    principals: list[str] = []
    yield principals
    store = PolicyStore(engine)
    async with store.transaction() as session:
        made = await session.scalars(select(Grant.id).where(Grant.id > last_grant))
        for grant_id in made:
            await store.drop_grant(grant_role(grant_id), session=session)
        await session.execute(delete(Grant).where(Grant.id > last_grant))
        await session.execute(delete(AccessRequest).where(AccessRequest.id > last_request))
        for subject in principals:
            lines = list(
                await session.scalars(
                    select(CasbinRule).where(CasbinRule.ptype == "g", CasbinRule.v0 == subject)
                )
            )
            for line in lines:
                await store.unassign(subject, str(line.v1), str(line.v2), session=session)
            await session.execute(delete(Principal).where(Principal.subject == subject))
