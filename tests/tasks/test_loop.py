"""The whole loop over HTTP: a feed conflict → a task in the right grid → the worker corrects →
the authoritative department accepts → the row changes with provenance → the department's feed
out carries it → the record's history shows it → the audit log names it (fields and ids, no
values); and every refusal on the way."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import orjson
import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.testclient import TestClient

from demo import District
from hub.app import create_app
from hub.settings import Settings
from resolvers.ids import to_global_id
from store.models import AuditEntry, House, Person, RowChange
from tasks.generate import generate_tasks
from tests.tasks.conftest import NOW, Findings

GRID = "440306001001001"
WORKER = "worker-440306001001001"
NEIGHBOUR = "worker-440306001001002"
COMMUNITY = "community-440306001001"

TASKS = """query($f: TaskFilter, $first: Int, $after: String) {
  tasks(filter: $f, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { cursor node { id kind status recordType recordId gridCode reason raisedBy why
      department dueAt overdue outcome note history { action status by note }
      corrections { id field oldValue newValue status department reason } } } } }"""
RESOLVE = """mutation($id: ID!, $outcome: TaskOutcome!, $changes: [FieldChangeInput!],
    $note: String) {
  resolveTask(id: $id, outcome: $outcome, changes: $changes, note: $note) {
    id status outcome corrections { id field newValue status department } } }"""
CORRECTIONS = """query($f: CorrectionFilter) { corrections(filter: $f) { totalCount
  edges { node { id taskId recordType field oldValue newValue department resourceCode
    proposedBy status } } } }"""
DECIDE = """mutation($id: ID!, $accept: Boolean!, $reason: String) {
  decideCorrection(id: $id, accept: $accept, reason: $reason) {
    id status decidedBy reason } }"""
HISTORY = """query($id: ID!) { recordHistory(id: $id) {
  field oldValue newValue changedByKind changedBy sourceRef department } }"""


class Caller:
    def __init__(self, client: TestClient, token_for: Callable[[str], str]) -> None:
        self.client = client
        self.token_for = token_for

    def post(self, subject: str, query: str, variables: Any = None) -> tuple[Any, str]:
        response = self.client.post(
            "/graphql",
            json={"query": query, "variables": variables},
            headers={"authorization": f"Bearer {self.token_for(subject)}"},
        )
        assert response.status_code == 200, response.text
        return response.json(), response.headers["x-request-id"]

    def data(self, subject: str, query: str, variables: Any = None) -> Any:
        body, _ = self.post(subject, query, variables)
        assert "errors" not in body, body
        return body["data"]

    def refused(self, subject: str, query: str, variables: Any = None) -> str:
        body, _ = self.post(subject, query, variables)
        assert body.get("errors"), body
        assert body["data"] is None or all(v is None for v in body["data"].values())
        return str(body["errors"][0]["extensions"]["code"])


@pytest.fixture(scope="module")
def caller(settings: Settings, token_for: Callable[[str], str]) -> Iterator[Caller]:
    with TestClient(create_app(settings)) as client:
        yield Caller(client, token_for)


@pytest.fixture
async def house(engine: AsyncEngine, district: District) -> AsyncIterator[dict[str, Any]]:
    """A house of the worker's grid, put back as it was afterwards."""
    found = next(h for h in district.houses if h["grid_code"] == GRID)
    table = House.__table__
    async with engine.connect() as connection:
        before = (
            (await connection.execute(select(table).where(table.c.code == found["code"])))
            .mappings()
            .one()
        )
    yield dict(before)
    async with engine.begin() as connection:
        await connection.execute(
            update(table)
            .where(table.c.code == found["code"])
            .values(
                {k: before[k] for k in ("floors", "use", "source_department", "source_feed")}
                | {k: before[k] for k in ("source_run", "source_at", "verified_at", "updated_at")}
            )
        )
        await connection.execute(delete(RowChange.__table__))


async def _entry(engine: AsyncEngine, request_id: str) -> Any:
    async with engine.connect() as connection:
        return (
            await connection.execute(
                select(AuditEntry.__table__).where(AuditEntry.__table__.c.request_id == request_id)
            )
        ).one()


async def test_the_whole_loop(
    caller: Caller,
    engine: AsyncEngine,
    findings: Findings,
    house: dict[str, Any],
    token_for: Callable[[str], str],
) -> None:
    code = house["code"]
    floors = int(house["floors"])
    # A feed conflict: another department reports another number of floors.
    await findings.conflict(
        "houses",
        code,
        "floors",
        GRID,
        observed="emergency",
        authoritative="housing",
        observed_value=str(floors + 2),
        authoritative_value=str(floors),
    )
    assert (await generate_tasks(engine, NOW)).total == 1

    # The task is in the worker's grid, and not in the neighbour's.
    listed = caller.data(WORKER, TASKS, {"f": {"status": "OPEN"}})["tasks"]
    assert listed["totalCount"] == 1
    task = listed["edges"][0]["node"]
    assert task["kind"] == "CONFLICT"
    assert task["recordId"] == to_global_id("House", code)
    assert task["gridCode"] == GRID
    assert task["reason"] == "conflict:floors"
    assert [step["action"] for step in task["history"]] == ["raised"]
    assert caller.data(NEIGHBOUR, TASKS)["tasks"]["totalCount"] == 0
    # Community staff see their community's.
    assert caller.data(COMMUNITY, TASKS)["tasks"]["totalCount"] == 1

    # The worker corrects it on site.
    body, resolve_request = caller.post(
        WORKER,
        RESOLVE,
        {
            "id": task["id"],
            "outcome": "CORRECTED",
            "changes": [{"field": "floors", "value": str(floors + 2)}],
            "note": "counted on site",
        },
    )
    assert "errors" not in body, body
    resolved = body["data"]["resolveTask"]
    assert (resolved["status"], resolved["outcome"]) == ("DONE", "CORRECTED")
    [correction] = resolved["corrections"]
    assert correction["department"] == "housing"
    assert correction["newValue"] == str(floors + 2)

    # The housing bureau's data officer sees it; another department's does not, nor decides it.
    pending = caller.data("officer-housing", CORRECTIONS, {"f": {"status": "PENDING"}})
    [listed_correction] = [e["node"] for e in pending["corrections"]["edges"]]
    assert listed_correction["oldValue"] == str(floors)
    assert listed_correction["proposedBy"] == WORKER
    # The housing bureau's resource that holds `floors` and sorts first: the demo's, or the one
    # docs/catalogue.md's example registers in the same district when its test ran first.
    assert listed_correction["resourceCode"] in {"FW-JC-001", "FW-AQ-003"}
    other = caller.data("officer-civil-affairs", CORRECTIONS)["corrections"]
    assert other["totalCount"] == 0
    assert (
        caller.refused("officer-civil-affairs", DECIDE, {"id": correction["id"], "accept": True})
        == "CORRECTION_NOT_FOUND"
    )

    # The owning department accepts: the row changes, with provenance.
    body, decide_request = caller.post(
        "officer-housing", DECIDE, {"id": correction["id"], "accept": True}
    )
    assert body["data"]["decideCorrection"]["status"] == "ACCEPTED", body
    async with engine.connect() as connection:
        row = (
            (
                await connection.execute(
                    select(House.__table__).where(House.__table__.c.code == code)
                )
            )
            .mappings()
            .one()
        )
    assert row["floors"] == floors + 2
    assert (row["source_department"], row["source_feed"]) == ("housing", "correction")
    assert row["verified_at"] is not None
    assert row["updated_at"] > house["updated_at"]
    # Deciding twice is refused.
    assert (
        caller.refused(
            "officer-housing", DECIDE, {"id": correction["id"], "accept": False, "reason": "no"}
        )
        == "CORRECTION_DECIDED"
    )

    # The department's system collects it as its feed out; another department's app can not.
    response = caller.client.get(
        "/feeds/housing/corrections",
        params={"since": "2020-01-01T00:00:00+00:00"},
        headers={"authorization": f"Bearer {token_for('housing-app')}"},
    )
    assert response.status_code == 200, response.text
    lines = [orjson.loads(line) for line in response.text.splitlines()]
    assert [(line["recordKey"], line["field"], line["newValue"]) for line in lines] == [
        (code, "floors", str(floors + 2))
    ]
    assert lines[0]["verifiedBy"] == WORKER
    later = caller.client.get(
        "/feeds/housing/corrections",
        params={"since": lines[0]["decidedAt"], "after": str(lines[0]["correction"])},
        headers={"authorization": f"Bearer {token_for('housing-app')}"},
    )
    assert later.text == ""
    refused = caller.client.get(
        "/feeds/housing/corrections",
        headers={"authorization": f"Bearer {token_for('civil-affairs-app')}"},
    )
    assert refused.status_code == 403
    assert refused.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert caller.client.get("/feeds/housing/corrections").status_code == 401

    # The record's history shows it.
    history = caller.data(WORKER, HISTORY, {"id": to_global_id("House", code)})
    assert history["recordHistory"] == [
        {
            "field": "floors",
            "oldValue": str(floors),
            "newValue": str(floors + 2),
            "changedByKind": "correction",
            "changedBy": WORKER,
            "sourceRef": f"correction:{correction['id'].removeprefix('correction:')}",
            "department": "housing",
        }
    ]

    # The audit log names the write and the decision: ids and fields, never the values.
    written = await _entry(engine, resolve_request)
    assert written.subject == WORKER
    assert written.variables["changes"] == [{"field": "floors", "value": "[redacted]"}]
    assert written.variables["id"] == task["id"]
    assert all(c["value"] == "[redacted]" for c in written.variables["changes"])
    decided = await _entry(engine, decide_request)
    assert decided.subject == "officer-housing"
    assert decided.variables["id"] == correction["id"]


async def test_a_rejected_correction_sends_the_task_back_with_the_reason(
    caller: Caller, engine: AsyncEngine, findings: Findings, house: dict[str, Any]
) -> None:
    code = house["code"]
    await findings.conflict("houses", code, "use", GRID, authoritative="housing")
    await generate_tasks(engine, NOW)
    task = caller.data(WORKER, TASKS)["tasks"]["edges"][0]["node"]
    other_use = "OFFICE" if house["use"] != "office" else "COMMERCIAL"
    resolved = caller.data(
        WORKER,
        RESOLVE,
        {
            "id": task["id"],
            "outcome": "CORRECTED",
            "changes": [{"field": "use", "value": other_use}],
        },
    )["resolveTask"]
    correction = resolved["corrections"][0]["id"]
    assert caller.refused("officer-housing", DECIDE, {"id": correction, "accept": False}) == (
        "BAD_USER_INPUT"  # a rejection needs its reason
    )
    caller.data(
        "officer-housing",
        DECIDE,
        {"id": correction, "accept": False, "reason": "the permit says commercial"},
    )
    back = caller.data(WORKER, TASKS, {"f": {"status": "OPEN"}})["tasks"]["edges"][0]["node"]
    assert back["id"] == task["id"]
    assert back["outcome"] is None
    assert back["history"][-1]["action"] == "returned"
    assert "the permit says commercial" in back["history"][-1]["note"]
    assert back["corrections"][0]["status"] == "REJECTED"
    async with engine.connect() as connection:
        use = await connection.scalar(
            select(House.__table__.c.use).where(House.__table__.c.code == code)
        )
    assert use == house["use"]


async def test_every_refusal_has_its_code_and_writes_nothing(
    caller: Caller, engine: AsyncEngine, findings: Findings, district: District
) -> None:
    mine = next(p for p in district.people if p["grid_code"] == GRID)
    theirs = next(p for p in district.people if p["grid_code"] == "440306001001002")
    await findings.conflict("people", str(mine["id"]), "residenceKind", GRID)
    await findings.conflict("people", str(theirs["id"]), "residenceKind", "440306001001002")
    await generate_tasks(engine, NOW)
    own = caller.data(WORKER, TASKS)["tasks"]["edges"][0]["node"]
    other = caller.data(NEIGHBOUR, TASKS)["tasks"]["edges"][0]["node"]

    def resolve(
        subject: str, task_id: str, changes: list[dict[str, str]] | None, outcome: str = "CORRECTED"
    ) -> str:
        return caller.refused(
            subject, RESOLVE, {"id": task_id, "outcome": outcome, "changes": changes}
        )

    # Outside their grid: the task does not exist for them.
    assert resolve(WORKER, other["id"], [{"field": "residenceKind", "value": "RENTER"}]) == (
        "TASK_NOT_FOUND"
    )
    assert resolve(WORKER, "task:999999", None, "CONFIRMED") == "TASK_NOT_FOUND"
    # A field above their tier (they read phones masked only), and one they can not read.
    assert resolve(WORKER, own["id"], [{"field": "phone", "value": "13912345678"}]) == (
        "WRITE_FORBIDDEN"
    )
    assert resolve(WORKER, own["id"], [{"field": "birthDate", "value": "1990-01-01"}]) == (
        "WRITE_FORBIDDEN"
    )
    # Bad input: a bad value, changes without CORRECTED, a bad id.
    assert resolve(WORKER, own["id"], [{"field": "residenceKind", "value": "castle"}]) == (
        "BAD_USER_INPUT"
    )
    assert resolve(WORKER, own["id"], [{"field": "name", "value": "x"}], "CONFIRMED") == (
        "BAD_USER_INPUT"
    )
    assert resolve(WORKER, "task:abc", None, "CONFIRMED") == "BAD_USER_INPUT"
    # An app, a data officer: not grid workers.
    assert resolve("housing-app", own["id"], None, "CONFIRMED") == "FORBIDDEN"
    assert caller.refused("officer-housing", TASKS) == "FORBIDDEN"
    # Nobody but a department decides: a worker asking for corrections is refused.
    assert caller.refused(WORKER, CORRECTIONS) == "FORBIDDEN"
    # None of that wrote anything.
    async with engine.connect() as connection:
        kind = await connection.scalar(
            select(Person.__table__.c.residence_kind).where(Person.__table__.c.id == mine["id"])
        )
    assert kind == mine["residence_kind"]
    assert caller.data(WORKER, TASKS, {"f": {"status": "OPEN"}})["tasks"]["totalCount"] == 1

    # Resolved (CONFIRMED) once; then closed.
    caller.data(WORKER, RESOLVE, {"id": own["id"], "outcome": "CONFIRMED"})
    assert resolve(WORKER, own["id"], None, "CONFIRMED") == "TASK_CLOSED"
    async with engine.begin() as connection:
        await connection.execute(
            update(Person.__table__)
            .where(Person.__table__.c.id == mine["id"])
            .values(verified_at=None)
        )
