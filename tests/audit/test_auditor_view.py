"""The auditor's view through the HTTP API: ``auditLog`` finds who read what, ``auditStats``
counts it; nobody but an auditor sees either, and the auditor's own questions are audited."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.testclient import TestClient

from hub.app import create_app
from hub.settings import Settings
from store.models import AuditEntry
from tests.audit.test_request_entries import bearer, only_entry
from tests.support import data_of, error_codes, nodes

AUDITOR = "auditor-01"
WORKER = "worker-440306001001001"
OTHER_WORKER = "worker-440306001001002"

LOG = """query Log($filter: AuditLogFilter, $first: Int, $after: String) {
  auditLog(filter: $filter, first: $first, after: $after) {
    edges { cursor node {
      requestId subject department roles operationName operationType outcome errorCode
      personIds reads { type field decision } rowCounts grantIds variables seq writerId hash
    } }
    hasNextPage endCursor
  }
}"""
STATS = """query Stats($from: DateTime!, $to: DateTime!, $groupBy: [AuditGroup!]!) {
  auditStats(from: $from, to: $to, groupBy: $groupBy) {
    department resource outcome day count
  }
}"""


@pytest.fixture(scope="module")
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture(scope="module")
def ask(client: TestClient, token_for: Callable[[str], str]) -> Callable[..., Any]:
    tokens: dict[str, str] = {}

    def post(subject: str, query: str, variables: dict[str, Any] | None = None) -> Any:
        if subject not in tokens:
            tokens[subject] = token_for(subject)
        return client.post(
            "/graphql",
            json={"query": query, "variables": variables or {}},
            headers=bearer(tokens[subject]),
        )

    return post


def log(ask: Callable[..., Any], **filter: Any) -> list[dict[str, Any]]:
    first = filter.pop("first", 100)
    body = ask(AUDITOR, LOG, {"filter": filter, "first": first}).json()
    return nodes(data_of(body)["auditLog"])


def marker() -> str:
    return "Op" + uuid.uuid4().hex[:12]


RESIDENTS = """query NAME { grid(code: "440306001001001") { houses(first: 2) { edges { node {
    residents(first: 3) { edges { node { id name idNumber } } } } } } } }"""


def test_who_read_this_person_names_every_reader_and_only_them(ask: Callable[..., Any]) -> None:
    name = marker()
    read = ask(WORKER, RESIDENTS.replace("NAME", name)).json()
    people = [
        person["id"]
        for house in nodes(data_of(read)["grid"]["houses"])
        for person in nodes(house["residents"])
    ]
    assert people
    person = people[0]
    ask(
        OTHER_WORKER, RESIDENTS.replace("NAME", name)
    )  # another grid: its residents are other people

    found = log(ask, personId=person, operationName=name)
    assert [entry["subject"] for entry in found] == [WORKER]
    entry = found[0]
    assert person in entry["personIds"]
    assert entry["operationType"] == "query"
    assert {"type": "Person", "field": "idNumber", "decision": "MASK"} in entry["reads"]
    assert entry["outcome"] == "PARTIAL"
    # The bare id an export shows finds the same entries.
    bare = base64.b64decode(person).decode().split(":", 1)[1]
    assert [e["requestId"] for e in log(ask, personId=bare, operationName=name)] == [
        entry["requestId"]
    ]


def test_filters_each_narrow_to_what_they_name(
    ask: Callable[..., Any], demo_clients: dict[str, Any]
) -> None:
    name = marker()
    since = datetime.now(UTC) - timedelta(seconds=1)
    ask(WORKER, RESIDENTS.replace("NAME", name))
    ask("housing-app", RESIDENTS.replace("NAME", name))
    ask(
        WORKER,
        'query NAME { people(first: 1, filter: {bornFrom: "1950-01-01"}) { totalCount } }'.replace(
            "NAME", name
        ),
    )
    everything = log(ask, operationName=name)
    assert len(everything) == 3
    assert {e["subject"] for e in log(ask, operationName=name, subject=WORKER)} == {WORKER}
    assert len(log(ask, operationName=name, subject=WORKER)) == 2
    assert [
        e["subject"]
        for e in log(ask, operationName=name, clientId=demo_clients["housing-app"].client_id)
    ] == ["housing-app"]
    assert {e["department"] for e in log(ask, operationName=name, department="housing")} == {
        "housing"
    }
    denied = log(ask, operationName=name, outcome="DENIED")
    assert [(e["subject"], e["errorCode"]) for e in denied] == [(WORKER, "FORBIDDEN")]
    id_readers = log(ask, operationName=name, resourceType="Person", field="idNumber")
    assert len(id_readers) == 2  # the people filter read no idNumber
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert len(log(ask, operationName=name, **{"from": since.isoformat(), "to": later})) == 3
    assert log(ask, operationName=name, to=since.isoformat()) == []


def test_pages_run_newest_first_without_overlap(ask: Callable[..., Any]) -> None:
    name = marker()
    for _ in range(5):
        ask(WORKER, f"query {name} {{ me {{ subject }} }}")
    seen: list[str] = []
    after = None
    pages = 0
    while True:
        body = ask(
            AUDITOR, LOG, {"filter": {"operationName": name}, "first": 2, "after": after}
        ).json()
        page = data_of(body)["auditLog"]
        seen += [edge["node"]["requestId"] for edge in page["edges"]]
        pages += 1
        if not page["hasNextPage"]:
            break
        after = page["endCursor"]
    assert pages == 3
    assert len(seen) == len(set(seen)) == 5
    everything = [e["requestId"] for e in log(ask, operationName=name)]
    assert seen == everything


@pytest.mark.parametrize("subject", [WORKER, "housing-app", "cdo", "officer-housing"])
async def test_nobody_but_an_auditor_sees_the_log(
    subject: str, ask: Callable[..., Any], engine: AsyncEngine
) -> None:
    for query, variables in (
        (LOG, {}),
        (STATS, {"from": "2026-01-01T00:00:00Z", "to": "2027-01-01T00:00:00Z", "groupBy": []}),
    ):
        response = ask(subject, query, variables)
        body = response.json()
        assert body["data"] in (None, {"auditLog": None}, {"auditStats": None})
        assert error_codes(body) == ["FORBIDDEN"]
        entry = await only_entry(engine, response)
        assert (entry.subject, entry.outcome, entry.error_code) == (subject, "denied", "FORBIDDEN")
        assert all(read["decision"] == "DENY" for read in entry.reads)
        assert entry.reads


async def test_the_auditors_own_questions_are_audited(
    ask: Callable[..., Any], engine: AsyncEngine
) -> None:
    response = ask(AUDITOR, LOG, {"filter": {"subject": WORKER}, "first": 3})
    assert data_of(response.json())["auditLog"]["edges"]
    entry = await only_entry(engine, response)
    assert entry.subject == AUDITOR
    assert entry.outcome == "ok"
    assert {"type": "AuditEntry", "field": "personIds", "decision": "ALLOW"} in entry.reads
    assert entry.grant_ids == ["role:auditor"]
    assert entry.variables == {"filter": {"subject": WORKER}, "first": 3}


def test_the_auditor_sees_no_shared_data(ask: Callable[..., Any]) -> None:
    body = ask(AUDITOR, RESIDENTS.replace("NAME", marker())).json()
    assert body["data"]["grid"] is None


async def test_stats_count_what_the_log_holds(ask: Callable[..., Any], engine: AsyncEngine) -> None:
    ask(WORKER, RESIDENTS.replace("NAME", marker()))
    since = datetime.now(UTC) - timedelta(days=2)
    until = datetime.now(UTC) + timedelta(minutes=5)
    counts = data_of(
        ask(
            AUDITOR,
            STATS,
            {
                "from": since.isoformat(),
                "to": until.isoformat(),
                "groupBy": ["DEPARTMENT", "OUTCOME"],
            },
        ).json()
    )["auditStats"]
    async with engine.connect() as connection:
        expected = {
            (row.department_code, row.outcome.upper()): row.count
            for row in await connection.execute(
                select(AuditEntry.department_code, AuditEntry.outcome, func.count().label("count"))
                .where(AuditEntry.at >= since, AuditEntry.at < until)
                .group_by(AuditEntry.department_code, AuditEntry.outcome)
            )
        }
    got = {(c["department"], c["outcome"]): c["count"] for c in counts}
    # The stats request itself is committed after it counted: at most one entry more.
    assert got == expected or (
        sum(expected.values()) == sum(got.values()) + 1
        and all(got.get(key, 0) <= value for key, value in expected.items())
    )
    assert got[("grid_office", "PARTIAL")] >= 1
    assert all(c["resource"] is None and c["day"] is None for c in counts)

    by_day = data_of(
        ask(
            AUDITOR,
            STATS,
            {"from": since.isoformat(), "to": until.isoformat(), "groupBy": ["DAY", "RESOURCE"]},
        ).json()
    )["auditStats"]
    today = datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai")).date()
    assert any(c["day"] == today.isoformat() and c["resource"] == "Person" for c in by_day)


@pytest.mark.parametrize(
    ("query", "variables", "message"),
    [
        (LOG, {"filter": {"from": "2026-11-01T00:00:00"}}, "time zone"),
        (LOG, {"filter": {"from": "2026-11-02T00:00:00Z", "to": "2026-11-01T00:00:00Z"}}, "before"),
        (LOG, {"after": "bm90IGEgY3Vyc29y"}, "cursor"),
        (LOG, {"first": 0}, "first"),
        # A page size past the largest (the whole LOG at that size is refused as too costly).
        ("query ($first: Int) { auditLog(first: $first) { totalCount } }", {"first": 501}, "first"),
        (LOG, {"filter": {"personId": "SG91c2U6MQ=="}}, "Person"),
        (
            STATS,
            {"from": "2020-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z", "groupBy": ["DAY"]},
            "days apart",
        ),
        (
            STATS,
            {"from": "2026-01-01T00:00:00", "to": "2026-02-01T00:00:00Z", "groupBy": []},
            "zone",
        ),
    ],
)
def test_bad_arguments_are_bad_user_input(
    query: str, variables: dict[str, Any], message: str, ask: Callable[..., Any]
) -> None:
    body = ask(AUDITOR, query, variables).json()
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert message in body["errors"][0]["message"]


def test_failed_logins_are_found_by_their_code(
    client: TestClient, ask: Callable[..., Any], demo_clients: dict[str, Any]
) -> None:
    app = demo_clients["emergency-app"]
    since = datetime.now(UTC) - timedelta(seconds=1)
    for _ in range(3):
        client.post(
            "/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": app.client_id,
                "client_secret": "guess",
            },
        )
    found = log(
        ask, errorCode="INVALID_CLIENT", clientId=app.client_id, **{"from": since.isoformat()}
    )
    assert len(found) == 3
    assert all(e["outcome"] == "DENIED" and e["operationType"] == "token" for e in found)


PAGE = """query Page($filter: AuditLogFilter, $first: Int, $after: String) {
  auditLog(filter: $filter, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { requestId } }
  }
}"""


def test_the_log_is_a_connection_with_a_total_count_and_page_info(
    ask: Callable[..., Any],
) -> None:
    name = marker()
    for _ in range(3):
        ask(WORKER, f'query {name} {{ grid(code: "440306001001001") {{ name }} }}')
    first = data_of(ask(AUDITOR, PAGE, {"filter": {"operationName": name}, "first": 2}).json())
    page = first["auditLog"]
    assert page["totalCount"] == 3
    assert page["pageInfo"] == {
        "hasNextPage": True,
        "hasPreviousPage": False,
        "startCursor": page["edges"][0]["cursor"],
        "endCursor": page["edges"][1]["cursor"],
    }
    variables = {
        "filter": {"operationName": name},
        "first": 2,
        "after": page["pageInfo"]["endCursor"],
    }
    rest = data_of(ask(AUDITOR, PAGE, variables).json())["auditLog"]
    assert rest["totalCount"] == 3
    assert len(rest["edges"]) == 1
    assert rest["pageInfo"]["hasNextPage"] is False
    assert rest["pageInfo"]["hasPreviousPage"] is True
    seen = [e["node"]["requestId"] for e in page["edges"] + rest["edges"]]
    assert len(set(seen)) == 3
    empty = data_of(ask(AUDITOR, PAGE, {"filter": {"operationName": marker()}}).json())
    assert empty["auditLog"] == {
        "totalCount": 0,
        "pageInfo": {
            "hasNextPage": False,
            "hasPreviousPage": False,
            "startCursor": None,
            "endCursor": None,
        },
        "edges": [],
    }


def test_decision_and_grant_filters_follow_a_grant_to_the_reads_it_allowed(
    ask: Callable[..., Any],
) -> None:
    name = marker()
    ask("housing-app", RESIDENTS.replace("NAME", name))  # ID numbers masked, by its grants
    ask(WORKER, RESIDENTS.replace("NAME", name))  # masked too, by the worker's role
    ask(WORKER, f'query {name} {{ grid(code: "440306001001001") {{ name }} }}')  # all allowed
    everything = log(ask, operationName=name)
    assert len(everything) == 3
    masked = log(ask, operationName=name, decision="MASK")
    assert sorted(e["subject"] for e in masked) == ["housing-app", WORKER]
    assert all(any(read["decision"] == "MASK" for read in entry["reads"]) for entry in masked)
    allowed_only = [
        e for e in everything if all(read["decision"] == "ALLOW" for read in e["reads"])
    ]
    assert len(allowed_only) == 1
    assert log(ask, operationName=name, decision="DENY") == []
    # One field with one decision: the worker's ID numbers were masked, its names allowed.
    assert len(log(ask, operationName=name, field="idNumber", decision="MASK")) == 2
    assert log(ask, operationName=name, field="idNumber", decision="ALLOW") == []

    housing = next(e for e in everything if e["subject"] == "housing-app")
    grants = [g for g in housing["grantIds"] if g.startswith("grant:")]
    assert grants
    for grant in grants:
        found = log(ask, operationName=name, grantId=grant)
        assert [e["requestId"] for e in found] == [housing["requestId"]]
        bare = grant.split(":", 1)[1]
        assert [e["requestId"] for e in log(ask, operationName=name, grantId=bare)] == [
            housing["requestId"]
        ]
    worker = next(e for e in everything if e["subject"] == WORKER)
    rule = next(g for g in worker["grantIds"] if not g.startswith("grant:"))
    assert worker["requestId"] in [e["requestId"] for e in log(ask, grantId=rule)]
    assert housing["requestId"] not in [e["requestId"] for e in log(ask, grantId=rule)]
    assert log(ask, operationName=name, grantId="grant:999999") == []
