"""End to end: `gridhub serve` in its own process, asked over real HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from hub.demo import District
from tests.support import data_of, nodes

pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def server(database_url: str) -> Iterator[str]:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "hub", "serve", "--database-url", database_url, "--port", str(port)],
        env={**os.environ, "GRIDHUB_GRAPHIQL": "false"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                output = process.stdout.read().decode() if process.stdout else ""
                pytest.fail(f"server did not start:\n{output}")
            time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout:
            process.stdout.close()


def test_a_grid_worker_reads_their_grids_houses_and_residents(
    server: str, district: District
) -> None:
    grid = next(g for g in district.grids if g["level"] == "grid")
    query = """query GridHouses($code: String!) { grid(code: $code) { name
        houses(first: 100) { totalCount edges { node { address
          residents(first: 50) { edges { node { name gender birthDate } } } } } } } }"""
    response = httpx.post(
        f"{server}/graphql",
        json={"query": query, "variables": {"code": grid["code"]}, "operationName": "GridHouses"},
    )
    assert response.status_code == 200
    data = data_of(response.json())["grid"]
    assert data["name"] == grid["name"]
    houses = nodes(data["houses"])
    assert len(houses) == data["houses"]["totalCount"] > 0
    assert sum(len(nodes(h["residents"])) for h in houses) > 0
    assert all(grid["name"].split("第")[0] in h["address"] for h in houses)


def test_graphiql_is_off_when_the_setting_says_so(server: str) -> None:
    response = httpx.get(f"{server}/graphql", headers={"accept": "text/html"})
    assert response.status_code == 400
