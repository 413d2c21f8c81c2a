"""Every answer of /graphql leaves exactly one audit entry, with the right content, committed
before the response left; when the entry can not be committed, no data leaves."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.testclient import TestClient

from demo import District
from hub.app import create_app
from hub.services import services
from hub.settings import Settings
from resolvers.context import RequestContext
from resolvers.ids import from_global_id
from store.engine import create_engine
from store.models import AuditEntry
from tests.support import data_of, nodes

WORKER = "worker-440306001001001"
STREET = "street-440306001"


@pytest.fixture(scope="module")
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


async def entries_of(engine: AsyncEngine, request_id: str) -> list[Any]:
    async with engine.connect() as connection:
        return list(
            (
                await connection.execute(
                    select(AuditEntry).where(AuditEntry.request_id == request_id)
                )
            ).all()
        )


async def only_entry(engine: AsyncEngine, response: Any) -> Any:
    request_id = response.headers["x-request-id"]
    found = await entries_of(engine, request_id)
    assert len(found) == 1, found
    return found[0]


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


async def test_a_query_records_who_what_and_which_people(
    client: TestClient, engine: AsyncEngine, token_for: Callable[[str], str], district: District
) -> None:
    query = """query Residents($code: String!) { grid(code: $code) { houses(first: 3) {
        edges { node { address residents(first: 10) { edges { node { id name idNumber } } } } }
    } } }"""
    response = client.post(
        "/graphql",
        json={"query": query, "variables": {"code": "440306001001001"}},
        headers=bearer(token_for(WORKER)),
    )
    people = [
        from_global_id(person["id"])[1]
        for house in nodes(data_of(response.json())["grid"]["houses"])
        for person in nodes(house["residents"])
    ]
    entry = await only_entry(engine, response)
    assert entry.subject == WORKER
    assert entry.principal_kind == "person"
    assert entry.department_code == "grid_office"
    assert "grid_worker" in entry.roles
    assert entry.operation_name == "Residents"
    assert entry.operation_type == "query"
    assert entry.variables == {"code": "440306001001001"}
    assert len(entry.query_hash) == 64
    assert set(entry.person_ids) == {str(p) for p in people}
    assert entry.row_counts["Person"] == len(people)
    reads = {(r["type"], r["field"]): r["decision"] for r in entry.reads}
    assert reads[("Person", "name")] == "ALLOW"
    assert reads[("Person", "idNumber")] == "MASK"
    assert entry.outcome == "partial"  # the ID numbers were masked
    assert entry.grant_ids
    # Sensitive values themselves never go into the log.
    text = str(entry._mapping)
    numbers = {p["id"]: p["id_number"] for p in district.people}
    assert not any(numbers[p] in text or numbers[p][-4:] + "'" in text for p in people)


async def test_a_refused_filter_is_denied_and_its_sensitive_variables_redacted(
    client: TestClient, engine: AsyncEngine, token_for: Callable[[str], str]
) -> None:
    query = """query Born($f: PersonFilter) { people(first: 5, filter: $f) { totalCount } }"""
    variables = {"f": {"bornFrom": "1950-01-01", "areaCode": "440306001001001"}}
    response = client.post(
        "/graphql", json={"query": query, "variables": variables}, headers=bearer(token_for(WORKER))
    )
    assert response.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    entry = await only_entry(engine, response)
    assert entry.outcome == "denied"
    assert entry.error_code == "FORBIDDEN"
    assert entry.variables == {"f": {"bornFrom": "[redacted]", "areaCode": "440306001001001"}}


async def test_a_bad_token_leaves_a_denied_entry(client: TestClient, engine: AsyncEngine) -> None:
    response = client.post(
        "/graphql", json={"query": "{ me { subject } }"}, headers=bearer("not.a.token")
    )
    assert response.status_code == 401
    entry = await only_entry(engine, response)
    assert (entry.outcome, entry.error_code, entry.subject) == ("denied", "UNAUTHENTICATED", None)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{not json", "BAD_REQUEST"),
        (b'{"query": "{ me { subject "}', "GRAPHQL_PARSE_FAILED"),
        (b'{"query": "{ nothing }"}', "GRAPHQL_VALIDATION_FAILED"),
    ],
)
async def test_a_malformed_request_leaves_an_error_entry(
    client: TestClient,
    engine: AsyncEngine,
    token_for: Callable[[str], str],
    body: bytes,
    code: str,
) -> None:
    response = client.post(
        "/graphql",
        content=body,
        headers={"content-type": "application/json", **bearer(token_for(STREET))},
    )
    entry = await only_entry(engine, response)
    assert (entry.outcome, entry.error_code, entry.subject) == ("error", code, STREET)


async def test_the_auditor_reading_nothing_is_recorded_too(
    client: TestClient, engine: AsyncEngine, token_for: Callable[[str], str]
) -> None:
    response = client.post(
        "/graphql",
        json={"query": '{ grid(code: "440306") { name } }'},
        headers=bearer(token_for("auditor-01")),
    )
    assert data_of(response.json()) == {"grid": None}
    entry = await only_entry(engine, response)
    assert entry.subject == "auditor-01"
    assert "auditor" in entry.roles


def test_no_data_leaves_when_the_entry_can_not_be_committed(
    settings: Settings, token_for: Callable[[str], str], tmp_path: Any
) -> None:
    """The audit database goes away mid-flight: the client gets AUDIT_UNAVAILABLE, no data."""
    with TestClient(create_app(settings)) as client:
        headers = bearer(token_for(WORKER))
        query = {"query": "{ people(first: 3) { edges { node { name } } } }"}
        assert client.post("/graphql", json=query, headers=headers).status_code == 200
        writer = services(client.app).audit_writer
        broken = create_engine(
            settings.model_copy(
                update={"database_url": f"sqlite+aiosqlite:///{tmp_path}/missing/audit.db"}
            )
        )
        working, writer._engine = writer._engine, broken
        try:
            response = client.post("/graphql", json=query, headers=headers)
        finally:
            writer._engine = working
        assert response.status_code == 503
        assert response.json() == {
            "errors": [
                {
                    "message": "The audit log is unavailable; the request was not answered.",
                    "extensions": {"code": "AUDIT_UNAVAILABLE"},
                }
            ]
        }
        # Once the database is back, requests are answered (and recorded) again.
        assert client.post("/graphql", json=query, headers=headers).status_code == 200


def test_an_answer_stands_when_its_connection_can_not_be_released_afterwards(
    settings: Settings, token_for: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The entry of a complete answer is handed to the writer before the request's connection
    goes back; if giving it back then fails (the database went away after the last read),
    the answer and its entry stand, and the client gets both."""
    failed: list[str] = []
    close = RequestContext.close

    async def close_then_fail(self: RequestContext) -> None:
        await close(self)
        failed.append("close")
        raise ConnectionResetError("connection lost while releasing it (simulated)")

    with TestClient(create_app(settings)) as client:
        monkeypatch.setattr(RequestContext, "close", close_then_fail)
        query = {"query": "{ people(first: 3) { edges { node { id name } } } }"}
        response = client.post("/graphql", json=query, headers=bearer(token_for(WORKER)))
        monkeypatch.undo()
        assert failed == ["close"]
        assert response.status_code == 200
        people = nodes(data_of(response.json())["people"])
        assert len(people) == 3
        engine = services(client.app).engine
        entry = client.portal.call(only_entry, engine, response)  # type: ignore[union-attr]
    assert (entry.outcome, entry.error_code) == ("ok", None)
    assert set(entry.person_ids) == {str(from_global_id(p["id"])[1]) for p in people}


async def test_a_token_request_is_audited_and_a_failed_login_names_the_client_tried(
    client: TestClient, engine: AsyncEngine, demo_clients: dict[str, Any]
) -> None:
    app = demo_clients["housing-app"]
    issued = client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": app.client_id,
            "client_secret": app.client_secret,
        },
    )
    assert issued.status_code == 200
    entry = await only_entry(engine, issued)
    assert (entry.operation_type, entry.outcome, entry.error_code) == ("token", "ok", None)
    assert (entry.subject, entry.principal_kind) == ("housing-app", "client")
    assert (entry.client_id, entry.department_code) == (app.client_id, "housing")
    assert issued.json()["access_token"] not in str(entry._mapping)

    wrong = "not-the-secret-" + app.client_secret[:8]
    refused = client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": app.client_id,
            "client_secret": wrong,
        },
    )
    assert refused.status_code == 401
    entry = await only_entry(engine, refused)
    assert (entry.outcome, entry.error_code, entry.subject) == ("denied", "INVALID_CLIENT", None)
    assert entry.client_id == app.client_id
    assert wrong not in str(entry._mapping)

    malformed = client.post("/oauth/token", data={"grant_type": "password"})
    entry = await only_entry(engine, malformed)
    assert (entry.outcome, entry.error_code) == ("error", "UNSUPPORTED_GRANT_TYPE")
