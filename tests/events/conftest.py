"""Fixtures of the event workflow's tests: the app over HTTP on the session's database, calls
as a seeded principal, and a fixture that takes back every event a test made (the database is
the session's: other tests count its events)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.testclient import TestClient

from hub.app import create_app
from hub.settings import Settings
from store.models import Event, EventAction, Matter, RowChange

#: A matter no department handles: its events wait at the street's grid centre.
UNROUTED = "test_unrouted_matter"


@dataclass
class Hub:
    client: TestClient
    token_for: Callable[[str], str]

    def post(self, subject: str, query: str, variables: Any = None) -> Any:
        response = self.client.post(
            "/graphql",
            json={"query": query, "variables": variables},
            headers={"authorization": f"Bearer {self.token_for(subject)}"},
        )
        assert response.status_code == 200, response.text
        return response

    def call(self, subject: str, query: str, variables: Any = None) -> Any:
        return self.post(subject, query, variables).json()


@pytest.fixture(scope="module")
def hub(settings: Settings, token_for: Callable[[str], str]) -> Iterator[Hub]:
    with TestClient(create_app(settings)) as client:
        yield Hub(client, token_for)


@pytest.fixture
async def made_events(engine: AsyncEngine) -> AsyncIterator[None]:
    """Take back the events a test made, their steps and history, and the test's matter."""
    async with engine.begin() as connection:
        last = int(await connection.scalar(select(func.max(Event.id))) or 0)
        await connection.execute(
            Matter.__table__.insert().values(
                code=UNROUTED,
                name="其他事项",
                department_code=None,
                time_limit_hours=48,
                level=3,
            )
        )
    yield
    async with engine.begin() as connection:
        made = list(await connection.scalars(select(Event.id).where(Event.id > last)))
        await connection.execute(delete(EventAction).where(EventAction.event_id.in_(made)))
        await connection.execute(
            delete(RowChange).where(
                RowChange.target == "events", RowChange.row_key.in_([str(i) for i in made])
            )
        )
        await connection.execute(delete(Event).where(Event.id.in_(made)))
        await connection.execute(delete(Matter).where(Matter.code == UNROUTED))
