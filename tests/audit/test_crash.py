"""Kill the server (SIGKILL) in the middle of a burst of concurrent requests: afterwards the log
verifies, and every response a client received has its entry."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.settings import Settings
from tests.audit.helpers import entries_per_request
from tests.hub.test_faults import verify_log
from tests.support import _free_port

pytestmark = pytest.mark.e2e

QUERY = {"query": "{ people(first: 20) { edges { node { name age } } } }"}


def _serve(database_url: str, settings: Settings) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    environment = {
        **os.environ,
        "GRIDHUB_KEY_DIR": str(settings.key_dir),
        "GRIDHUB_AUDIT_KEY_DIR": str(settings.audit_key_dir),
        "GRIDHUB_RATE_LIMITS": "false",  # one person's burst of 400 requests is the point here
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "hub", "serve", "--database-url", database_url, "--port", str(port)],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz").status_code == 200:
                return process, base
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    pytest.fail("the server did not start")


async def test_a_killed_server_loses_no_answered_entry_and_the_log_verifies(
    database_url: str,
    settings: Settings,
    engine: AsyncEngine,
    token_for: Callable[[str], str],
) -> None:
    process, base = _serve(database_url, settings)
    headers = {"authorization": f"Bearer {token_for('street-440306001')}"}
    answered: list[str] = []
    others: list[str] = []  # anything else the server answered, to explain a failure
    try:
        async with httpx.AsyncClient(timeout=30) as client:

            async def ask() -> None:
                try:
                    response = await client.post(f"{base}/graphql", json=QUERY, headers=headers)
                except httpx.TransportError as error:
                    others.append(repr(error))
                    return  # the server died before answering: nothing was received
                if response.status_code == 200 and "data" in response.json():
                    answered.append(response.headers["x-request-id"])
                else:
                    others.append(f"{response.status_code} {response.text[:200]}")

            async def killer() -> None:
                for _ in range(2000):  # at most ~10 s: then the assertions below say why
                    if len(answered) >= 40:
                        break
                    await asyncio.sleep(0.005)  # noqa: ASYNC110 - polling a plain counter
                process.send_signal(signal.SIGKILL)

            await asyncio.gather(killer(), *(ask() for _ in range(400)))
    finally:
        process.kill()
        process.wait()

    assert 40 <= len(answered) < 400, (
        f"the kill must land mid-burst: {len(answered)} answered, {others[:3]}"
    )
    counts, writers = await entries_per_request(engine, answered)
    assert set(counts) == set(answered)  # every answered request has its entry ...
    assert set(counts.values()) == {1}  # ... exactly once

    # The killed server's chain: other tests' servers share the session's database, each
    # signing with audit keys of its own that this test does not hold.
    assert len(writers) == 1
    verify = verify_log(database_url, settings, writers.pop())
    assert verify.returncode == 0, verify.stdout + verify.stderr
