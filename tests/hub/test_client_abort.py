"""A client that closes its connection halfway through its request body: recorded as the
client's abort (``CLIENT_CLOSED_REQUEST``), not as a fault of the hub's — no 500, no traceback,
and not counted as a refusal, so nobody with a token can drive the refusals alert."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.settings import Settings
from store.models import AuditEntry
from tests.support import running

pytestmark = pytest.mark.e2e

WORKER = "worker-440306001001001"


@pytest.fixture(scope="module")
def served(database_url: str, settings: Settings) -> Iterator[tuple[str, list[str]]]:
    environment = {
        "GRIDHUB_KEY_DIR": str(settings.key_dir),
        "GRIDHUB_AUDIT_KEY_DIR": str(settings.audit_key_dir),
    }
    with running(["serve", "--database-url", database_url], env=environment) as (base, output):
        yield base, output
    # Once stopped, the server's output is complete: no request of this module left a trace.
    assert "Traceback" not in output[0], output[0]


def half_a_request(base: str, head: str, body: bytes) -> None:
    """Send the head and half of ``body`` (whose full length the head declares), then close."""
    address = urlsplit(base)
    with socket.create_connection((address.hostname, address.port)) as sock:
        sock.sendall(head.encode("ascii") + body[: len(body) // 2])
        time.sleep(0.2)  # the server is reading the body when the client goes
    time.sleep(0.1)


async def entries_since(engine: AsyncEngine, since: datetime, subject: str | None) -> list:
    async with engine.connect() as connection:
        query = select(AuditEntry).where(AuditEntry.at >= since)
        query = query.where(
            AuditEntry.subject == subject if subject else AuditEntry.operation_type == "token"
        )
        return list((await connection.execute(query)).all())


async def wait_for_entry(engine: AsyncEngine, since: datetime, subject: str | None) -> list:
    deadline = time.monotonic() + 15
    while True:
        found = await entries_since(engine, since, subject)
        if found or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.2)


def refusals(base: str) -> dict[str, float]:
    text = httpx.get(f"{base}/metrics").text
    found = {}
    for line in text.splitlines():
        if line.startswith("gridhub_refusals_total{"):
            labels, value = line.rsplit(" ", 1)
            found[labels] = float(value)
    return found


@pytest.mark.parametrize("endpoint", ["graphql", "token"])
async def test_a_client_that_closes_mid_body_is_recorded_as_its_abort(
    served: tuple[str, list[str]],
    engine: AsyncEngine,
    token_for: Callable[[str], str],
    endpoint: str,
) -> None:
    base, _ = served
    host = urlsplit(base).netloc
    before = refusals(base)
    since = datetime.now(UTC)
    if endpoint == "graphql":
        body = b'{"query": "{ houses(first: 2) { edges { node { address } } } }"}' * 20
        head = (
            f"POST /graphql HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {token_for(WORKER)}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        subject: str | None = WORKER
    else:
        body = b"grant_type=client_credentials&client_id=x&client_secret=" + b"y" * 2000
        head = (
            f"POST /oauth/token HTTP/1.1\r\nHost: {host}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        subject = None
    half_a_request(base, head, body)

    entries = await wait_for_entry(engine, since, subject)
    assert [(e.outcome, e.error_code) for e in entries] == [("error", "CLIENT_CLOSED_REQUEST")]
    after = refusals(base)
    assert after == before, "an abandoned request is not a refusal"
    # The hub still answers, and the next request is an ordinary one.
    async with httpx.AsyncClient() as client:
        response = await client.post(
            f"{base}/graphql",
            json={"query": "{ me { subject } }"},
            headers={"authorization": f"Bearer {token_for(WORKER)}"},
        )
    assert response.status_code == 200
