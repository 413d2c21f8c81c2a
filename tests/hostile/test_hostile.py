"""Hostile requests against `gridhub serve` over real HTTP: each is answered with its code,
never a 5xx, never a stack trace; garbage of any shape too (hypothesis); and the server's log
holds none of the personal values the requests carried."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from hub.endpoints.graphql import HTTP_CODES
from hub.execution import (
    BAD_REQUEST,
    BAD_USER_INPUT,
    INTERNAL,
    INTROSPECTION_DISABLED,
    PARSE_FAILED,
    VALIDATION_FAILED,
)
from hub.limits import LIMIT_CODES
from hub.operations import PERSISTED_QUERY_NOT_ALLOWED, PERSISTED_QUERY_NOT_FOUND
from hub.settings import Settings
from tests.support import running

pytestmark = pytest.mark.e2e

WORKER = "worker-440306001001001"
#: Every code a client may see, as docs/app-developers.md lists them (but the server fault).
DOCUMENTED = {
    BAD_REQUEST,
    BAD_USER_INPUT,
    PARSE_FAILED,
    VALIDATION_FAILED,
    INTROSPECTION_DISABLED,
    PERSISTED_QUERY_NOT_ALLOWED,
    PERSISTED_QUERY_NOT_FOUND,
    "FORBIDDEN",
    "PURPOSE_REQUIRED",
    "UNAUTHENTICATED",
    *LIMIT_CODES,
    *HTTP_CODES,
}
assert INTERNAL not in DOCUMENTED


@pytest.fixture(scope="module")
def server(database_url: str, settings: Settings) -> Iterator[tuple[str, list[str]]]:
    """``gridhub serve`` in production mode (the default) on the session's database.

    Without rate limits: the suite sends thousands of requests as one person, and each must be
    answered for what it is, not with the 429 its budget would soon give (tests/test_rate_limit
    covers that)."""
    arguments = ["serve", "--database-url", database_url]
    environment = {"GRIDHUB_KEY_DIR": str(settings.key_dir), "GRIDHUB_RATE_LIMITS": "false"}
    with running(arguments, env=environment) as (base, output):
        yield base, output


@pytest.fixture(scope="module")
def http(server: tuple[str, list[str]], token_for: Callable[[str], str]) -> Iterator[httpx.Client]:
    base, _ = server
    headers = {"authorization": f"Bearer {token_for(WORKER)}"}
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        yield client


def answered_with_a_code(response: httpx.Response) -> list[str]:
    """The response is a clean answer: below 500, JSON, and every error with a documented
    code and no trace; its codes."""
    assert response.status_code < 500, response.text
    body = response.json()
    assert isinstance(body, dict)
    assert "data" in body or body.get("errors"), body
    codes = [error["extensions"]["code"] for error in body.get("errors", [])]
    assert set(codes) <= DOCUMENTED, codes
    assert "Traceback" not in response.text
    return codes


def _fragment_blow_up() -> str:
    levels = 6
    fragments = " ".join(
        f"fragment F{n} on Grid {{ a: children {{ ...F{n + 1} }} b: children {{ ...F{n + 1} }} }}"
        for n in range(levels)
    )
    return (
        '{ grid(code: "440306") { ...F0 } } '
        + fragments
        + f" fragment F{levels} on Grid {{ name }}"
    )


JSON_BODIES: dict[str, tuple[Any, int, str]] = {
    "deep nesting": (
        {"query": '{ grid(code: "440306") ' + "{ parent " * 30 + "{ name }" + " }" * 31},
        200,
        "QUERY_TOO_DEEP",
    ),
    "unclosed nesting": ({"query": "{" * 5000}, 200, "TOO_MANY_TOKENS"),
    "alias flood": (
        {"query": "{ " + " ".join(f"a{n}: me {{ subject }}" for n in range(100)) + " }"},
        200,
        "TOO_MANY_ALIASES",
    ),
    "fragment cycle": (
        {"query": '{ grid(code: "440306") { ...A } } fragment A on Grid { parent { ...A } }'},
        200,
        "GRAPHQL_VALIDATION_FAILED",
    ),
    "mutual fragment cycle": (
        {"query": "{ me { ...A } } fragment A on Me { ...B } fragment B on Me { ...A }"},
        200,
        "GRAPHQL_VALIDATION_FAILED",
    ),
    "fragment spread blow-up": ({"query": _fragment_blow_up()}, 200, "QUERY_TOO_COSTLY"),
    "huge first": (
        {"query": "{ houses(first: 2147483647) { edges { node { code } } } }"},
        200,
        "QUERY_TOO_COSTLY",
    ),
    "huge first in a variable": (
        {
            "query": "query($n: Int) { people(first: $n) { edges { node { name } } } }",
            "variables": {"n": 2_000_000_000},
        },
        200,
        "QUERY_TOO_COSTLY",
    ),
    "first beyond Int": (
        {"query": "{ houses(first: 99999999999) { totalCount } }"},
        200,
        "BAD_USER_INPUT",
    ),
    "integer beyond Int in a variable": (
        {"query": "query($n: Int) { houses(first: $n) { totalCount } }", "variables": {"n": 2**62}},
        200,
        "BAD_USER_INPUT",
    ),
    "oversized string in a variable": (
        {
            "query": "query($c: String!) { grid(code: $c) { name } }",
            "variables": {"c": "4" * 900_000},
        },
        200,
        "BAD_USER_INPUT",
    ),
    "oversized filter string": (
        {
            "query": "query($a: String) { houses(filter: {addressContains: $a}) { totalCount } }",
            "variables": {"a": "村" * 300_000},
        },
        200,
        "BAD_USER_INPUT",
    ),
    "oversized list in a variable": (
        {
            "query": 'query($g: [AuditGroup!]!) { auditStats(from: "2026-01-01T00:00:00Z", '
            'to: "2026-01-02T00:00:00Z", groupBy: $g) { count } }',
            "variables": {"g": ["NOT_A_GROUP"] * 50_000},
        },
        200,
        "BAD_USER_INPUT",
    ),
    "deeply nested variables": (
        {
            "query": "query($f: PersonFilter) { people(filter: $f) { totalCount } }",
            "variables": {"f": {"areaCode": [[[[[[[[[[[["1"]]]]]]]]]]]]}},
        },
        200,
        "BAD_USER_INPUT",
    ),
    "directive flood": (
        {"query": "{ me " + "@skip(if: false) " * 60 + "{ subject } }"},
        200,
        "TOO_MANY_DIRECTIVES",
    ),
    "unknown directive repeated": (
        {"query": "{ me " + "@x " * 10_000 + "{ subject } }"},
        200,
        "QUERY_TOO_LONG",
    ),
    "token flood": ({"query": "{ me { " + "subject " * 1100 + "} }"}, 200, "TOO_MANY_TOKENS"),
    "root field flood": (
        {"query": "{ " + " ".join(f"f{n}: __typename" for n in range(14)) + " }"},
        200,
        "TOO_MANY_ROOT_FIELDS",
    ),
    "batched array": ([{"query": "{ me { subject } }"}] * 50, 400, "BATCH_NOT_SUPPORTED"),
    "null byte in the query": ({"query": "{ me { subject } }\u0000"}, 400, "BAD_REQUEST"),
    "null byte in a variable": (
        {
            "query": "query($a: String) { houses(filter: {addressContains: $a}) { totalCount } }",
            "variables": {"a": "村\u0000"},
        },
        400,
        "BAD_REQUEST",
    ),
    "introspection": ({"query": "{ __schema { types { name } } }"}, 200, "INTROSPECTION_DISABLED"),
    "not an object": ("query", 400, "BAD_REQUEST"),
    "unknown operation name": (
        {"query": "query A { me { subject } }", "operationName": "B"},
        200,
        "BAD_REQUEST",
    ),
}


@pytest.mark.parametrize("name", sorted(JSON_BODIES))
def test_a_hostile_json_body_is_answered_with_its_code(http: httpx.Client, name: str) -> None:
    body, status, code = JSON_BODIES[name]
    response = http.post(
        "/graphql", content=orjson.dumps(body), headers={"content-type": "application/json"}
    )
    codes = answered_with_a_code(response)
    assert response.status_code == status
    if code:
        assert code in codes
    else:
        assert codes == []


RAW: dict[str, tuple[bytes, dict[str, str], int, str]] = {
    "invalid UTF-8": (b'{"query": "{ me { \xff } }"}', {}, 400, "BAD_REQUEST"),
    "a lone surrogate": (b'{"query": "\\udc00"}', {}, 400, "BAD_REQUEST"),
    "an integer past 64 bits": (
        b'{"query": "query($n: Int) { houses(first: $n) { totalCount } }", '
        b'"variables": {"n": 1180591620717411303424}}',
        {},
        200,
        "BAD_USER_INPUT",
    ),
    "not JSON": (b"{query: me}", {}, 400, "BAD_REQUEST"),
    "JSON nested past the parser": (b"[" * 5000 + b"]" * 5000, {}, 400, "BAD_REQUEST"),
    "text/plain": (
        b'{"query": "{ me { subject } }"}',
        {"content-type": "text/plain"},
        415,
        "UNSUPPORTED_MEDIA_TYPE",
    ),
    "a form": (
        b"query=%7B+me+%7B+subject+%7D+%7D",
        {"content-type": "application/x-www-form-urlencoded"},
        415,
        "UNSUPPORTED_MEDIA_TYPE",
    ),
    "multipart": (
        b"--x\r\n\r\n--x--",
        {"content-type": "multipart/form-data; boundary=x"},
        415,
        "UNSUPPORTED_MEDIA_TYPE",
    ),
    "latin-1": (
        b'{"query": "{ me { subject } }"}',
        {"content-type": "application/json; charset=iso-8859-1"},
        415,
        "UNSUPPORTED_MEDIA_TYPE",
    ),
    "too large": (b'{"query": "' + b" " * 2_000_000 + b'"}', {}, 413, "REQUEST_TOO_LARGE"),
    "nothing acceptable": (
        b'{"query": "{ me { subject } }"}',
        {"accept": "text/csv"},
        406,
        "NOT_ACCEPTABLE",
    ),
}


@pytest.mark.parametrize("name", sorted(RAW))
def test_a_hostile_raw_body_is_answered_with_its_code(http: httpx.Client, name: str) -> None:
    body, headers, status, code = RAW[name]
    response = http.post(
        "/graphql", content=body, headers={"content-type": "application/json", **headers}
    )
    assert response.status_code == status
    assert answered_with_a_code(response) == [code]


@pytest.mark.parametrize(
    "query",
    [
        'mutation { registerResource(input: {code: "x", name: "x"}) { code } }',
        "mutation M { __typename }",
        "query Q { me { subject } } mutation M { __typename }",
    ],
)
def test_a_mutation_over_get_is_refused(http: httpx.Client, query: str) -> None:
    params = {"query": query}
    if "Q" in query:
        params["operationName"] = "M"
    response = http.get("/graphql", params=params)
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert answered_with_a_code(response) == ["METHOD_NOT_ALLOWED"]


def test_a_null_byte_in_a_get_is_refused(http: httpx.Client) -> None:
    response = http.get("/graphql", params={"query": "{ me { subject } }\x00"})
    assert response.status_code == 400
    assert answered_with_a_code(response) == ["BAD_REQUEST"]


GRAPHQL_TOKENS = st.sampled_from(
    [
        "{",
        "}",
        "(",
        ")",
        "[",
        "]",
        ":",
        "...",
        "@",
        "$",
        "!",
        "=",
        "|",
        "&",
        " ",
        "\n",
        ",",
        '"',
        '"""',
        "#",
        "query",
        "mutation",
        "fragment",
        "on",
        "me",
        "grid",
        "houses",
        "first",
        "edges",
        "node",
        "code",
        "name",
        "__schema",
        "__typename",
        "1",
        "-1",
        "1e9",
        "true",
        "null",
        "x",
        "Grid",
        "\u0000",
        "\ufeff",
        "é",
        "\\u0000",
    ]
)
GARBAGE_DOCUMENTS = st.one_of(
    st.text(max_size=200), st.lists(GRAPHQL_TOKENS, max_size=120).map(" ".join)
)
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@hypothesis_settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    query=GARBAGE_DOCUMENTS,
    variables=st.one_of(st.none(), st.dictionaries(st.text(max_size=5), JSON_VALUES, max_size=3)),
)
def test_garbage_documents_are_answered_with_codes(
    http: httpx.Client, query: str, variables: dict[str, Any] | None
) -> None:
    response = http.post("/graphql", json={"query": query, "variables": variables})
    answered_with_a_code(response)


@hypothesis_settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    body=st.one_of(st.binary(max_size=300), JSON_VALUES.map(orjson.dumps)),
    content_type=st.sampled_from(
        [
            "application/json",
            "application/json; charset=utf-8",
            "text/plain",
            "",
            "application/graphql",
        ]
    ),
    accept=st.sampled_from(
        ["", "*/*", "application/graphql-response+json", "text/html", "application/json;q=0"]
    ),
)
def test_garbage_bodies_are_answered_with_codes(
    http: httpx.Client, body: bytes, content_type: str, accept: str
) -> None:
    headers = {"content-type": content_type, "accept": accept}
    response = http.post("/graphql", content=body, headers={k: v for k, v in headers.items() if v})
    answered_with_a_code(response)


def _entities_named(text: str) -> str:
    return f'{{ entities(filter: {{nameContains: "{text}"}}) {{ totalCount }} }}'


def test_the_servers_log_holds_no_personal_value(
    database_url: str, settings: Settings, token_for: Callable[[str], str], district: Any
) -> None:
    """The server's whole output (uvicorn's access log and the hub's), while requests carry
    real ID numbers and phones in variables and filters."""
    people = district.people[:3]
    secrets = [p["id_number"] for p in people] + [p["phone"] for p in people]
    arguments = ["serve", "--database-url", database_url]
    env = {"GRIDHUB_KEY_DIR": str(settings.key_dir)}
    with running(arguments, env=env) as (base, output):
        headers = {
            "authorization": f"Bearer {token_for('civil-affairs-app')}",
            "x-access-purpose": "elderly_care",
        }
        with httpx.Client(base_url=base, headers=headers) as client:
            for person in people:
                for query, variables in (
                    ("query ($c: String!) { grid(code: $c) { name } }", {"c": person["id_number"]}),
                    (
                        "query ($f: PersonFilter) { people(filter: $f) { totalCount } }",
                        {"f": {"houseCode": person["phone"], "employerCode": person["id_number"]}},
                    ),
                    (
                        _entities_named(person["phone"]),
                        None,
                    ),
                    (
                        "query ($n: Int) { houses(first: $n) { totalCount } }",
                        {"n": person["id_number"]},
                    ),
                ):
                    response = client.post(
                        "/graphql", json={"query": query, "variables": variables}
                    )
                    answered_with_a_code(response)
                get = client.get(
                    "/graphql",
                    params={
                        "query": "query ($c: String!) { grid(code: $c) { name } }",
                        "variables": orjson.dumps({"c": person["phone"]}).decode(),
                    },
                )
                answered_with_a_code(get)
    logged = output[0]
    assert "POST /graphql" in logged  # the access log is there
    assert [secret for secret in secrets if secret in logged] == []
