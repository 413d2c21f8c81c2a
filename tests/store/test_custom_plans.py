"""On PostgreSQL, the hub's prepared statements are planned for their actual parameters on
every execution, never with a generic plan.

asyncpg prepares every statement once per connection; from the sixth execution on PostgreSQL
may run a generic plan chosen without the parameters' values. For a street staff's page of
residents (``house_code IN (…)`` within the street's ``grid_code`` range) that plan reads the
whole street through the ``grid_code`` index: a street staff member's screen became ten times
slower than a grid worker's after five requests. The engine keeps custom plans.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from auth.principal import Identity
from hub.execution import Executor
from hub.settings import Settings
from policies.access import Access
from policies.field_rules import NothingPlan
from resolvers.context import RequestContext
from schema import build_schema
from store.engine import create_engine

GRID = "440306001001001"
STREET = GRID[:9]

QUERY = """
query StreetPage($grid: String!) {
  grid(code: $grid) {
    houses(first: 20) {
      edges { node { code residents(first: 20) { edges { node { id name phone } } } } }
    }
  }
}
"""

#: How the hub's statements on the session's one connection were planned, per statement.
PLANS = """
SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements
WHERE statement LIKE '%FROM people%' AND statement LIKE '%row_number()%'
  AND statement NOT LIKE '%pg_prepared_statements%'
"""


@pytest.fixture
def backend_is_postgresql(backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("generic plans are PostgreSQL's (run with --db postgresql)")


async def test_street_staff_residents_never_run_a_generic_plan(
    backend_is_postgresql: None, settings: Settings
) -> None:
    # One pooled connection: every request runs on it, so its prepared statements are reused
    # as a server process's are, and pg_prepared_statements shows their planning.
    engine = create_engine(settings, pool_size=1, max_overflow=0)
    access = Access.create(engine)
    # The loaders' statements are the ones prepared and run again per house page: the
    # field-by-field path (the compiled path runs one statement, under the same settings).
    executor = Executor(build_schema(), settings.document_cache_size, compiled=False)
    try:
        answers: list[dict[str, Any]] = []
        for _ in range(10):  # well past the fifth execution, when a generic plan may start
            context = RequestContext.build(settings, engine, NothingPlan())
            try:
                context.identity = Identity(f"street-{STREET}", "person", None, "", None)
                context.plan = await access.plan_for(
                    context.identity, None, await context.connection()
                )
                answers.append(
                    await executor.run(executor.prepare(QUERY), {"grid": GRID}, None, context)
                )
            finally:
                await context.close()
        assert all("errors" not in answer for answer in answers), answers[0]
        houses = answers[-1]["data"]["grid"]["houses"]["edges"]
        assert houses
        assert any(h["node"]["residents"]["edges"] for h in houses)
        assert answers[-1] == answers[0]

        async with engine.connect() as connection:
            plans = (await connection.execute(text(PLANS))).all()
        assert plans, "the residents' statement was not prepared on the pooled connection"
        for statement, generic, custom in plans:
            assert generic == 0, f"{generic} generic plan(s) for: {statement[:200]}"
            assert custom >= 10
    finally:
        await engine.dispose()
