"""Forwarded headers are believed only from the proxies the operator lists.

A real server (``gridhub serve``) on the loopback, so the client's peer address is 127.0.0.1,
which uvicorn itself would trust by default: a client rotating ``X-Forwarded-For`` must not get
a fresh bucket of token requests per made-up address, nor write the address of its choice into
the audit log. Listed in ``GRIDHUB_TRUSTED_PROXIES``, the same peer's header is the address."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.settings import Settings
from store.models import AuditEntry
from tests.support import running

pytestmark = pytest.mark.e2e

#: Three token requests per address, then practically none.
LIMITS = {
    "GRIDHUB_RATE_LIMIT_ADDRESS_BURST": "3",
    "GRIDHUB_RATE_LIMIT_ADDRESS_RATE": "0.001",
}
ATTEMPTS = 6


def _serve(database_url: str, settings: Settings, trusted: str | None) -> Iterator[str]:
    env = {**LIMITS, "GRIDHUB_KEY_DIR": str(settings.key_dir)}
    if trusted is not None:
        env["GRIDHUB_TRUSTED_PROXIES"] = trusted
    with running(["serve", "--database-url", database_url], env=env) as (base, _):
        yield base


@pytest.fixture(scope="module")
def untrusting(database_url: str, settings: Settings) -> Iterator[str]:
    yield from _serve(database_url, settings, None)


@pytest.fixture(scope="module")
def behind_a_proxy(database_url: str, settings: Settings) -> Iterator[str]:
    yield from _serve(database_url, settings, "10.9.0.0/16, 127.0.0.1")


def _rotate(base: str) -> list[httpx.Response]:
    """Token requests with a wrong secret, each claiming another forwarded address."""
    return [
        httpx.post(
            f"{base}/oauth/token",
            data={"grant_type": "client_credentials", "client_id": "gh_x", "client_secret": "y"},
            headers={"X-Forwarded-For": f"203.0.113.{n}"},
        )
        for n in range(1, ATTEMPTS + 1)
    ]


async def _addresses(engine: AsyncEngine, responses: list[httpx.Response]) -> list[str | None]:
    ids = [r.headers["x-request-id"] for r in responses]
    async with engine.connect() as connection:
        rows = (
            await connection.execute(
                select(AuditEntry.request_id, AuditEntry.client_address).where(
                    AuditEntry.request_id.in_(ids)
                )
            )
        ).all()
    found = dict(rows)
    return [found.get(request_id) for request_id in ids]


async def test_a_forwarded_address_from_an_unlisted_peer_is_not_believed(
    untrusting: str, engine: AsyncEngine
) -> None:
    responses = _rotate(untrusting)
    statuses = [r.status_code for r in responses]
    # the peer's own bucket: three tries, then 429 however the header changes
    assert statuses[:3] == [401, 401, 401]
    assert statuses[3:] == [429] * (ATTEMPTS - 3)
    assert await _addresses(engine, responses) == ["127.0.0.1"] * ATTEMPTS


async def test_a_listed_proxys_forwarded_address_is_the_clients(
    behind_a_proxy: str, engine: AsyncEngine
) -> None:
    responses = _rotate(behind_a_proxy)
    assert [r.status_code for r in responses] == [401] * ATTEMPTS  # a bucket per address
    assert await _addresses(engine, responses) == [f"203.0.113.{n}" for n in range(1, ATTEMPTS + 1)]


def test_the_list_is_addresses_and_networks_and_nothing_else(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GRIDHUB_TRUSTED_PROXIES", "10.0.0.5, 10.1.0.0/16,::1")
    assert Settings(_env_file=None).trusted_proxies == ["10.0.0.5", "10.1.0.0/16", "::1"]  # type: ignore[call-arg]
    assert Settings(_env_file=None, trusted_proxies=[]).trusted_proxies == []  # type: ignore[call-arg]
    for wrong in ("*", "proxy.local", "10.0.0.0/40"):
        monkeypatch.setenv("GRIDHUB_TRUSTED_PROXIES", wrong)
        with pytest.raises(ValueError, match="trusted_proxies"):
            Settings(_env_file=None)  # type: ignore[call-arg]
