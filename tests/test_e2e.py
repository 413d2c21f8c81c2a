"""End to end: `gridhub serve` in its own process, asked over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hub.demo import District
from tests.support import data_of, nodes, running

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    keys = tmp_path_factory.mktemp("e2e-keys")
    arguments = ["serve", "--database-url", database_url]
    with running(arguments, env={"GRIDHUB_KEY_DIR": str(keys)}) as (base, _):
        yield base


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


def test_the_demo_command_creates_seeds_and_serves_a_district(tmp_path: Path) -> None:
    """The README's first command: a fresh directory, one command, a district to query."""
    with running(["demo"], cwd=tmp_path) as (base, output):
        response = httpx.post(
            f"{base}/graphql",
            json={
                "query": """{ grid(code: "440306001001001") { name
                    houses(first: 5) { totalCount edges { node { address
                      residents(first: 5) { edges { node { name idNumber } } } } } } } }"""
            },
        )
    assert (tmp_path / "gridhub.db").exists()
    assert f"{base}/graphql" in output[0]
    grid = data_of(response.json())["grid"]
    assert grid["name"].endswith("第01网格")
    assert grid["houses"]["totalCount"] > 20
    houses = nodes(grid["houses"])
    assert all("宝安区新安街道" in house["address"] for house in houses)
    residents = [r for h in houses for r in nodes(h["residents"])]
    assert residents
    assert all(len(r["idNumber"]) == 18 for r in residents)
