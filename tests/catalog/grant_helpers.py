"""What the grant tests share: a clock they can move on, calls as a principal, the workflow's
documents, test principals (the fixtures are in conftest.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.testclient import TestClient

from policies.store import PolicyStore
from store.models import AccessRequest, CasbinRule, Grant, Principal, PrincipalKind

GRID = "440306001001001"
COMMUNITY = "440306001001"
STREET = "440306001"

REQUEST = """mutation Ask($input: RequestAccessInput!) { requestAccess(input: $input) {
    id state owner department requestedBy fields area masked purposeCode durationDays
    reviewedBy decidedBy grant { id state fields area expiresAt roles rules } } }"""
REVIEW = """mutation Review($id: ID!, $approve: Boolean!, $comment: String) {
  reviewAccessRequest(id: $id, approve: $approve, comment: $comment) {
    id state reviewedBy reviewComment grant { id } } }"""
DECIDE = """mutation Decide($id: ID!, $approve: Boolean!, $comment: String, $fields: [String!],
    $area: String, $expiresAt: DateTime) {
  decideAccessRequest(id: $id, approve: $approve, comment: $comment, fields: $fields,
      area: $area, expiresAt: $expiresAt) {
    id state decidedBy decisionComment grant { id state fields area expiresAt roles } } }"""
REVOKE = """mutation Revoke($id: ID!, $reason: String!) { revokeGrant(id: $id, reason: $reason) {
    id state endedBy endReason endedAt } }"""


@dataclass
class Clock:
    """The app's time: the present, moved on by ``offset``."""

    offset: timedelta = field(default_factory=timedelta)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


@dataclass
class Hub:
    """A running app (through Starlette's TestClient) and its clock."""

    client: TestClient
    clock: Clock
    token_for: Callable[[str], str]

    def post(
        self, subject: str, query: str, variables: Any = None, purpose: str | None = None
    ) -> Any:
        headers = {"authorization": f"Bearer {self.token_for(subject)}"}
        if purpose:
            headers["x-access-purpose"] = purpose
        response = self.client.post(
            "/graphql", json={"query": query, "variables": variables}, headers=headers
        )
        assert response.status_code == 200, response.text
        return response

    def call(self, subject: str, query: str, variables: Any = None, **kw: Any) -> Any:
        return self.post(subject, query, variables, **kw).json()


def ask(**changes: Any) -> dict[str, Any]:
    """The emergency app's request for phones in one community (changes override)."""
    return {
        "resource": "RK-LX-003",
        "fields": ["id", "name", "phone"],
        "area": COMMUNITY,
        "purposeCode": "emergency_contact",
        "purpose": "台风期间紧急联络独居老人",
        "durationDays": 30,
        **changes,
    }


async def counts(engine: AsyncEngine) -> tuple[int, int, int]:
    """Requests, grants and policy lines: what a refused step must leave as it was."""
    async with engine.connect() as connection:
        found = [
            int(await connection.scalar(select(func.count()).select_from(model)) or 0)
            for model in (AccessRequest, Grant, CasbinRule)
        ]
    return found[0], found[1], found[2]


async def add_person(
    engine: AsyncEngine, forget: list[str], subject: str, department: str, *roles: str
) -> None:
    """A test principal (a person of ``department`` with ``roles`` there), taken back after."""
    store = PolicyStore(engine)
    forget.append(subject)
    async with store.transaction() as session:
        session.add(
            Principal(
                subject=subject,
                kind=PrincipalKind.PERSON.value,
                name="测试",
                department_code=department,
            )
        )
        await session.flush()
        for role in roles:
            await store.assign(subject, role, department, session=session)
