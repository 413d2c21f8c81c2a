"""A policy change made with the CLI is seen by a running server on its very next request."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

import httpx
import pytest

from hub.settings import Settings
from tests.support import data_of, running

pytestmark = pytest.mark.e2e

WORKER = "worker-440306001001001"
QUERY = {"query": "{ people(first: 1) { totalCount } }"}
RULE = ["people", "*", "own"]


def _policy(database_url: str, *arguments: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "hub", "policy", *arguments, "--database-url", database_url],
        check=True,
        capture_output=True,
    )


def test_a_deny_through_the_cli_takes_effect_on_the_next_request(
    database_url: str, settings: Settings, token_for: Callable[[str], str]
) -> None:
    headers = {"authorization": f"Bearer {token_for(WORKER)}"}
    environment = {"GRIDHUB_KEY_DIR": str(settings.key_dir)}
    with running(["serve", "--database-url", database_url], env=environment) as (base, _):

        def people() -> int:
            response = httpx.post(f"{base}/graphql", json=QUERY, headers=headers)
            return int(data_of(response.json())["people"]["totalCount"])

        before = people()
        assert before > 0
        _policy(database_url, "deny", WORKER, *RULE)
        try:
            assert people() == 0  # the rows are gone at once: no restart, no wait
        finally:
            _policy(database_url, "revoke", WORKER, *RULE, "--act", "deny")
        assert people() == before
