"""The event workflow over HTTP, as its users drive it: a grid worker reports at a point; the
hub places it in the grid and house and routes it to the matter's department with the matter's
deadline; the department's app accepts and resolves it; the worker closes it; the history, the
on-time result and the audit entries say so. And every refused step, with its code, leaving
nothing written."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from demo import District
from resolvers.ids import from_global_id
from store.models import AuditEntry, Event, EventAction, RowChange
from tests.events.conftest import UNROUTED, Hub
from tests.support import data_of, error_codes

pytestmark = pytest.mark.usefixtures("made_events")

GRID = "440306001001001"
OTHER_GRID = "440306001001002"
WORKER = f"worker-{GRID}"
STREET = "street-440306001"
OTHER_STREET = "street-440306002"
COMMUNITY = "community-440306001001"
APP = "emergency-app"

EVENT = """id status gridCode handlingDepartmentCode reportedAt dispatchedAt acceptedAt
    resolvedAt closedAt deadline overdue onTime supervisions house { code }
    history { action fromStatus toStatus by byKind byDepartment departmentCode note at }"""
REPORT = f"""mutation($input: ReportEventInput!) {{ reportEvent(input: $input) {{ {EVENT} }} }}"""
ACT = {
    name: f"mutation($id: ID!{extra[0]}) {{ {name}(id: $id{extra[1]}) {{ {EVENT} }} }}"
    for name, extra in {
        "acceptEvent": ("", ""),
        "resolveEvent": (", $note: String!", ", result: $note"),
        "returnEvent": (", $note: String!", ", reason: $note"),
        "closeEvent": ("", ""),
        "reopenEvent": (", $note: String!", ", reason: $note"),
        "superviseEvent": (", $note: String!", ", note: $note"),
        "dispatchEvent": (", $department: String!", ", department: $department"),
    }.items()
}


def _house_in(district: District, grid: str) -> dict[str, Any]:
    return next(h for h in district.houses if h["grid_code"] == grid)


def _report(house: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {
        "category": "gas_leak",
        "location": {"lon": house["lon"], "lat": house["lat"]},
        "description": "楼道内闻到明显燃气味",
        "source": "GRID_PATROL",
        **changes,
    }


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value)


def act(hub: Hub, subject: str, name: str, event: str, **variables: Any) -> Any:
    return hub.call(subject, ACT[name], {"id": event, **variables})


async def _count(engine: AsyncEngine) -> tuple[int, int, int]:
    async with engine.connect() as connection:
        return (
            int(await connection.scalar(select(func.count()).select_from(Event)) or 0),
            int(await connection.scalar(select(func.count()).select_from(EventAction)) or 0),
            int(await connection.scalar(select(func.count()).select_from(RowChange)) or 0),
        )


async def test_report_route_accept_resolve_close(
    hub: Hub, engine: AsyncEngine, district: District
) -> None:
    house = _house_in(district, GRID)
    response = hub.post(WORKER, REPORT, {"input": _report(house)})
    event = data_of(response.json())["reportEvent"]
    # Placed in the grid and the house at the point; routed by the matter list.
    assert event["gridCode"] == GRID
    assert event["house"] == {"code": house["code"]}
    assert event["status"] == "DISPATCHED"
    assert event["handlingDepartmentCode"] == "emergency"
    reported = _at(event["reportedAt"])
    assert _at(event["deadline"]) - reported == timedelta(hours=1)  # gas leak: 1 hour
    assert _at(event["dispatchedAt"]) == reported
    assert [(s["action"], s["toStatus"], s["by"]) for s in event["history"]] == [
        ("REPORT", "REPORTED", WORKER),
        ("DISPATCH", "DISPATCHED", "hub"),
    ]
    assert event["history"][1]["departmentCode"] == "emergency"
    event_id = event["id"]

    # The department's queue holds it.
    queue = data_of(
        hub.call(
            APP,
            """{ events(filter: {handlingDepartmentCode: "emergency", status: DISPATCHED,
                 dueBefore: "2100-01-01T00:00:00+08:00"}, first: 500) {
                 edges { node { id } } } }""",
        )
    )["events"]
    assert event_id in [edge["node"]["id"] for edge in queue["edges"]]

    accepted = data_of(act(hub, APP, "acceptEvent", event_id))["acceptEvent"]
    assert accepted["status"] == "HANDLING"
    assert accepted["acceptedAt"] is not None
    resolved = data_of(act(hub, APP, "resolveEvent", event_id, note="已关闭阀门，排查无泄漏"))[
        "resolveEvent"
    ]
    assert resolved["status"] == "RESOLVED"
    closed = data_of(act(hub, WORKER, "closeEvent", event_id))["closeEvent"]
    assert closed["status"] == "CLOSED"
    assert closed["onTime"] is True
    assert closed["overdue"] is False
    steps = closed["history"]
    assert [(s["action"], s["fromStatus"], s["toStatus"], s["by"], s["byKind"]) for s in steps] == [
        ("REPORT", None, "REPORTED", WORKER, "person"),
        ("DISPATCH", "REPORTED", "DISPATCHED", "hub", "hub"),
        ("ACCEPT", "DISPATCHED", "HANDLING", APP, "client"),
        ("RESOLVE", "HANDLING", "RESOLVED", APP, "client"),
        ("CLOSE", "RESOLVED", "CLOSED", WORKER, "person"),
    ]
    assert steps[3]["note"] == "已关闭阀门，排查无泄漏"
    assert steps[2]["byDepartment"] == "emergency"
    times = [_at(s["at"]) for s in steps]
    assert times == sorted(times)

    # updated_at is the last step's time; row history holds the status changes.
    _, key = from_global_id(event_id)
    async with engine.connect() as connection:
        row = (await connection.execute(select(Event.updated_at).where(Event.id == key))).one()
        assert row.updated_at == times[-1]
        changes = list(
            await connection.execute(
                select(RowChange.field, RowChange.old_value, RowChange.new_value)
                .where(RowChange.target == "events", RowChange.row_key == str(key))
                .order_by(RowChange.id)
            )
        )
        entry = (
            await connection.execute(
                select(AuditEntry).where(AuditEntry.request_id == response.headers["x-request-id"])
            )
        ).one()
    assert [tuple(c) for c in changes if c[0] == "status"] == [
        ("status", "reported", "dispatched"),
        ("status", "dispatched", "handling"),
        ("status", "handling", "resolved"),
        ("status", "resolved", "closed"),
    ]
    assert entry.subject == WORKER
    assert entry.operation_type == "mutation"
    assert entry.outcome == "ok"
    assert entry.variables["input"]["category"] == "gas_leak"


async def test_a_matter_with_no_department_waits_for_the_grid_centre(
    hub: Hub, district: District
) -> None:
    house = _house_in(district, GRID)
    event = data_of(hub.call(WORKER, REPORT, {"input": _report(house, category=UNROUTED)}))[
        "reportEvent"
    ]
    assert (event["status"], event["handlingDepartmentCode"]) == ("REPORTED", None)
    event_id = event["id"]
    # Community staff do not dispatch; the street's grid centre does.
    assert error_codes(act(hub, COMMUNITY, "dispatchEvent", event_id, department="water")) == [
        "FORBIDDEN"
    ]
    sent = data_of(act(hub, STREET, "dispatchEvent", event_id, department="emergency"))
    assert sent["dispatchEvent"]["status"] == "DISPATCHED"
    back = data_of(act(hub, APP, "returnEvent", event_id, note="不属于应急管理职责"))
    assert back["returnEvent"]["status"] == "RETURNED"
    again = data_of(act(hub, STREET, "dispatchEvent", event_id, department="emergency"))
    assert again["dispatchEvent"]["status"] == "DISPATCHED"
    watched = data_of(act(hub, STREET, "superviseEvent", event_id, note="请加快处置"))
    assert watched["superviseEvent"]["supervisions"] == 1
    assert [s["action"] for s in watched["superviseEvent"]["history"]] == [
        "REPORT",
        "DISPATCH",
        "RETURN",
        "DISPATCH",
        "SUPERVISE",
    ]
    assert watched["superviseEvent"]["history"][2]["note"] == "不属于应急管理职责"


async def test_refused_reports_write_nothing(
    hub: Hub, engine: AsyncEngine, district: District
) -> None:
    before = await _count(engine)
    mine, other = _house_in(district, GRID), _house_in(district, OTHER_GRID)
    refusals = [
        ("auditor-01", _report(mine), "FORBIDDEN"),
        ("officer-emergency", _report(mine), "FORBIDDEN"),
        (WORKER, _report(other), "OUTSIDE_AREA"),
        (COMMUNITY, _report(_house_in(district, "440306001002001")), "OUTSIDE_AREA"),
        (WORKER, _report(mine, location={"lon": 0.0, "lat": 0.0}), "OUTSIDE_DISTRICT"),
        (APP, _report(mine, location={"lon": 113.0, "lat": 40.0}), "OUTSIDE_DISTRICT"),
        ("public-security-app", _report(mine), "OUTSIDE_AREA"),  # no grant on events
        (WORKER, _report(mine, category="no_such_matter"), "BAD_USER_INPUT"),
        (WORKER, _report(mine, houseCode=other["code"]), "BAD_USER_INPUT"),
        (WORKER, _report(mine, description="   "), "BAD_USER_INPUT"),
        (WORKER, _report(mine, occurredAt="2099-01-01T00:00:00+08:00"), "BAD_USER_INPUT"),
        (WORKER, _report(mine, location={"lon": 200.0, "lat": 22.5}), "BAD_USER_INPUT"),
    ]
    for subject, report, code in refusals:
        body = hub.call(subject, REPORT, {"input": report})
        assert error_codes(body) == [code], (subject, report, body)
        assert body["data"] == {"reportEvent": None} or body["data"] is None
    assert await _count(engine) == before


async def test_refused_actions_write_nothing(
    hub: Hub, engine: AsyncEngine, district: District
) -> None:
    event = data_of(hub.call(WORKER, REPORT, {"input": _report(_house_in(district, GRID))}))
    event_id = event["reportEvent"]["id"]
    before = await _count(engine)
    refusals = [
        # wrong role
        (WORKER, "acceptEvent", {}, "FORBIDDEN"),
        (STREET, "resolveEvent", {"note": "x"}, "FORBIDDEN"),
        (APP, "closeEvent", {}, "FORBIDDEN"),
        (COMMUNITY, "superviseEvent", {"note": "x"}, "FORBIDDEN"),
        ("auditor-01", "superviseEvent", {"note": "x"}, "BAD_USER_INPUT"),  # sees no events
        # wrong area: the event does not exist for them
        (OTHER_STREET, "superviseEvent", {"note": "x"}, "BAD_USER_INPUT"),
        (f"worker-{OTHER_GRID}", "closeEvent", {}, "BAD_USER_INPUT"),
        ("public-security-app", "acceptEvent", {}, "BAD_USER_INPUT"),
        # wrong state
        (APP, "resolveEvent", {"note": "已处置"}, "WRONG_STATE"),
        (WORKER, "closeEvent", {}, "WRONG_STATE"),
        (WORKER, "reopenEvent", {"note": "x"}, "WRONG_STATE"),
        (STREET, "dispatchEvent", {"department": "water"}, "WRONG_STATE"),
        # bad input
        (APP, "returnEvent", {"note": "  "}, "BAD_USER_INPUT"),
    ]
    for subject, name, variables, code in refusals:
        body = act(hub, subject, name, event_id, **variables)
        assert error_codes(body) == [code], (subject, name, body)
    assert error_codes(hub.call(APP, ACT["acceptEvent"], {"id": "bm9wZQ=="})) == ["BAD_USER_INPUT"]
    assert await _count(engine) == before
    # A closed event takes nothing but a reopening.
    data_of(act(hub, APP, "acceptEvent", event_id))
    data_of(act(hub, APP, "resolveEvent", event_id, note="已处置"))
    data_of(act(hub, WORKER, "closeEvent", event_id))
    assert error_codes(act(hub, STREET, "superviseEvent", event_id, note="x")) == ["WRONG_STATE"]
    reopened = data_of(act(hub, WORKER, "reopenEvent", event_id, note="仍有气味"))["reopenEvent"]
    assert (reopened["status"], reopened["closedAt"], reopened["onTime"]) == (
        "DISPATCHED",
        None,
        None,
    )
