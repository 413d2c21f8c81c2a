"""`gridhub serve --workers 2` stops gracefully: on SIGTERM the requests in flight are answered
in full, each has its audit entry, every worker's chain is sealed, and the log verifies."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import orjson
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.settings import Settings
from store.models import AuditCheckpoint
from tests.audit.helpers import entries_per_request
from tests.hub.test_faults import verify_log
from tests.support import _free_port, data_of

pytestmark = pytest.mark.e2e

IN_FLIGHT = 8
BODY = orjson.dumps(
    {
        "query": "query Slow { houses(first: 20) { edges { node { address residents(first: 5)"
        " { edges { node { name } } } } } } }"
    }
)


def start(
    arguments: list[str], settings: Settings, env: dict[str, str]
) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "hub", *arguments, "--port", str(port)],
        env={
            **os.environ,
            "GRIDHUB_KEY_DIR": str(settings.key_dir),
            "GRIDHUB_AUDIT_KEY_DIR": str(settings.audit_key_dir),
            "GRIDHUB_GRAPHIQL": "false",
            **env,
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/readyz").status_code == 200:
                return process, base
        except httpx.TransportError:
            pass
        if process.poll() is not None:
            break
        time.sleep(0.2)
    process.kill()
    output = process.communicate()[0].decode()
    pytest.fail(f"the server did not start:\n{output}")


def in_progress(text: str) -> float:
    found = re.search(r"^gridhub_requests_in_progress(?:\{[^}]*\})? (\S+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


async def test_sigterm_lets_requests_in_flight_finish_and_commit_their_entries(
    database_url: str,
    settings: Settings,
    engine: AsyncEngine,
    token_for: Callable[[str], str],
    tmp_path: Path,
) -> None:
    process, base = start(
        ["serve", "--database-url", database_url, "--workers", "2"],
        settings,
        {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics")},
    )
    release = asyncio.Event()

    async def slowly() -> AsyncIterator[bytes]:
        """Half the body now, the rest once the server has been told to stop."""
        yield BODY[: len(BODY) // 2]
        await release.wait()
        yield BODY[len(BODY) // 2 :]

    headers = {
        "authorization": f"Bearer {token_for('street-440306001')}",
        "content-type": "application/json",
        "content-length": str(len(BODY)),
    }
    limits = httpx.Limits(max_connections=IN_FLIGHT + 2)
    try:
        async with httpx.AsyncClient(timeout=60, limits=limits) as client:
            asking = [
                asyncio.create_task(
                    client.post(f"{base}/graphql", content=slowly(), headers=headers)
                )
                for _ in range(IN_FLIGHT)
            ]
            deadline = time.monotonic() + 20
            while True:  # every request has reached a worker: its headers are read
                scraped = (await client.get(f"{base}/metrics")).text
                if in_progress(scraped) >= IN_FLIGHT or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.1)
            assert in_progress(scraped) == IN_FLIGHT, scraped
            process.send_signal(signal.SIGTERM)
            await asyncio.sleep(1.0)  # the workers are shutting down, the requests still open
            assert process.poll() is None
            release.set()
            responses = await asyncio.gather(*asking)
        output = (await asyncio.to_thread(process.communicate, timeout=60))[0].decode()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    assert process.returncode == 0, output
    for response in responses:
        assert response.status_code == 200, response.text
        assert len(data_of(response.json())["houses"]["edges"]) == 20  # complete
    request_ids = [response.headers["x-request-id"] for response in responses]
    counts, writers = await entries_per_request(engine, request_ids)
    async with engine.connect() as connection:
        sealed = set(
            (
                await connection.scalars(
                    select(AuditCheckpoint.writer_id).where(
                        AuditCheckpoint.writer_id.in_(writers), AuditCheckpoint.final.is_(True)
                    )
                )
            ).all()
        )
    assert counts == dict.fromkeys(request_ids, 1)  # one entry per response, none lost
    assert sealed == writers  # every worker that wrote sealed its chain on the way out
    for writer in writers:
        verified = await asyncio.to_thread(verify_log, database_url, settings, writer)
        assert verified.returncode == 0, verified.stdout + verified.stderr
