"""A task's life besides resolving it, over HTTP: escalated by its worker or by the hub when
overdue, cancelled by who raised it, its department's officer, or the hub when a feed removed
the record; findings (MOVED_OUT …) reaching the record's departments and their feeds out; and
``taskStats`` counting what the plan shows."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import orjson
import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.testclient import TestClient

from demo import District
from hub.app import create_app
from hub.settings import Settings
from resolvers.ids import to_global_id
from store.models import FeedConflict, Person, RemovedRow, Task
from tasks.generate import generate_tasks
from tests.tasks.conftest import NOW, Findings
from tests.tasks.test_loop import COMMUNITY, GRID, NEIGHBOUR, TASKS, WORKER, Caller

ESCALATE = """mutation($id: ID!, $note: String!) { escalateTask(id: $id, note: $note) {
  id status history { action status by note } } }"""
CANCEL = """mutation($id: ID!, $reason: String!) { cancelTask(id: $id, reason: $reason) {
  id status history { action status by note } } }"""
RESOLVE = """mutation($id: ID!, $outcome: TaskOutcome!) { resolveTask(id: $id, outcome: $outcome) {
  id status outcome corrections { id kind field finding department status } } }"""
ASK = """mutation($r: ID!) { requestVerification(recordId: $r, why: "请核实") { id status } }"""
CORRECTIONS = """query($f: CorrectionFilter) { corrections(filter: $f) { totalCount
  edges { node { id kind field finding oldValue newValue recordId department resourceCode
    status } } } }"""
DECIDE = """mutation($id: ID!, $accept: Boolean!, $reason: String) {
  decideCorrection(id: $id, accept: $accept, reason: $reason) { id status } }"""
STATS = """query($area: String!, $g: [TaskStatsGroup!]!, $min: Int) {
  taskStats(areaCode: $area, from: "2026-01-01T00:00:00Z", to: "2027-01-01T00:00:00Z",
            groupBy: $g, minCount: $min) {
    gridCode kind outcome count done doneOnTime onTimeRate waiting overdue escalated
    cancelled } }"""


@pytest.fixture(scope="module")
def caller(settings: Settings, token_for: Callable[[str], str]) -> Iterator[Caller]:
    with TestClient(create_app(settings)) as client:
        yield Caller(client, token_for)


def _person(district: District, grid: str = GRID, skip: int = 0) -> dict[str, Any]:
    return [p for p in district.people if p["grid_code"] == grid][skip]


async def test_a_worker_escalates_and_community_staff_resolve(
    caller: Caller, findings: Findings, engine: AsyncEngine, district: District
) -> None:
    person = _person(district)
    await findings.conflict("people", str(person["id"]), "residenceKind", GRID)
    await generate_tasks(engine, NOW)
    task = caller.data(WORKER, TASKS)["tasks"]["edges"][0]["node"]
    # A reason is needed; the neighbour can not reach it; an app is no grid worker.
    assert caller.refused(WORKER, ESCALATE, {"id": task["id"], "note": " "}) == "BAD_USER_INPUT"
    assert caller.refused(NEIGHBOUR, ESCALATE, {"id": task["id"], "note": "x"}) == (
        "TASK_NOT_FOUND"
    )
    assert caller.refused("housing-app", ESCALATE, {"id": task["id"], "note": "x"}) == "FORBIDDEN"
    escalated = caller.data(WORKER, ESCALATE, {"id": task["id"], "note": "住户拒绝开门"})
    assert escalated["escalateTask"]["status"] == "ESCALATED"
    assert escalated["escalateTask"]["history"][-1] == {
        "action": "escalated",
        "status": "ESCALATED",
        "by": WORKER,
        "note": "住户拒绝开门",
    }
    assert caller.refused(WORKER, ESCALATE, {"id": task["id"], "note": "x"}) == "BAD_USER_INPUT"
    # Community staff find it among their community's escalated tasks, and settle it.
    listed = caller.data(COMMUNITY, TASKS, {"f": {"status": "ESCALATED"}})["tasks"]
    assert [edge["node"]["id"] for edge in listed["edges"]] == [task["id"]]
    assert caller.data(WORKER, TASKS, {"f": {"status": "OPEN"}})["tasks"]["totalCount"] == 0
    done = caller.data(COMMUNITY, RESOLVE, {"id": task["id"], "outcome": "CONFIRMED"})
    assert (done["resolveTask"]["status"], done["resolveTask"]["outcome"]) == ("DONE", "CONFIRMED")
    # Done: neither escalated nor cancelled any more.
    assert caller.refused(WORKER, ESCALATE, {"id": task["id"], "note": "x"}) == "TASK_CLOSED"


async def test_the_hub_escalates_overdue_tasks_and_cancels_removed_records(
    caller: Caller, findings: Findings, engine: AsyncEngine, district: District
) -> None:
    person = _person(district)
    gone_key = "990000001"  # a person a feed removed after the conflict was found
    await findings.conflict("people", str(person["id"]), "residenceKind", GRID)
    await findings.conflict("people", gone_key, "residenceKind", GRID)
    report = await generate_tasks(engine, NOW)
    assert (report.total, report.cancelled, report.escalated) == (2, 0, 0)
    async with engine.begin() as connection:
        await connection.execute(
            insert(RemovedRow.__table__).values(
                target="people",
                row_key=gone_key,
                grid_code=GRID,
                removed_at=NOW + timedelta(hours=1),
                removed_by="feed",
                source_ref="GA-RK-FEED/7",
            )
        )
    # Eight days on: the removed record's task is cancelled (and not raised again), the other,
    # overdue (a conflict is due in seven days), goes to community staff.
    later = NOW + timedelta(days=8)
    report = await generate_tasks(engine, later)
    assert (report.total, report.cancelled, report.escalated) == (0, 1, 1)
    assert (await generate_tasks(engine, later)).total == 0
    tasks = caller.data(COMMUNITY, TASKS, {"f": {"areaCode": GRID}})["tasks"]["edges"]
    by_record = {edge["node"]["recordId"]: edge["node"] for edge in tasks}
    gone = by_record[to_global_id("Person", int(gone_key))]
    kept = by_record[to_global_id("Person", person["id"])]
    assert gone["status"] == "CANCELLED"
    assert gone["history"][-1]["action"] == "cancelled"
    assert gone["history"][-1]["by"] == "hub"
    assert kept["status"] == "ESCALATED"
    assert kept["history"][-1] == {
        "action": "escalated",
        "status": "ESCALATED",
        "by": "hub",
        "note": "Overdue: handed to community staff",
    }
    async with engine.connect() as connection:
        status = await connection.scalar(
            select(FeedConflict.__table__.c.status).where(
                FeedConflict.__table__.c.row_key == gone_key
            )
        )
    assert status == "resolved"


async def test_who_raised_a_request_or_its_departments_officer_cancels_it(
    caller: Caller, findings: Findings, engine: AsyncEngine, district: District
) -> None:
    house = next(h for h in district.houses if h["grid_code"] == GRID)
    first = caller.data("housing-app", ASK, {"r": to_global_id("House", house["code"])})
    task_id = first["requestVerification"]["id"]
    # Not the raiser, not the department's officer, no reason: refused, nothing changes.
    assert caller.refused(WORKER, CANCEL, {"id": task_id, "reason": "x"}) == "FORBIDDEN"
    assert caller.refused("officer-civil-affairs", CANCEL, {"id": task_id, "reason": "x"}) == (
        "TASK_NOT_FOUND"
    )
    assert caller.refused("housing-app", CANCEL, {"id": task_id, "reason": ""}) == (
        "BAD_USER_INPUT"
    )
    assert caller.refused("housing-app", CANCEL, {"id": "task:x", "reason": "x"}) == (
        "BAD_USER_INPUT"
    )
    cancelled = caller.data("housing-app", CANCEL, {"id": task_id, "reason": "已由业务系统核实"})
    assert cancelled["cancelTask"]["status"] == "CANCELLED"
    assert cancelled["cancelTask"]["history"][-1]["note"] == "已由业务系统核实"
    # Closed now: neither cancelled again nor resolved.
    assert caller.refused("housing-app", CANCEL, {"id": task_id, "reason": "x"}) == "TASK_CLOSED"
    assert caller.refused(WORKER, RESOLVE, {"id": task_id, "outcome": "CONFIRMED"}) == (
        "TASK_CLOSED"
    )
    # A new request; the department's data officer withdraws it.
    second = caller.data("housing-app", ASK, {"r": to_global_id("House", house["code"])})
    other_id = second["requestVerification"]["id"]
    assert other_id != task_id
    withdrawn = caller.data("officer-housing", CANCEL, {"id": other_id, "reason": "重复"})
    assert withdrawn["cancelTask"]["status"] == "CANCELLED"
    assert withdrawn["cancelTask"]["history"][-1]["by"] == "officer-housing"


async def test_findings_reach_the_records_departments_and_their_feeds_out(
    caller: Caller,
    findings: Findings,
    engine: AsyncEngine,
    district: District,
    token_for: Callable[[str], str],
) -> None:
    person = _person(district, skip=1)
    key = to_global_id("Person", person["id"])
    caller.data("public-security-app", ASK, {"r": key})
    task = caller.data(WORKER, TASKS)["tasks"]["edges"][0]["node"]
    # A finding must fit the record: a person is not VACANT.
    assert caller.refused(WORKER, RESOLVE, {"id": task["id"], "outcome": "VACANT"}) == (
        "BAD_USER_INPUT"
    )
    resolved = caller.data(WORKER, RESOLVE, {"id": task["id"], "outcome": "MOVED_OUT"})
    made = resolved["resolveTask"]["corrections"]
    # One finding for each department holding a resource of people.
    assert sorted(c["department"] for c in made) == ["civil_affairs", "public_security"]
    assert {(c["kind"], c["field"], c["finding"], c["status"]) for c in made} == {
        ("FINDING", None, "MOVED_OUT", "PENDING")
    }
    listed = caller.data("officer-public-security", CORRECTIONS, {"f": {"status": "PENDING"}})
    [node] = [e["node"] for e in listed["corrections"]["edges"]]
    assert (node["kind"], node["finding"], node["recordId"]) == ("FINDING", "MOVED_OUT", key)
    assert node["resourceCode"] == "RK-JC-001"
    # Accepted: the department takes it in; the shared row is left to its feed.
    assert caller.data("officer-public-security", DECIDE, {"id": node["id"], "accept": True})
    async with engine.connect() as connection:
        still = await connection.scalar(
            select(Person.__table__.c.id).where(Person.__table__.c.id == person["id"])
        )
    assert still == person["id"]
    token = {"authorization": f"Bearer {token_for('public-security-app')}"}
    by_feed = caller.client.get("/feeds/GA-RK-FEED/corrections", headers=token)
    assert by_feed.status_code == 200, by_feed.text
    [line] = [orjson.loads(text) for text in by_feed.text.splitlines()]
    assert (line["kind"], line["finding"], line["field"], line["newValue"]) == (
        "finding",
        "MOVED_OUT",
        None,
        None,
    )
    assert (line["target"], line["recordKey"], line["gridCode"]) == (
        "people",
        str(person["id"]),
        GRID,
    )
    # The department's code still serves all its corrections; the entities' feed carries none
    # of people's; unknown codes are 404; another department's app is refused.
    by_department = caller.client.get("/feeds/public_security/corrections", headers=token)
    assert by_department.text == by_feed.text
    market = {"authorization": f"Bearer {token_for('housing-app')}"}
    assert caller.client.get("/feeds/GA-RK-FEED/corrections", headers=market).status_code == 403
    missing = caller.client.get("/feeds/NO-SUCH-FEED/corrections", headers=token)
    assert (missing.status_code, missing.json()["errors"][0]["extensions"]["code"]) == (
        404,
        "NOT_FOUND",
    )
    worker = {"authorization": f"Bearer {token_for(WORKER)}"}
    assert caller.client.get("/feeds/GA-RK-FEED/corrections", headers=worker).status_code == 403
    # Rejected by the other department: the task goes back with the reason.
    other = caller.data("officer-civil-affairs", CORRECTIONS)["corrections"]["edges"][0]["node"]
    caller.data(
        "officer-civil-affairs", DECIDE, {"id": other["id"], "accept": False, "reason": "仍在领取"}
    )
    back = caller.data(WORKER, TASKS, {"f": {"status": "OPEN"}})["tasks"]["edges"][0]["node"]
    assert back["history"][-1]["note"] == "MOVED_OUT rejected: 仍在领取"


async def test_task_stats_count_what_the_plan_shows_and_leave_small_groups_out(
    caller: Caller, findings: Findings, engine: AsyncEngine, district: District
) -> None:
    mine = [p for p in district.people if p["grid_code"] == GRID][:4]
    theirs = [p for p in district.people if p["grid_code"] == "440306001001002"][:3]
    for person in [*mine, *theirs]:
        await findings.conflict("people", str(person["id"]), "residenceKind", person["grid_code"])
    await generate_tasks(engine, NOW)
    tasks = caller.data(WORKER, TASKS)["tasks"]["edges"]
    caller.data(WORKER, RESOLVE, {"id": tasks[0]["node"]["id"], "outcome": "CONFIRMED"})
    # The worker counts their grid's only; community staff both grids.
    own = caller.data(WORKER, STATS, {"area": "440306001", "g": ["GRID"], "min": 3})
    assert own["taskStats"] == [
        {
            "gridCode": GRID,
            "kind": None,
            "outcome": None,
            "count": 4,
            "done": 1,
            "doneOnTime": 0,  # resolved today, after its due time
            "onTimeRate": 0.0,
            "waiting": 3,
            "overdue": 3,  # due a week after NOW, long past
            "escalated": 0,
            "cancelled": 0,
        }
    ]
    staff = caller.data(COMMUNITY, STATS, {"area": "440306001001", "g": ["GRID", "KIND"]})
    assert staff["taskStats"] == []  # groups of fewer than five are left out by default
    staff = caller.data(COMMUNITY, STATS, {"area": "440306001001", "g": [], "min": 3})
    assert [row["count"] for row in staff["taskStats"]] == [7]
    by_outcome = caller.data(COMMUNITY, STATS, {"area": "440306001001", "g": ["OUTCOME"], "min": 3})
    assert [(r["outcome"], r["count"]) for r in by_outcome["taskStats"]] == [(None, 6)]
    # Bad input has its code.
    assert caller.refused(WORKER, STATS, {"area": "4403", "g": []}) == "BAD_USER_INPUT"
    assert caller.refused(WORKER, STATS, {"area": GRID, "g": [], "min": 1}) == "BAD_USER_INPUT"
    assert caller.refused(WORKER, STATS, {"area": GRID, "g": ["GRID", "GRID"]}) == (
        "BAD_USER_INPUT"
    )
    async with engine.connect() as connection:
        assert await connection.scalar(select(Task.__table__.c.id).limit(1)) is not None
