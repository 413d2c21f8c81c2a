"""What one report costs the database: one placement (one statement with PostGIS, grid then
house without), one INSERT of the event (already dispatched when routed), one INSERT of both
history steps, one of the field history — no UPDATE of the row just written."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from demo import District
from events import placement
from tests.conftest import GraphQL, StatementCounter
from tests.events.test_flow_http import GRID, REPORT, WORKER, _house_in, _report
from tests.support import data_of

pytestmark = pytest.mark.usefixtures("made_events")


def _kind(statement: str) -> str:
    words = statement.split()
    if words[0] == "INSERT":
        return f"INSERT {words[2]}"
    if words[0] == "UPDATE":
        return f"UPDATE {words[1]}"
    return words[0]


async def test_a_report_takes_one_insert_per_table_and_no_update(
    gql: GraphQL, statements: StatementCounter, engine: AsyncEngine, district: District
) -> None:
    house = _house_in(district, GRID)
    report = _report(house, location={"lon": house["lon"] + 1e-5, "lat": house["lat"]})
    await gql(REPORT, {"input": report}, as_=WORKER)  # warm: the plan and PostGIS probe cached
    with statements:
        body = await gql(REPORT, {"input": report}, as_=WORKER)
    event = data_of(body)["reportEvent"]
    assert event["house"] == {"code": house["code"]}
    assert [s["action"] for s in event["history"]] == ["REPORT", "DISPATCH"]
    kinds = [_kind(s) for s in statements.statements]
    writes = [k for k in kinds if k.startswith(("INSERT", "UPDATE", "DELETE"))]
    assert writes == ["INSERT events", "INSERT event_actions", "INSERT row_history"]
    async with engine.connect() as connection:
        postgis = await placement.uses_postgis(connection)
    placing = [s for s in statements.statements if "FROM grids" in s or "FROM houses" in s]
    # With PostGIS: grid and house in one; else the grid's candidates, then the house; the
    # answer's house is read once more, through the plan.
    assert len(placing) == (2 if postgis else 3), placing
