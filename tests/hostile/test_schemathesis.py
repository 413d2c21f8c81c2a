"""Schemathesis in its GraphQL mode against `gridhub serve` (production mode) with a valid
token: queries and mutations generated from the schema, none answered with a 5xx or with a
response that breaks the schema.

The schema comes from the committed SDL (``schema/schema.graphql``, what `gridhub schema`
prints): production mode does not answer introspection. The number of examples is bounded so
the test runs in CI on both back ends; ``GRIDHUB_SCHEMATHESIS_EXAMPLES`` raises it for a
longer run.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings

from hub.settings import Settings
from tests.support import running

pytestmark = pytest.mark.e2e

SDL = Path(__file__).parents[2] / "schema" / "schema.graphql"
EXAMPLES = int(os.environ.get("GRIDHUB_SCHEMATHESIS_EXAMPLES", "15"))


@pytest.fixture(scope="module")
def hub_url(database_url: str, settings: Settings) -> Iterator[str]:
    arguments = ["serve", "--database-url", database_url]
    environment = {"GRIDHUB_KEY_DIR": str(settings.key_dir), "GRIDHUB_RATE_LIMITS": "false"}
    with running(arguments, env=environment) as (base, _):  # every example answered, not 429
        yield base


#: The committed schema, and its operations (each root field) by label.
SCHEMA = schemathesis.graphql.from_file(SDL.read_text(encoding="utf-8"))
OPERATIONS = {op.label: op for op in (r.ok() for r in SCHEMA.get_all_operations())}


#: Queries street staff may not run (a data officer's, an auditor's): answered, without data.
REFUSED_TO_STREET_STAFF = {
    "Query.accessRequests",
    "Query.grants",
    "Query.auditLog",
    "Query.auditStats",
    "Query.feedRuns",
    "Query.corrections",
}


@pytest.mark.parametrize("label", sorted(OPERATIONS))
def test_generated_operations_never_break_the_hub(
    hub_url: str, token_for: Callable[[str], str], label: str
) -> None:
    """As the district's street staff, who read the most of any person (their mutations are
    refused, which is an answer too). Schemathesis' pytest plugin does not run on this pytest,
    so its strategies drive hypothesis here directly."""
    headers = {"Authorization": f"Bearer {token_for('street-440306001')}"}

    @hypothesis_settings(
        max_examples=EXAMPLES,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    @given(case=OPERATIONS[label].as_strategy())
    def call(case: schemathesis.Case) -> None:
        response = case.call(base_url=f"{hub_url}/graphql", headers=headers)
        assert response.status_code < 500, response.text
        assert response.status_code != 401, "the token was not taken: nothing was tested"
        answered.append(response.json().get("data") is not None)
        # Schemathesis' own judgement of the answer: JSON, a GraphQL response, and no null
        # where the schema promises a value. (Its "server error" check is left out: it takes
        # every error with a path for a fault, and a refusal by the permissions — FORBIDDEN,
        # PURPOSE_REQUIRED — is an answer here, not a fault.)
        SCHEMA.validate_response(case.operation, response, case=case)
        codes = [e["extensions"]["code"] for e in response.json().get("errors", [])]
        assert "INTERNAL_SERVER_ERROR" not in codes, response.text

    answered: list[bool] = []
    call()
    assert answered
    if label.startswith("Query.") and label not in REFUSED_TO_STREET_STAFF:
        assert any(answered), f"{label}: no generated query was answered with data"
