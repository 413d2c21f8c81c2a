"""Live statistics: the counts a resource shows are the district's, as plain SQL (and the
generated district itself) count them, whoever asks; one statement per table however many
resources are listed."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from catalog.statistics import Method, measure
from demo import District
from hub.settings import Settings
from tests.conftest import GraphQL, StatementCounter
from tests.support import data_of

STATISTICS = """query Statistics($code: String!) { resource(code: $code) { statistics {
    rowCount lastUpdated lastUpdatedFrom fields { field filled completeness } } } }"""


async def _statistics(gql: GraphQL, code: str, as_: str = "auditor-01") -> dict[str, Any]:
    body = await gql(STATISTICS, {"code": code}, as_=as_)
    return dict(data_of(body)["resource"]["statistics"])


async def _sql(engine: AsyncEngine, statement: str) -> Any:
    async with engine.connect() as connection:
        return (await connection.execute(text(statement))).scalar_one()


def _filled(statistics: dict[str, Any]) -> dict[str, int]:
    return {f["field"]: f["filled"] for f in statistics["fields"]}


#: (resource, field) → hand-written SQL counting the rows that have that field's value.
FILLED_SQL = {
    ("RK-LX-003", "phone"): "SELECT count(*) FROM people WHERE phone IS NOT NULL AND phone <> ''",
    ("RK-LX-003", "name"): "SELECT count(name) FROM people",
    ("MZ-GA-001", "careTags"): "SELECT count(*) FROM people WHERE care_tags <> ''",
    ("RK-JZ-004", "room"): "SELECT count(room_code) FROM people",
    ("SJ-JC-002", "closedAt"): "SELECT count(closed_at) FROM events",
    ("SJ-JC-002", "house"): "SELECT count(house_code) FROM events",
    (
        "SJ-JC-002",
        "location",
    ): "SELECT count(*) FROM events WHERE lon IS NOT NULL AND lat IS NOT NULL",
    ("FW-JC-001", "builtYear"): "SELECT count(built_year) FROM houses",
    ("FW-FJ-002", "areaM2"): "SELECT count(area_m2) FROM rooms",
    ("SC-FR-003", "legalRepresentative"): "SELECT count(legal_representative_id) FROM entities",
    ("WG-QY-001", "parent"): "SELECT count(parent_code) FROM grids",
}
ROWS_SQL = {
    "RK-JC-001": "SELECT count(*) FROM people",
    "FW-JC-001": "SELECT count(*) FROM houses",
    "FW-FJ-002": "SELECT count(*) FROM rooms",
    "SC-DJ-001": "SELECT count(*) FROM entities",
    "SJ-JC-002": "SELECT count(*) FROM events",
    "WG-QY-001": "SELECT count(*) FROM grids",
    "WG-SX-004": "SELECT count(*) FROM matters",
    "ZW-BM-001": "SELECT count(*) FROM departments",
}


@pytest.mark.parametrize(("code", "statement"), ROWS_SQL.items(), ids=list(ROWS_SQL))
async def test_the_row_count_is_the_tables(
    gql: GraphQL, engine: AsyncEngine, code: str, statement: str
) -> None:
    assert (await _statistics(gql, code))["rowCount"] == await _sql(engine, statement)


@pytest.mark.parametrize(
    ("code", "field", "statement"),
    [(code, field, statement) for (code, field), statement in FILLED_SQL.items()],
    ids=[f"{code}.{field}" for code, field in FILLED_SQL],
)
async def test_each_fields_filled_count_is_the_tables(
    gql: GraphQL, engine: AsyncEngine, code: str, field: str, statement: str
) -> None:
    statistics = await _statistics(gql, code)
    assert _filled(statistics)[field] == await _sql(engine, statement)


async def test_completeness_of_fields_with_nulls_and_empty_values(
    gql: GraphQL, district: District
) -> None:
    people = len(district.people)
    with_phone = sum(p["phone"] is not None for p in district.people)
    with_tags = sum(bool(p["care_tags"]) for p in district.people)
    assert 0 < with_phone < people
    assert 0 < with_tags < people

    phones = {f["field"]: f for f in (await _statistics(gql, "RK-LX-003"))["fields"]}
    assert phones["phone"]["filled"] == with_phone
    assert phones["phone"]["completeness"] == pytest.approx(with_phone / people)
    assert phones["name"]["completeness"] == 1.0

    tags = {f["field"]: f for f in (await _statistics(gql, "MZ-GA-001"))["fields"]}
    assert tags["careTags"]["completeness"] == pytest.approx(with_tags / people)

    events = await _statistics(gql, "SJ-JC-002")
    closed = sum(e["closed_at"] is not None for e in district.events)
    completeness = {f["field"]: f["completeness"] for f in events["fields"]}
    assert completeness["closedAt"] == pytest.approx(closed / len(district.events))
    assert completeness["reportedAt"] == 1.0


async def test_fields_are_listed_in_the_resources_order(gql: GraphQL) -> None:
    body = await gql(
        '{ resource(code: "RK-JC-001") { fields { name } statistics { fields { field } } } }',
        as_="cdo",
    )
    resource = data_of(body)["resource"]
    assert [f["field"] for f in resource["statistics"]["fields"]] == [
        f["name"] for f in resource["fields"]
    ]


async def _newest_update(engine: AsyncEngine, table: str) -> datetime:
    async with engine.connect() as connection:
        found = await connection.scalar(text(f"SELECT max(updated_at) FROM {table}"))  # noqa: S608
    if isinstance(found, str):  # SQLite keeps the text, in UTC
        return datetime.fromisoformat(found).replace(tzinfo=UTC)
    assert isinstance(found, datetime)
    return found


async def test_last_update_is_the_newest_time_the_rows_carry(
    gql: GraphQL, district: District, settings: Settings, engine: AsyncEngine
) -> None:
    events = await _statistics(gql, "SJ-JC-002")
    newest = max(
        at
        for e in district.events
        for at in (e["reported_at"], e["dispatched_at"], e["closed_at"])
        if at is not None
    )
    newest = max(newest, await _newest_update(engine, "events"))
    assert datetime.fromisoformat(events["lastUpdated"]) == newest
    assert events["lastUpdatedFrom"] == [
        "Event.reportedAt",
        "Event.dispatchedAt",
        "Event.closedAt",
        "Event.updatedAt",
    ]

    entities = await _statistics(gql, "SC-DJ-001")
    founded = max(e["established_on"] for e in district.entities)
    start = datetime.combine(founded, time(), ZoneInfo(settings.timezone))
    start = max(start, await _newest_update(engine, "entities"))
    assert datetime.fromisoformat(entities["lastUpdated"]) == start
    assert entities["lastUpdatedFrom"] == ["Entity.establishedOn", "Entity.updatedAt"]


@pytest.mark.parametrize(
    ("code", "table", "type_name"),
    [("RK-JC-001", "people", "Person"), ("FW-JC-001", "houses", "House")],
)
async def test_people_and_houses_were_last_updated_when_a_row_last_changed(
    gql: GraphQL, engine: AsyncEngine, code: str, table: str, type_name: str
) -> None:
    found = await _statistics(gql, code)
    assert datetime.fromisoformat(found["lastUpdated"]) == await _newest_update(engine, table)
    assert found["lastUpdatedFrom"] == [f"{type_name}.updatedAt"]


async def test_without_a_time_column_the_last_update_is_unknown(gql: GraphQL) -> None:
    areas = await _statistics(gql, "WG-QY-001")
    assert areas["lastUpdated"] is None
    assert areas["lastUpdatedFrom"] == []


async def test_a_grid_worker_sees_the_districts_counts_not_their_grids(
    gql: GraphQL, district: District
) -> None:
    """Statistics are counts over the whole district, not cut to the caller's rows."""
    mine = await _statistics(gql, "RK-JC-001", as_="worker-440306001001001")
    assert mine == await _statistics(gql, "RK-JC-001", as_="auditor-01")
    assert mine["rowCount"] == len(district.people)
    in_grid = sum(p["grid_code"] == "440306001001001" for p in district.people)
    assert in_grid < len(district.people)


async def test_each_table_is_measured_once_per_request(
    gql: GraphQL, statements: StatementCounter
) -> None:
    query = "{ catalog { code graphqlType statistics { rowCount fields { filled } } } }"
    with statements:
        body = await gql(query, as_="cdo")
    catalogue = data_of(body)["catalog"]
    types = {r["graphqlType"] for r in catalogue}
    assert len(catalogue) > len(types)  # several resources share a table
    measured = [s for s in statements.statements if "count(" in s.lower()]
    assert len(measured) == len(types)
    catalogue_reads = [s for s in statements.statements if "FROM catalog_" in s]
    assert len(catalogue_reads) == 2  # the resources, then all their fields


async def test_small_tables_are_counted_exactly_and_say_so(gql: GraphQL) -> None:
    body = await gql("{ catalog { code statistics { method } } }", as_="cdo")
    methods = {r["statistics"]["method"] for r in data_of(body)["catalog"]}
    assert methods == {"EXACT"}


async def test_large_tables_are_estimated_and_say_so(
    engine: AsyncEngine, backend: str, settings: Settings
) -> None:
    """Past the threshold (here 0 rows) PostgreSQL estimates: the planner's row count and a
    sample's shares, close to the exact counts; lastUpdated stays exact. SQLite counts."""
    async with engine.connect() as connection:
        exact = await measure(connection, "Person", settings.timezone)
        if backend == "postgresql":  # the planner's row counts (ANALYZE runs in a transaction)
            await connection.execute(text("ANALYZE people"))
            await connection.execute(text("ANALYZE events"))
        estimated = await measure(connection, "Person", settings.timezone, exact_up_to=0)
        events_exact = await measure(connection, "Event", settings.timezone)
        events = await measure(connection, "Event", settings.timezone, exact_up_to=0)
    assert exact.method is Method.EXACT
    if backend != "postgresql":
        assert estimated == exact
        return
    assert estimated.method is Method.ESTIMATED
    assert estimated.rows == pytest.approx(exact.rows, rel=0.05)
    for field in ("phone", "careTags", "name", "room"):
        assert estimated.filled[field] == pytest.approx(exact.filled[field], rel=0.1, abs=20)
        assert estimated.filled[field] <= estimated.rows
    assert events.method is Method.ESTIMATED
    assert events.last_changed == events_exact.last_changed
