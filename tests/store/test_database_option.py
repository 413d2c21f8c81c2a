"""The suite runs on the PostgreSQL server a developer names, as the README says."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"


def _pytest(*options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            *options,
            "tests/store/test_migrations.py",
            "-n",
            "0",
            "-p",
            "no:cacheprovider",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize("options", [("--db", SERVER), ("--db-url", SERVER)])
def test_a_database_url_runs_the_suite_on_that_server(options: tuple[str, str]) -> None:
    done = _pytest(*options)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (
        "gridhub database back end: postgresql on postgresql+asyncpg://postgres@127.0.0.1:5432/"
        "postgres" in done.stdout
    )
    assert "1 passed" in done.stdout


def test_a_back_end_that_is_neither_is_refused_by_name() -> None:
    done = _pytest("--db", "mysql://root@localhost/x")
    assert done.returncode != 0
    assert "give sqlite, postgresql or a PostgreSQL URL" in done.stderr
