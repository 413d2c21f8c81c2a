"""The command line: schema, migrations and seeding as an operator uses them."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import orjson
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from cli.main import app
from hub.settings import Settings
from store.engine import create_engine
from store.models import FeedRun, Grid, Person

runner = CliRunner()
SCHEMA_FILE = Path(__file__).parents[2] / "schema" / "schema.graphql"


def test_the_committed_schema_is_the_codes_schema() -> None:
    """Department apps integrate against schema/schema.graphql: it must not drift."""
    result = runner.invoke(app, ["schema"])
    assert result.exit_code == 0
    assert result.stdout == SCHEMA_FILE.read_text(encoding="utf-8"), (
        "regenerate it: gridhub schema > schema/schema.graphql"
    )


async def _inserted(url: str, feed: str) -> int:
    """The rows the runs of ``feed`` inserted."""
    engine = create_engine(Settings(database_url=url))
    try:
        async with engine.connect() as connection:
            counts = (
                await connection.execute(select(FeedRun.counts).where(FeedRun.feed == feed))
            ).scalars()
            return sum(int(c["inserted"]) for c in counts)
    finally:
        await engine.dispose()


async def _count(url: str, model: type) -> int:
    engine = create_engine(Settings(database_url=url))
    try:
        async with engine.connect() as connection:
            return int(
                (await connection.execute(select(func.count()).select_from(model))).scalar_one()
            )
    finally:
        await engine.dispose()


def test_upgrade_then_seed_then_refuse_to_seed_again(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    upgraded = runner.invoke(app, ["db", "upgrade", "--database-url", url])
    assert upgraded.exit_code == 0, upgraded.output
    assert "Created the tables" in upgraded.output
    again = runner.invoke(app, ["db", "upgrade", "--database-url", url])
    assert "Created" not in again.output
    assert "Database is up to date" in again.output

    seeded = runner.invoke(
        app,
        ["seed", "--database-url", url, "--people", "600", "--as-of", "2026-11-01"],
        env={"GRIDHUB_KEY_DIR": str(tmp_path / "keys")},
    )
    assert seeded.exit_code == 0, seeded.output
    secrets = tmp_path / "demo-clients.json"
    said = " ".join(seeded.output.split())
    assert f"secrets are in {secrets}" in said
    assert "housing-app" in orjson.loads(secrets.read_bytes())
    # The generated 600, and the residents public security's demo export registered today.
    registered = asyncio.run(_inserted(url, "GA-RK-FEED"))
    assert registered > 0
    assert asyncio.run(_count(url, Person)) == 600 + registered
    grids = asyncio.run(_count(url, Grid))

    again = runner.invoke(app, ["seed", "--database-url", url, "--people", "600"])
    assert again.exit_code == 1
    assert "already holds a district" in again.output
    assert asyncio.run(_count(url, Grid)) == grids


def test_every_command_explains_itself() -> None:
    for command in (["demo"], ["serve"], ["seed"], ["schema"], ["db", "upgrade"]):
        result = runner.invoke(app, [*command, "--help"])
        assert result.exit_code == 0
        assert "Usage" in result.output


@pytest.mark.parametrize("launcher", ["cli", "hub"])
def test_python_m_runs_the_gridhub_command(launcher: str) -> None:
    """`python -m hub`, the name scripts knew before the commands moved to cli/, still runs them."""
    done = subprocess.run(
        [sys.executable, "-m", launcher, "--help"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "Usage: gridhub" in done.stdout
    assert "serve" in done.stdout
    assert "token" in done.stdout


def test_version_names_the_installed_release() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"gridhub {version('gridhub')}"
