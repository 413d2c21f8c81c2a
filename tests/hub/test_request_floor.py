"""What a request costs the database besides its answer's statements, on PostgreSQL: nothing.

Every round trip to the server is a switch to its process and back, which on a busy machine
costs more than the small statements of a grid worker's screen. So a query's connection is
checked out without a ping (unless it sat idle in the pool), runs its statements in autocommit
(no BEGIN, no ROLLBACK), and a request whose plan is cached and whose answer reads nothing
takes no connection at all. Connections the server ended are still never handed out.

The hub runs in process (``TestClient``), with real tokens and the real audit writer; simple
protocol commands (BEGIN, ROLLBACK, the hub's ping) are counted where asyncpg sends them, the
answer's statements where SQLAlchemy runs them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

import asyncpg
import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.testclient import TestClient

import store.engine
from hub.app import create_app
from hub.services import services
from hub.settings import Settings
from tests.hub.test_faults import terminate_backends

WORKER = "worker-440306001001001"
HOUSE = {
    "query": 'query H { house(code: "4403060010010010001") { code address } '
    'grid(code: "440306001001001") { code } }'
}
TRIVIAL = {"query": "query T { __typename }"}
#: The search-index statement the audit writer's indexer runs after each entry, off the
#: request's path (audit.indexer).
INDEX = "WITH run AS"


class Wire:
    """What the hub sends PostgreSQL while switched on: simple-protocol commands and the
    statements SQLAlchemy runs, with the task that ran each checkout."""

    def __init__(self, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch) -> None:
        self.simple: list[str] = []
        self.statements: list[str] = []
        self.checkouts: list[str] = []
        self.on = False
        execute = asyncpg.connection.Connection.execute
        wire = self

        async def counted(self: Any, query: str, *args: Any, **kwargs: Any) -> Any:
            if wire.on:
                wire.simple.append(query.strip())
            return await execute(self, query, *args, **kwargs)

        monkeypatch.setattr(asyncpg.connection.Connection, "execute", counted)
        event.listen(engine.sync_engine, "before_cursor_execute", self._statement)
        event.listen(engine.sync_engine, "checkout", self._checkout)

    def _statement(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if self.on and not statement.startswith(INDEX):
            self.statements.append(statement)

    def _checkout(self, *_: Any) -> None:
        if self.on:
            task = asyncio.current_task()
            self.checkouts.append(task.get_name() if task is not None else "")


@pytest.fixture
def hub(
    settings: Settings, token_for: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[TestClient, Wire, dict[str, str]]]:
    if not settings.database_url.startswith("postgresql"):
        pytest.skip("round trips to a PostgreSQL server (SQLite runs in the process)")
    quiet = settings.model_copy(update={"rate_limits": False})
    headers = {"authorization": f"Bearer {token_for(WORKER)}"}
    with TestClient(create_app(quiet)) as client:
        wire = Wire(services(client.app).engine, monkeypatch)
        for query in (HOUSE, TRIVIAL):  # the principal kept, the plan cached, statements prepared
            assert "errors" not in client.post("/graphql", json=query, headers=headers).json()
        yield client, wire, headers


def ask(client: TestClient, headers: dict[str, str], query: dict[str, str]) -> dict[str, Any]:
    response = client.post("/graphql", json=query, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert "errors" not in body, body
    return body


def test_a_query_sends_its_statements_and_nothing_else(
    hub: tuple[TestClient, Wire, dict[str, str]],
) -> None:
    client, wire, headers = hub
    wire.on = True
    for _ in range(3):
        body = ask(client, headers, HOUSE)
        assert body["data"]["house"]["code"] == "4403060010010010001"
    wire.on = False
    assert wire.simple == []  # no BEGIN, no ROLLBACK, no ping
    statements_per_request = len(wire.statements) / 3
    assert statements_per_request == 2, wire.statements  # one per root field: house, grid


def test_a_request_that_reads_nothing_takes_no_connection(
    hub: tuple[TestClient, Wire, dict[str, str]],
) -> None:
    client, wire, headers = hub
    wire.on = True
    for _ in range(3):
        assert ask(client, headers, TRIVIAL) == {"data": {"__typename": "Query"}}
    wire.on = False
    assert wire.statements == []
    # The audit index's task takes one after each entry, off the request's path; nothing else.
    assert all(name.startswith("audit-index-") for name in wire.checkouts), wire.checkouts


def test_a_connection_the_server_ended_is_not_handed_out(
    hub: tuple[TestClient, Wire, dict[str, str]], database_url: str
) -> None:
    """``pg_terminate_backend`` on every pooled connection (as a restarting server does): the
    next requests get new connections and their answers, not SERVICE_UNAVAILABLE."""
    client, _, headers = hub
    asyncio.run(terminate_backends(database_url))
    time.sleep(0.5)  # the hub's loop reads the server's goodbye
    for _ in range(3):
        assert ask(client, headers, HOUSE)["data"]["house"]["code"] == "4403060010010010001"


def test_a_connection_idle_in_the_pool_is_pinged_once(
    hub: tuple[TestClient, Wire, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past :data:`store.engine.PING_AFTER_IDLE` a pooled connection is pinged before use, with
    one simple command: a silent network cut is found there, not in the request's statement."""
    client, wire, headers = hub
    monkeypatch.setattr(store.engine, "PING_AFTER_IDLE", -1.0)
    wire.on = True
    ask(client, headers, HOUSE)
    wire.on = False
    assert store.engine.PING in wire.simple
    assert set(wire.simple) == {store.engine.PING}  # alone: no BEGIN and ROLLBACK around it
    assert len(wire.simple) == len(wire.checkouts)


# -- SQLite: the embedded default -----------------------------------------------------------------
#
# SQLite runs in the process, on a thread of aiosqlite's: a statement costs no round trip but a
# switch to that thread and back (one per statement, ``store.sqlite_driver``), and a request's
# audit entry is committed on the same database before its answer leaves. What a request costs
# there besides its answer is counted in statements and switches: the principal's row, and the
# entry's transaction (the entry, the fields it read if any, the chain's search-index mark, the
# commit).

MATCH = (
    "query M($text: String!) { matchAddress(text: $text) { accepted method "
    "candidates { confidence standardAddress house { code } room { code } } } }"
)
_KINDS = {
    "SELECT principals.kind": "principal",
    "INSERT INTO audit_entries": "entry",
    "INSERT INTO audit_person_reads": "people",
    "INSERT INTO audit_field_reads": "fields",
    "INSERT INTO audit_index_marks": "mark",
    "SELECT grids.code": "grids",
    "SELECT addresses.house_code": "alias",
    "SELECT houses.code": "houses",
    "SELECT rooms.code": "rooms",
}


class Embedded:
    """The hub on SQLite, with the statements it runs and its switches to SQLite's thread
    while :meth:`counting`."""

    def __init__(self, client: TestClient, headers: dict[str, str]) -> None:
        self.client = client
        self.headers = headers
        self.statements: list[str] = []
        self.hops: list[str] = []
        self.on = False
        #: ``matchAddress`` of the house's address.
        self.match: dict[str, Any] = {}

    def statement(self, _conn: Any, _cursor: Any, text: str, *_: Any) -> None:
        if self.on:
            self.statements.append(text)

    def kinds(self) -> list[str]:
        return [
            next((kind for prefix, kind in _KINDS.items() if s.startswith(prefix)), s[:60])
            for s in self.statements
        ]

    def ask(self, query: dict[str, Any]) -> dict[str, Any]:
        """``query`` once, counted alone (its entry is committed when the answer is back)."""
        self.statements.clear()
        self.hops.clear()
        self.on = True
        try:
            return ask(self.client, self.headers, query)
        finally:
            self.on = False


@pytest.fixture
def embedded(
    settings: Settings, token_for: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Embedded]:
    if settings.database_url.startswith("postgresql"):
        pytest.skip("statements on SQLite, in the process")
    import aiosqlite

    quiet = settings.model_copy(update={"rate_limits": False})
    execute = aiosqlite.Connection._execute
    with TestClient(create_app(quiet)) as client:
        floor = Embedded(client, {"authorization": f"Bearer {token_for(WORKER)}"})

        async def counted(connection: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
            if floor.on:
                floor.hops.append(getattr(fn, "__name__", ""))
            return await execute(connection, fn, *args, **kwargs)

        monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
        engine = services(client.app).engine.sync_engine
        event.listen(engine, "before_cursor_execute", floor.statement)
        address = floor.ask(HOUSE)["data"]["house"]["address"]
        floor.match = {"query": MATCH, "variables": {"text": address}}
        for query in (TRIVIAL, floor.match):  # principal kept, plan cached, matcher built
            floor.ask(query)
        yield floor
        event.remove(engine, "before_cursor_execute", floor.statement)


def test_on_sqlite_a_request_that_reads_nothing_costs_its_principal_and_its_entry(
    embedded: Embedded,
) -> None:
    for _ in range(3):
        assert embedded.ask(TRIVIAL) == {"data": {"__typename": "Query"}}
        # No index rows where the entry names no person and no field.
        assert embedded.kinds() == ["principal", "entry", "mark"]
        assert embedded.hops == ["_run"] * 3 + ["commit"]  # a switch per statement


def test_on_sqlite_a_query_adds_its_statements_and_the_fields_it_read(embedded: Embedded) -> None:
    for _ in range(3):
        body = embedded.ask(HOUSE)
        assert body["data"]["house"]["code"] == "4403060010010010001"
        assert embedded.kinds()[0] == "principal"
        assert embedded.kinds()[-3:] == ["entry", "fields", "mark"]
        assert len(embedded.statements) == 6  # and one per root field: house, grid
        assert embedded.hops == ["_run"] * 6 + ["commit"]


def test_on_sqlite_match_address_reads_the_alias_and_the_houses_and_no_grid(
    embedded: Embedded,
) -> None:
    """The caller's grids are kept with the plan after its first match: a match reads the
    taught aliases (another process may have taught one) and the candidates' houses."""
    for _ in range(3):
        body = embedded.ask(embedded.match)
        assert body["data"]["matchAddress"]["accepted"], body
        assert embedded.kinds() == ["principal", "alias", "houses", "entry", "fields", "mark"]
        assert embedded.hops == ["_run"] * 6 + ["commit"]
