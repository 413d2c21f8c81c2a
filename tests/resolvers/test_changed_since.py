"""``changedSince`` and ``removed``: what the statements do on the seeded district, on either
path (compiled and field by field) — the rows are those changed since the time, no more, and
the database finds them through the ``updated_at`` index rather than reading the table."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from store.models import Entity, Event, House, Person
from tests.conftest import GraphQL
from tests.support import data_of

LISTS: dict[str, Any] = {"people": Person, "houses": House, "entities": Entity, "events": Event}


@pytest.fixture
def statements(engine: AsyncEngine) -> Iterator[list[tuple[str, Any]]]:
    """The statements the engine runs while the test does (SQL and parameters)."""
    seen: list[tuple[str, Any]] = []

    def note(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.append((statement, parameters))

    event.listen(engine.sync_engine, "before_cursor_execute", note)
    yield seen
    event.remove(engine.sync_engine, "before_cursor_execute", note)


#: On PostgreSQL, a table of fewer pages than this is read whole whatever its indexes (the
#: planner's right choice: the small test district's tables are a few pages each).
FEW_PAGES = 20


async def _plan_of(engine: AsyncEngine, statement: str, parameters: Any, table: str) -> str:
    """The statement's plan."""
    async with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            rows = await connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
            return "\n".join(str(row[-1]) for row in rows)
        # with the statistics autovacuum keeps (a freshly seeded table has none yet, and the
        # planner then takes it for a few pages that a scan reads as fast as an index)
        await connection.exec_driver_sql(f"ANALYZE {table}")
        pages = await connection.scalar(
            text("SELECT relpages FROM pg_class WHERE oid = to_regclass(:t)"), {"t": table}
        )
        if pages < FEW_PAGES:
            # a table this small is rightly read whole: show instead that an index serves the
            # statement, as the planner will choose it once the table is a district's size
            await connection.exec_driver_sql("SET LOCAL enable_seqscan = off")  # this transaction
        rows = await connection.exec_driver_sql("EXPLAIN " + statement, parameters)
        return "\n".join(str(row[0]) for row in rows)


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "field-by-field"])
@pytest.mark.parametrize("name", sorted(LISTS))
async def test_asking_for_changes_since_after_the_last_change_finds_none_through_the_index(
    gql: GraphQL,
    gql_field_by_field: GraphQL,
    engine: AsyncEngine,
    statements: list[tuple[str, Any]],
    name: str,
    compiled: bool,
) -> None:
    """An app that syncs often asks for few rows: finding them must not read every row."""
    run = gql if compiled else gql_field_by_field
    since = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    query = (
        f"query($s: DateTime!) {{ {name}(changedSince: $s, first: 10) "
        "{ totalCount edges { node { id } } } }"
    )
    body = await run(query, {"s": since})
    assert data_of(body)[name] == {"totalCount": 0, "edges": []}
    table = LISTS[name].__tablename__
    reading = [(s, p) for s, p in statements if f"FROM {table}" in s or f"FROM {table} " in s]
    assert reading, statements
    # the compiled path answers changedSince itself (events are not compiled at all)
    built_json = any("json" in statement.lower() for statement, _ in reading)
    assert built_json == (compiled and name != "events"), reading
    for statement, parameters in reading:
        plan = await _plan_of(engine, statement, parameters, table)
        assert f"ix_{table}_updated_at" in plan, (plan, statement)
        assert f"Seq Scan on {table}" not in plan, plan
        assert f"SCAN {table}\n" not in plan + "\n", plan


@pytest.mark.parametrize("name", sorted(LISTS))
async def test_changed_since_counts_exactly_the_rows_changed_at_or_after_the_time(
    gql: GraphQL, engine: AsyncEngine, name: str
) -> None:
    model = LISTS[name]
    async with engine.connect() as connection:
        since = await connection.scalar(select(func.max(model.updated_at)))
        expected = await connection.scalar(
            select(func.count()).select_from(model).where(model.updated_at >= since)
        )
        everything = await connection.scalar(select(func.count()).select_from(model))
    assert since is not None
    body = await gql(
        f"query($s: DateTime!) {{ {name}(changedSince: $s, first: 500) "
        "{ totalCount edges { node { updatedAt } } } }",
        {"s": since.isoformat()},
    )
    found = data_of(body)[name]
    assert expected is not None
    assert found["totalCount"] == expected >= 1
    for edge in found["edges"]:
        assert datetime.fromisoformat(edge["node"]["updatedAt"]) >= since
    body = await gql(
        f"query($s: DateTime!) {{ {name}(changedSince: $s, first: 0) {{ totalCount }} }}",
        {"s": (since - timedelta(days=3650)).isoformat()},
    )
    assert data_of(body)[name]["totalCount"] == everything
