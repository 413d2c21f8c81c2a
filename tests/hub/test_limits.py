"""Limits: each hostile document is refused with its own code before any SQL statement or
resolver runs, cheaply, and with one audit entry; every example in the docs still passes."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import graphql
import orjson
import pytest
from graphql import get_introspection_query, parse
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

import hub.execution
from hub.app import create_app
from hub.execution import Executor
from hub.limits import LIMIT_CODES, Limits, scan
from hub.services import services
from hub.settings import Settings
from schema import build_schema
from tests.audit.test_request_entries import only_entry
from tests.conftest import StatementCounter
from tests.support import data_of, error_codes

WORKER = "worker-440306001001001"
SCHEMA = build_schema()


def _aliases(count: int) -> str:
    return "{ " + " ".join(f"a{n}: me {{ subject }}" for n in range(count)) + " }"


def _nested(levels: int) -> str:
    """``grid { parent { parent … { name } } }``: ``levels`` fields deep."""
    return (
        '{ grid(code: "440306001001001") '
        + "{ parent " * (levels - 2)
        + "{ name }"
        + (" }" * (levels - 2))
        + " }"
    )


#: A document breaking each limit, and the code it is answered with.
HOSTILE = {
    "QUERY_TOO_DEEP": _nested(11),
    "TOO_MANY_ALIASES": _aliases(16),
    "TOO_MANY_DIRECTIVES": "{ me " + "@unknown " * 51 + "{ subject } }",
    "TOO_MANY_TOKENS": "{ me { " + "subject " * 1000 + "} }",
    "QUERY_TOO_LONG": "{ me { subject } }" + " " * 10_000,
    "TOO_MANY_ROOT_FIELDS": "{ me { subject } "
    + " ".join(f"f{n}: departments {{ code }}" for n in range(10))
    + " }",
    "QUERY_TOO_COSTLY": "{ houses(first: 500) { edges { node { residents(first: 500) "
    "{ edges { node { name } } } } } } }",
}


class Resolvers:
    """Counts the resolvers the executor calls (a graphql-core middleware on every field)."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def resolve(self, next_: Any, root: Any, info: Any, **arguments: Any) -> Any:
        self.calls.append(info.field_name)
        return next_(root, info, **arguments)


@pytest.fixture(scope="module")
def resolvers() -> Iterator[Resolvers]:
    counter = Resolvers()
    real = hub.execution.execute

    def counting(*args: Any, **kwargs: Any) -> Any:
        return real(*args, **kwargs, middleware=[counter])

    hub.execution.execute = counting  # type: ignore[assignment]
    try:
        yield counter
    finally:
        hub.execution.execute = real


@pytest.fixture(scope="module")
def app_client(settings: Settings, token_for: Callable[[str], str]) -> Iterator[TestClient]:
    """A hub whose grant sweep ran its first round (at start) and waits an hour for the next:
    the statements counted are the requests'."""
    quiet = settings.model_copy(update={"grant_sweep_seconds": 3600.0})
    with TestClient(create_app(quiet)) as client:
        client.headers["authorization"] = f"Bearer {token_for(WORKER)}"
        assert client.post("/graphql", json={"query": "{ me { subject } }"}).status_code == 200
        time.sleep(0.3)
        yield client


@pytest.fixture(scope="module")
def app_statements(app_client: TestClient) -> StatementCounter:
    return StatementCounter(services(app_client.app).engine)


def _not_audit(statements: list[str]) -> list[str]:
    """The request's own statements: not the audit writer's, nor the event streams' change
    detector's (on SQLite it polls ``events.updated_at`` on the app's engine, whatever runs)."""
    return [s for s in statements if "audit" not in s.lower() and not _event_poll(s)]


def _event_poll(statement: str) -> bool:
    flat = " ".join(statement.split()).lower()
    return "from events" in flat and "updated_at >" in flat


@pytest.mark.parametrize("code", sorted(HOSTILE))
async def test_a_hostile_document_is_refused_before_anything_runs(
    app_client: TestClient,
    app_statements: StatementCounter,
    resolvers: Resolvers,
    engine: Any,
    code: str,
) -> None:
    resolvers.calls.clear()
    with app_statements:
        response = app_client.post("/graphql", json={"query": HOSTILE[code]})
    assert response.status_code == 200
    body = response.json()
    assert error_codes(body) == [code]
    assert "data" not in body
    assert body["errors"][0]["extensions"]["maximum"] > 0
    assert _not_audit(app_statements.statements) == []
    assert resolvers.calls == []
    entry = await only_entry(engine, response)  # the refusal itself is written
    assert (entry.outcome, entry.error_code, entry.subject) == ("error", code, WORKER)


def test_the_counters_do_count(
    app_client: TestClient, app_statements: StatementCounter, resolvers: Resolvers
) -> None:
    """The two counters above see a query that runs: their silence means something."""
    resolvers.calls.clear()
    with app_statements:
        response = app_client.post("/graphql", json={"query": _nested(10)})
    assert data_of(response.json())["grid"]["parent"] is not None
    assert _not_audit(app_statements.statements)
    assert "parent" in resolvers.calls


def test_a_huge_first_in_a_variable_is_refused_per_request(
    app_client: TestClient, app_statements: StatementCounter, resolvers: Resolvers
) -> None:
    query = "query($n: Int) { houses(first: $n) { edges { node { code } } } }"
    small = app_client.post("/graphql", json={"query": query, "variables": {"n": 2}})
    assert len(data_of(small.json())["houses"]["edges"]) == 2
    resolvers.calls.clear()
    with app_statements:
        huge = app_client.post("/graphql", json={"query": query, "variables": {"n": 2**31 - 1}})
    assert error_codes(huge.json()) == ["QUERY_TOO_COSTLY"]
    assert _not_audit(app_statements.statements) == []
    assert resolvers.calls == []


def test_a_directive_repeated_ten_thousand_times_is_one_error(settings: Settings) -> None:
    flood = "{ me " + "@unknown " * 10_000 + "{ subject } }"
    executor = Executor(SCHEMA, 0, Limits())
    assert [e["extensions"]["code"] for e in executor.prepare(flood).errors] == ["QUERY_TOO_LONG"]
    roomy = Limits(max_tokens=100_000, max_query_length=1_000_000)
    errors = Executor(SCHEMA, 0, roomy).prepare(flood).errors
    assert [e["extensions"]["code"] for e in errors] == ["TOO_MANY_DIRECTIVES"]
    # With every limit out of the way, validation still stops after a few errors.
    unlimited = Limits(max_tokens=100_000, max_query_length=1_000_000, max_directives=100_000)
    errors = Executor(SCHEMA, 0, unlimited).prepare(flood).errors
    assert len(errors) <= hub.execution.MAX_VALIDATION_ERRORS + 1
    # graphql-core alone answers one error per repetition, up to its own cap of 100.
    assert len(graphql.validate(SCHEMA._schema, parse(flood))) > 100


def test_fragments_count_where_they_are_spread() -> None:
    executor = Executor(SCHEMA, 0)
    deep = (
        '{ grid(code: "440306") { ...A } } fragment A on Grid { parent { ...B } } '
        "fragment B on Grid { parent { parent { parent { parent { parent { parent { parent "
        "{ parent { name } } } } } } } } }"
    )
    assert [e["extensions"]["code"] for e in executor.prepare(deep).errors] == ["QUERY_TOO_DEEP"]
    cycle = '{ grid(code: "440306") { ...A } } fragment A on Grid { parent { ...A } }'
    assert [e["extensions"]["code"] for e in executor.prepare(cycle).errors] == [
        "GRAPHQL_VALIDATION_FAILED"
    ]
    chain = (
        "{ ...F0 } "
        + " ".join(f"fragment F{n} on Query {{ ...F{n + 1} }}" for n in range(150))
        + " fragment F150 on Query { me { subject } }"
    )
    roomy = Executor(SCHEMA, 0, Limits(max_tokens=5000, max_query_length=100_000))
    assert [e["extensions"]["code"] for e in roomy.prepare(chain).errors] == ["QUERY_TOO_DEEP"]


@pytest.mark.serial
def test_a_spread_blow_up_is_costly_not_slow() -> None:
    """Each fragment spreads the next twice under two aliases: 2^14 grids from 28 aliases."""
    fragments = " ".join(
        f"fragment F{n} on Grid {{ a: parent {{ ...F{n + 1} }} b: parent {{ ...F{n + 1} }} }}"
        for n in range(14)
    )
    query = '{ grid(code: "440306001001001") { ...F0 } } ' + fragments
    query += " fragment F14 on Grid { name }"
    roomy = Executor(SCHEMA, 0, Limits(max_aliases=100, max_depth=64))
    started = time.perf_counter()
    errors = roomy.prepare(query).errors
    assert [e["extensions"]["code"] for e in errors] == ["QUERY_TOO_COSTLY"]
    assert time.perf_counter() - started < 0.1  # each fragment is costed once, not 2^14 times


def test_introspection_fits_the_limits() -> None:
    """GraphiQL's own introspection query runs in development mode."""
    prepared = Executor(SCHEMA, 0).prepare(get_introspection_query(descriptions=True))
    assert prepared.errors == ()
    assert prepared.cost_refusal(None, None) is None


@pytest.mark.serial
@pytest.mark.parametrize("code", sorted(HOSTILE))
def test_a_refusal_costs_under_a_millisecond(code: str) -> None:
    """The check itself, on a document the cache has not seen: the scan before parsing for most
    limits; for root fields and cost the parse (graphql-core's, some 20 µs a token) and the
    check after, before validation."""
    executor = Executor(SCHEMA, 0)
    query = HOSTILE[code]
    started = time.perf_counter()
    for _ in range(20):
        assert executor.prepare(query).errors[0]["extensions"]["code"] == code
    per_refusal = (time.perf_counter() - started) / 20
    # Measured at 0.01–0.4 ms; the bound leaves room for a loaded CI machine.
    assert per_refusal < 0.005, f"{code}: {per_refusal * 1000:.2f} ms"


@hypothesis_settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_the_scan_never_fails_on_any_text(text: str) -> None:
    error = scan(text, Limits())
    assert error is None or error.extensions["code"] in LIMIT_CODES | {"BAD_USER_INPUT"}


BRACKETS = st.sampled_from(["{", "}", "[", "]", "(", ")", "a", " ", '"', "#", "\n", ":", "@"])


@hypothesis_settings(max_examples=300, deadline=None)
@given(st.lists(BRACKETS, max_size=400).map("".join))
def test_whatever_passes_the_scan_parses_without_exhausting_recursion(text: str) -> None:
    """The scan is what keeps the parser's recursion bounded: whatever it lets through parses
    or fails with a syntax error, never a RecursionError."""
    limits = Limits(max_depth=10, max_tokens=1000)
    if scan(text, limits) is None:
        try:
            parse(text)
        except graphql.GraphQLError:
            pass


NAMES = st.sampled_from(["a", "b", "node", "edges"])
VALUES = st.recursive(
    st.sampled_from(["1", "-2.5e3", "true", "null", "ENUM", "$v"])
    | st.text(alphabet='{}[]():@#.a "\\', max_size=8).map(lambda text: orjson.dumps(text).decode()),
    lambda inner: (
        st.lists(inner, max_size=3).map(lambda items: "[" + " ".join(items) + "]")
        | st.lists(st.tuples(NAMES, inner), max_size=3).map(
            lambda pairs: "{" + ", ".join(f"{k}: {v}" for k, v in pairs) + "}"
        )
    ),
    max_leaves=6,
)


def _selections(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    field = st.tuples(
        st.sampled_from(["", "x: ", "y : "]),
        NAMES,
        st.sampled_from(["", "(k: {})"]).flatmap(
            lambda form: VALUES.map(form.format) if form else st.just("")
        ),
        st.sampled_from(["", " @skip(if: false)", ' @include(if: true) @d(s: "@")']),
        st.one_of(st.just(""), children.map(lambda inner: " { " + inner + " }")),
    ).map("".join)
    fragment = children.map(lambda inner: "... on T { " + inner + " }")
    return st.lists(st.one_of(field, fragment), min_size=1, max_size=3).map(" ".join)


DOCUMENTS = st.recursive(NAMES, _selections, max_leaves=12).map(
    lambda inner: "# a comment with { and : and @\nquery Q($v: Int = 1) { " + inner + " }"
)


@hypothesis_settings(max_examples=300, deadline=None)
@given(DOCUMENTS)
def test_the_scan_counts_what_the_parser_finds(text: str) -> None:
    """The scan runs before parsing, on the text: what it refuses, the parsed document breaks,
    and what the parsed document breaks in aliases or directives, the scan refuses."""
    from graphql import DirectiveNode, FieldNode, Visitor, visit

    from hub.limits import _Depth

    document = parse(text)
    aliases = directives = 0

    class Count(Visitor):
        def enter_field(self, node: FieldNode, *_: Any) -> None:
            nonlocal aliases
            aliases += node.alias is not None

        def enter_directive(self, node: DirectiveNode, *_: Any) -> None:
            nonlocal directives
            directives += 1

    visit(document, Count())
    limits = Limits(max_depth=3, max_aliases=2, max_directives=2)
    operation = document.definitions[0]
    depth = _Depth({}, Limits(max_depth=64)).of(operation.selection_set, 0)  # type: ignore[attr-defined]
    refused = scan(text, limits)
    code = refused.extensions["code"] if refused is not None else None  # type: ignore[index]
    if directives > 2:
        assert code == "TOO_MANY_DIRECTIVES"
    elif aliases > 2:
        assert code == "TOO_MANY_ALIASES"
    elif depth > 3 and "..." not in text:
        assert code == "QUERY_TOO_DEEP"
    elif code == "QUERY_TOO_DEEP":
        assert depth > 3
    else:
        assert code is None
