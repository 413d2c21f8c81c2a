"""The load test in benchmarks/ keeps working: a few seconds of it, on the back end under test."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import DEFAULT_POSTGRES

pytestmark = [pytest.mark.e2e, pytest.mark.serial]

SCRIPT = Path(__file__).parents[2] / "benchmarks" / "load.py"


def test_a_short_load_run_passes_its_checks(backend: str, tmp_path: Path) -> None:
    server = os.environ.get("GRIDHUB_TEST_POSTGRES_URL", DEFAULT_POSTGRES)
    database = server if backend == "postgresql" else f"sqlite:///{tmp_path}/load.db"
    run = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            *("--seconds", "3", "--users", "5", "--workers", "2", "--people", "500"),
            *("--database-url", database, "--quiet"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    summary = json.loads(run.stdout)
    kinds = summary["by_kind"]
    assert set(kinds) == {"grid worker", "department app", "auditor", "all"}
    assert kinds["all"]["requests"] > 10
    assert not [status for status in kinds["all"]["statuses"] if status.startswith("5")]
    assert summary["audit_entries_matched"] == summary["answers"]
    assert summary["audit_verify"] == "passed"
