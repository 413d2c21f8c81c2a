"""The housing and civil-affairs apps work the events the matter list sends them, through the
grants the demo seeds (SJ-JC-002, reporters masked through SJ-SB-003): each sees and accepts its
own department's matters, not another's, and reads the demo's histories of its past events."""

from __future__ import annotations

from typing import Any

import pytest

from demo import District
from tests.events.conftest import Hub
from tests.events.test_flow_http import ACT, REPORT, _house_in, _report, act
from tests.support import data_of, error_codes

pytestmark = pytest.mark.usefixtures("made_events")

GRID = "440306001001001"
WORKER = f"worker-{GRID}"

CASES = [
    ("housing-app", "housing", "rental_house_hazard", "出租屋楼道堆放杂物，消防通道不畅"),
    ("civil-affairs-app", "civil_affairs", "elderly_alone_visit", "独居老人多日未出门，需上门探访"),
]


@pytest.mark.parametrize(("app", "department", "matter", "text"), CASES)
def test_the_app_accepts_resolves_and_the_worker_closes(
    hub: Hub, district: District, app: str, department: str, matter: str, text: str
) -> None:
    house = _house_in(district, GRID)
    body = hub.call(WORKER, REPORT, {"input": _report(house, category=matter, description=text)})
    event = data_of(body)["reportEvent"]
    assert (event["status"], event["handlingDepartmentCode"]) == ("DISPATCHED", department)
    accepted = data_of(act(hub, app, "acceptEvent", event["id"]))["acceptEvent"]
    assert accepted["status"] == "HANDLING"
    resolved = data_of(act(hub, app, "resolveEvent", event["id"], note="已上门处置"))
    assert resolved["resolveEvent"]["status"] == "RESOLVED"
    closed = data_of(act(hub, WORKER, "closeEvent", event["id"]))["closeEvent"]
    assert closed["status"] == "CLOSED"
    assert closed["onTime"] is True
    assert [(s["action"], s["by"]) for s in closed["history"]] == [
        ("REPORT", WORKER),
        ("DISPATCH", "hub"),
        ("ACCEPT", app),
        ("RESOLVE", app),
        ("CLOSE", WORKER),
    ]


@pytest.mark.parametrize(("app", "other"), [("housing-app", 1), ("civil-affairs-app", 0)])
def test_an_app_may_not_accept_another_departments_event(
    hub: Hub, district: District, app: str, other: int
) -> None:
    _, _, matter, text = CASES[other]
    house = _house_in(district, GRID)
    body = hub.call(WORKER, REPORT, {"input": _report(house, category=matter, description=text)})
    event = data_of(body)["reportEvent"]
    refused = act(hub, app, "acceptEvent", event["id"])
    assert error_codes(refused) == ["FORBIDDEN"]
    again = hub.call(
        WORKER, "query($id: ID!) { node(id: $id) { ... on Event { status } } }", {"id": event["id"]}
    )
    assert data_of(again)["node"]["status"] == "DISPATCHED"


QUEUE = """query($department: String!) {
  events(filter: {handlingDepartmentCode: $department}, first: 50) {
    edges { node { status reporter categoryCode history { action by byKind at } } } } }"""


@pytest.mark.parametrize(("app", "department", "matter", "_text"), CASES)
def test_the_queue_shows_the_demo_histories_with_reporters_masked(
    hub: Hub, district: District, app: str, department: str, matter: str, _text: str
) -> None:
    nodes = [
        edge["node"]
        for edge in data_of(hub.call(app, QUEUE, {"department": department}))["events"]["edges"]
    ]
    assert nodes
    expected = {
        e["reporter"] for e in district.events if e["handling_department_code"] == department
    }
    for node in nodes:
        assert node["categoryCode"] == matter
        assert node["reporter"] not in expected  # masked: 张* for 张三
        history: list[dict[str, Any]] = node["history"]
        assert history[0]["action"] == "REPORT"
        assert history[1] == {**history[1], "action": "DISPATCH", "by": "hub"}
        assert [h["at"] for h in history] == sorted(h["at"] for h in history)
    assert ACT  # the same mutations as the main flow
