"""``gridhub policy``, as an operator uses it, on a database of its own."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import typer
from sqlalchemy import insert
from typer.testing import CliRunner

from cli.policy import policy_app
from hub.settings import Settings
from store.engine import create_engine, upgrade
from store.models import Department, Grid, Principal, PrincipalGrid

runner = CliRunner()
COMMUNITY = "440306001001"
GRID = "440306001001001"


def gridhub() -> typer.Typer:
    app = typer.Typer()
    app.add_typer(policy_app, name="policy")
    return app


async def _principal(url: str) -> None:
    """A grid worker of the grid office, assigned to one community."""
    engine = create_engine(Settings(database_url=url))
    try:
        async with engine.begin() as connection:
            await connection.execute(
                insert(Department),
                [{"code": "grid_office", "name": "网格办", "short_name": "网格办"}],
            )
            box = {"min_lon": 113.8, "min_lat": 22.5, "max_lon": 113.9, "max_lat": 22.6}
            await connection.execute(
                insert(Grid),
                [
                    {
                        "code": code,
                        "name": code,
                        "level": level,
                        "parent_code": parent,
                        "geometry": "{}",
                        **box,
                    }
                    for code, level, parent in [
                        ("440306", "district", None),
                        ("440306001", "street", "440306"),
                        (COMMUNITY, "community", "440306001"),
                    ]
                ],
            )
            await connection.execute(
                insert(Principal),
                [
                    {
                        "subject": "alice",
                        "kind": "person",
                        "name": "张三",
                        "department_code": "grid_office",
                    }
                ],
            )
            await connection.execute(
                insert(PrincipalGrid), [{"subject": "alice", "grid_code": COMMUNITY}]
            )
    finally:
        await engine.dispose()


@pytest.fixture
def url(tmp_path: Path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'policy.db'}"
    upgrade(url)
    asyncio.run(_principal(url))
    return url


def policy(url: str, *args: str) -> str:
    result = runner.invoke(gridhub(), ["policy", *args, "--database-url", url])
    assert result.exit_code == 0, result.output
    return result.output


def test_edit_list_and_explain(url: str) -> None:
    policy(url, "add-role", "street_staff", "grid_worker")
    policy(url, "assign", "alice", "street_staff", "--domain", "grid_office")
    policy(url, "grant", "grid_worker", "people", "tier:2", "own")
    policy(url, "grant", "grid_worker", "people", "idNumber|phone", "own", "--mask")
    policy(
        url,
        "grant",
        "civil",
        "people",
        "tier:3",
        "*",
        "-p",
        "elderly_care",
        "-p",
        "social_assistance",
    )
    policy(url, "deny", "grid_worker", "people", "name", GRID)

    listed = policy(url, "list").splitlines()
    assert "role  street_staff -> grid_worker in *" in listed
    assert "role  alice -> street_staff in grid_office" in listed
    assert "rule  civil * people tier:3 * read elderly_care|social_assistance" in listed
    assert "rule  grid_worker * people idNumber|phone own mask" in listed
    assert policy(url, "list", "--subject", "civil").splitlines() == [
        "rule  civil * people tier:3 * read elderly_care|social_assistance"
    ]

    masked = policy(url, "explain", "alice", "Person.idNumber", "440306001001002")
    assert "grid_office" in masked
    assert COMMUNITY in masked
    assert "Person.idNumber in 440306001001002: MASK" in masked
    assert "by  grid_worker * people idNumber|phone own mask" in masked

    denied = policy(url, "explain", "alice", "Person.name", GRID)
    assert f"Person.name in {GRID}: DENY" in denied
    assert f"by  grid_worker * people name {GRID} deny" in denied

    elsewhere = policy(url, "explain", "alice", "Person.name", "440306002001001")
    assert "DENY" in elsewhere
    assert "deny by default" in elsewhere

    assert "revoked" in policy(
        url, "revoke", "grid_worker", "people", "name", GRID, "--act", "deny"
    )
    assert "ALLOW" in policy(url, "explain", "alice", "Person.name", GRID)
    again = runner.invoke(
        gridhub(),
        [
            "policy",
            "revoke",
            "grid_worker",
            "people",
            "name",
            GRID,
            "--act",
            "deny",
            "--database-url",
            url,
        ],
    )
    assert again.exit_code == 1


def test_a_bad_rule_is_refused_with_the_reason(url: str) -> None:
    result = runner.invoke(
        gridhub(), ["policy", "grant", "x", "people", "tier:7", "*", "--database-url", url]
    )
    assert result.exit_code == 2
    assert "a tier is 1 (public) to 4 (core)" in result.output


def test_seed_defaults_twice(url: str) -> None:
    assert "stored" in policy(url, "seed-defaults")
    assert "stored" in policy(url, "seed-defaults")
    assert "rule  grid_worker * * tier:2 own read *" in policy(url, "list").splitlines()


@pytest.mark.parametrize(
    "command",
    [
        "add-role",
        "assign",
        "unassign",
        "grant",
        "deny",
        "revoke",
        "list",
        "explain",
        "seed-defaults",
    ],
)
def test_every_command_explains_itself(command: str) -> None:
    result = runner.invoke(gridhub(), ["policy", command, "--help"])
    assert result.exit_code == 0
    assert "--database-url" in result.output
