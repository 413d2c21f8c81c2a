"""End to end: `gridhub serve` in its own process, asked over real HTTP."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from demo import District
from hub.settings import Settings
from tests.support import data_of, nodes, running

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(database_url: str, settings: Settings) -> Iterator[str]:
    """``gridhub serve`` on the session's database, signing with the session's keys."""
    arguments = ["serve", "--database-url", database_url]
    with running(arguments, env={"GRIDHUB_KEY_DIR": str(settings.key_dir)}) as (base, _):
        yield base


def test_a_grid_worker_reads_their_grids_houses_and_residents(
    server: str, district: District, token_for: Callable[[str], str]
) -> None:
    grid = next(g for g in district.grids if g["level"] == "grid")
    query = """query GridHouses($code: String!) { grid(code: $code) { name
        houses(first: 100) { totalCount edges { node { address
          residents(first: 50) { edges { node { name gender age } } } } } } } }"""
    response = httpx.post(
        f"{server}/graphql",
        json={"query": query, "variables": {"code": grid["code"]}, "operationName": "GridHouses"},
        headers={"authorization": f"Bearer {token_for('worker-' + grid['code'])}"},
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
    assert (
        response.status_code == 401
    )  # no page to serve: the request is a query, and needs a token


def test_the_demo_command_creates_seeds_and_serves_a_district(tmp_path: Path) -> None:
    """The README's first command: a fresh directory, one command, a district to query with
    the token the printed command gets."""
    with running(["demo"], cwd=tmp_path) as (base, output):
        token = subprocess.run(
            [sys.executable, "-m", "hub", "token", "--subject", "worker-440306001001001"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        response = httpx.post(
            f"{base}/graphql",
            json={
                "query": """{ grid(code: "440306001001001") { name
                    houses(first: 5) { totalCount edges { node { address
                      residents(first: 5) { edges { node { name idNumber } } } } } } } }"""
            },
            headers={"authorization": f"Bearer {token}"},
        )
        anonymous = httpx.post(f"{base}/graphql", json={"query": "{ me { subject } }"})
        officer = subprocess.run(
            [sys.executable, "-m", "hub", "token", "--subject", "officer-public-security"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        runs = httpx.post(
            f"{base}/graphql",
            json={
                "query": """{ residents: feedRuns(feed: "GA-RK-FEED", first: 5) { totalCount
                    edges { node { status startedBy counts { read inserted updated unchanged
                      rejected } rejects { line code } } } } }"""
            },
            headers={"authorization": f"Bearer {officer}"},
        )
    assert anonymous.status_code == 401
    # The district was gathered through the departments' feeds too: the public security
    # data officer sees the residents' export run, with its rejects.
    residents_run = data_of(runs.json())["residents"]
    assert residents_run["totalCount"] == 1
    run = nodes(residents_run)[0]
    assert (run["status"], run["startedBy"]) == ("succeeded", "demo seed")
    assert run["counts"]["read"] > 8_000
    assert run["counts"]["inserted"] > 0
    assert run["counts"]["unchanged"] > 7_000
    assert {r["code"] for r in run["rejects"]} >= {"invalid_id_number", "duplicate_key"}
    assert (tmp_path / "var" / "demo-feeds" / "GA-RK-FEED-居住登记.csv").exists()
    assert (tmp_path / "gridhub.db").exists()
    assert f"{base}/graphql" in output[0]
    assert "gridhub token --subject worker-440306001001001" in output[0]
    assert "grant_type=client_credentials" in output[0]
    grid = data_of(response.json())["grid"]
    assert grid["name"].endswith("第01网格")
    assert grid["houses"]["totalCount"] > 20
    houses = nodes(grid["houses"])
    assert all("宝安区新安街道" in house["address"] for house in houses)
    residents = [r for h in houses for r in nodes(h["residents"])]
    assert residents
    # The grid worker sees names, and ID numbers masked in the house style.
    assert all(re.fullmatch(r"\d{6}\*{8}\d{3}[\dX]", r["idNumber"]) for r in residents)
