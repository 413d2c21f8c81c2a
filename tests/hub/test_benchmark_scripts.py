"""The benchmarks against peers stay runnable: their scripts import and explain their options,
the PostGraphile side is skipped with a reason where node is missing, and the comparison of
PostGraphile's rows with the SQL's catches a changed value. (The benchmarks themselves are not
timed here.)
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).parents[2] / "benchmarks"


def run_python(code: str, env: dict[str, str] | None = None) -> str:
    """Run ``code`` in the benchmarks folder, as the scripts run (their modules side by side)."""
    run = subprocess.run(
        [sys.executable, "-c", code],
        cwd=BENCHMARKS,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    return run.stdout


@pytest.mark.parametrize(
    ("script", "options"),
    [
        ("peers.py", ["--runs", "--warmup", "--no-street-staff", "--no-postgraphile"]),
        ("throughput.py", ["--seconds", "--clients", "--workers", "--no-postgraphile"]),
        ("grid_worker.py", ["--runs", "--warmup"]),
        ("replicas.py", ["--primary-port", "--replica-port", "--seconds", "--max-lag", "--keep"]),
        ("request_floor.py", ["--database-url", "--requests", "--profile"]),
        ("feed_ingest.py", ["--database-url", "--rows", "--people", "--fresh", "--workers"]),
        ("compiled_reads.py", ["--database-url", "--requests", "--executions", "--profile"]),
    ],
)
def test_benchmark_scripts_explain_their_options(script: str, options: list[str]) -> None:
    run = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert run.returncode == 0, run.stderr
    for option in options:
        assert option in run.stdout


def test_postgraphile_is_skipped_with_a_reason_without_node(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": str(tmp_path)}  # an empty folder: no node, no npm
    out = run_python("import peer_postgraphile as p; print(p.missing_reason())", env)
    assert "`node` is not on PATH" in out
    assert "skipped" in out


COMPARE = """
import datetime
import peer_postgraphile as p
records = [
    {"code": "H1", "address": "1 Road", "use": "residential", "floors": 6, "id": 7,
     "name": "Li", "gender": "female", "birth_date": datetime.date(1950, 3, 1),
     "phone": "13800000000", "registration": "local", "residence_kind": "owner"},
    {"code": "H2", "address": "2 Road", "use": "shop", "floors": 1, "id": None, "name": None,
     "gender": None, "birth_date": None, "phone": None, "registration": None,
     "residence_kind": None},
]
person = {"id": 7, "name": "Li", "gender": "female", "birthDate": "1950-03-01",
          "phone": "13800000000", "registration": "local", "residenceKind": "owner"}
def body(person):
    return {"data": {"gridByCode": {"housesByGridCode": {"edges": [
        {"node": {"code": "H1", "address": "1 Road", "use": "residential", "floors": 6,
                  "peopleByHouseCode": {"edges": [{"node": person}]}}},
        {"node": {"code": "H2", "address": "2 Road", "use": "shop", "floors": 1,
                  "peopleByHouseCode": {"edges": []}}},
    ]}}}}
sql = p.canonical_raw_from_sql(records)
print(p.canonical_from_postgraphile(body(person)) == sql)
print(p.canonical_from_postgraphile(body({**person, "phone": "138****0000"})) == sql)
"""


def test_postgraphile_rows_are_compared_value_for_value() -> None:
    same, masked_phone = run_python(COMPARE).split()
    assert same == "True"
    assert masked_phone == "False"


def test_the_benchmarks_readme_gives_each_command() -> None:
    readme = (BENCHMARKS / "README.md").read_text("utf-8")
    assert ".venv/bin/python benchmarks/peers.py" in readme
    assert ".venv/bin/python benchmarks/throughput.py --seconds 30" in readme
