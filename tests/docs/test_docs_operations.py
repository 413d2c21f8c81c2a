"""The operations pages stay true: the retry helper in app-developers.md works against a hub
that refuses with 429, and the codes and settings of rate limits and outages are explained."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from hub.app import create_app
from hub.settings import Settings
from tests.docs.test_docs import DOCS, _fences

WORKER = "worker-440306001001001"


def _retry_helper() -> Callable[..., Any]:
    blocks = [b.content for b in _fences(DOCS / "app-developers.md", "python")]
    source = next(block for block in blocks if "def post_with_retry" in block)
    namespace: dict[str, Any] = {}
    exec(compile(source, "docs/app-developers.md", "exec"), namespace)  # noqa: S102 - our docs
    return namespace["post_with_retry"]  # type: ignore[no-any-return]


def test_the_retry_helper_waits_out_a_429(
    settings: Settings, token_for: Callable[[str], str]
) -> None:
    post_with_retry = _retry_helper()
    tight = settings.model_copy(
        update={"rate_limit_person_rate": 0.5, "rate_limit_person_burst": 1}
    )
    query = {"query": '{ grid(code: "440306") { name } }'}
    headers = {"authorization": f"Bearer {token_for(WORKER)}"}
    with TestClient(create_app(tight), client=("127.0.0.1", 40000)) as client:
        first = client.post("/graphql", json=query, headers=headers)
        retried = post_with_retry(client, "/graphql", json=query, headers=headers)
        metrics = client.get("/metrics").text
    assert first.status_code == 200
    assert retried.status_code == 200
    assert 'gridhub_refusals_total{code="RATE_LIMITED"} 1.0' in metrics  # it did wait once


def test_the_codes_of_limits_and_outages_are_explained() -> None:
    text = (DOCS / "app-developers.md").read_text(encoding="utf-8")
    for code in ("RATE_LIMITED", "SERVICE_UNAVAILABLE", "AUDIT_UNAVAILABLE", "Retry-After"):
        assert f"`{code}`" in text, code
    operators = (DOCS / "operators.md").read_text(encoding="utf-8")
    for path in ("/healthz", "/readyz", "/metrics", "PROMETHEUS_MULTIPROC_DIR", "SIGTERM"):
        assert path in operators, path


def test_the_benchmarks_readme_names_the_load_test() -> None:
    readme = (Path(__file__).parents[2] / "benchmarks" / "README.md").read_text("utf-8")
    assert "python benchmarks/load.py" in readme


def test_the_scaling_page_names_real_settings_and_metrics() -> None:
    """Every ``GRIDHUB_*`` the read-replica section names is a setting (or the Redis one it
    relies on), and every ``gridhub_*`` metric it names is one the hub exposes."""
    from hub.metrics import Metrics

    page = (DOCS / "scaling.md").read_text(encoding="utf-8")
    section = page.split("## Read replicas", 1)[1].split("\n## ", 1)[0]
    settings = {f"GRIDHUB_{name.upper()}" for name in Settings.model_fields}
    named = set(re.findall(r"GRIDHUB_[A-Z_]+", section))
    assert named, "the section names no setting"
    assert named <= settings, named - settings
    exposed = Metrics().exposition().decode()
    metrics = set(re.findall(r"\bgridhub_[a-z_]+", section))
    assert {"gridhub_reads_total", "gridhub_read_replica_in_rotation"} <= metrics
    for metric in metrics:
        counter = f"# TYPE {metric.removesuffix('_total')} counter"
        assert f"# TYPE {metric} " in exposed or counter in exposed, metric
