"""Production mode: introspection off but for named roles, no GraphiQL, and error messages that
name nothing the caller did not write — checked by running a schema-recovery tool against it —
and logs that never hold the personal values a request carried."""

from __future__ import annotations

import itertools
import logging
import re
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLObjectType,
    GraphQLSchema,
    is_introspection_type,
)
from starlette.testclient import TestClient

from demo import District
from hub.app import create_app
from hub.settings import Settings
from schema import build_schema
from tests.audit.test_request_entries import only_entry
from tests.support import data_of, error_codes

WORKER = "worker-440306001001001"
SCHEMA: GraphQLSchema = build_schema()._schema


def _client(settings: Settings, token: str, **update: Any) -> TestClient:
    """An app for one person's probes: hundreds of them, each to be answered for what it is
    rather than with the 429 a real budget would soon give (tests/test_rate_limit.py)."""
    client = TestClient(create_app(settings.model_copy(update={"rate_limits": False, **update})))
    client.headers["authorization"] = f"Bearer {token}"
    return client


@pytest.fixture(scope="module")
def production(settings: Settings, token_for: Callable[[str], str]) -> Iterator[TestClient]:
    assert settings.mode == "production"  # the default
    with _client(settings, token_for(WORKER)) as client:
        yield client


@pytest.fixture(scope="module")
def development(settings: Settings, token_for: Callable[[str], str]) -> Iterator[TestClient]:
    with _client(settings, token_for(WORKER), mode="development") as client:
        yield client


# --- a schema-recovery tool -------------------------------------------------------------


def schema_names() -> set[str]:
    """Every name the schema holds: types, fields, arguments, input fields, enum values."""
    names: set[str] = set()
    for name, type_ in SCHEMA.type_map.items():
        if is_introspection_type(type_) or name.startswith("__"):
            continue
        names.add(name)
        if isinstance(type_, GraphQLObjectType):
            for field_name, field in type_.fields.items():
                names.add(field_name)
                names.update(field.args)
        elif isinstance(type_, GraphQLInputObjectType):
            names.update(type_.fields)
        elif isinstance(type_, GraphQLEnumType):
            names.update(type_.values)
    return names


NAMES = schema_names()


def near_misses(word: str) -> list[str]:
    """What a word list holds besides the real names: typos a tool hopes are corrected."""
    return [word[:-1], word[0].swapcase() + word[1:]]


#: The tool's word list: real names of every kind, and their near misses.
REAL = sorted(
    {"grid", "people", "areaCode", "minAge", "careTag", "Grid", "Person", "PersonFilter"}
    | {"MALE", "ELDERLY_80", "idNumber", "auditLog", "first", "birthDate", "Gender", "residents"}
)
WORDS = sorted({*REAL, *itertools.chain.from_iterable(near_misses(w) for w in REAL)} - {""})


def probes(word: str) -> list[tuple[str, dict[str, Any] | None]]:
    """The requests such a tool sends for one word (Clairvoyance's kinds of probe)."""
    return [
        (f"query {{ {word} }}", None),  # a root field
        (f"query {{ {word} {{ code }} }}", None),
        (f'query {{ grid(code: "440306") {{ {word} }} }}', None),  # a field of a type
        (f'query {{ grid({word}: "440306") {{ name }} }}', None),  # an argument
        (f"query {{ people(filter: {{{word}: 1}}) {{ totalCount }} }}", None),  # input field
        (f"query {{ people(filter: {{gender: {word}}}) {{ totalCount }} }}", None),  # enum value
        (f"query ($v: {word}) {{ me {{ subject }} }}", None),  # a type name
        (f'query {{ grid(code: "440306") {{ ... on {word} {{ code }} }} }}', None),
        (
            "query ($f: PersonFilter) { people(filter: $f) { totalCount } }",
            {"f": {word: 1}},
        ),  # an input field, through a variable
        ("query ($g: Gender) { people(filter: {gender: $g}) { totalCount } }", {"g": word}),
    ]


FIXED_PROBES: list[tuple[str, dict[str, Any] | None]] = [
    ('{ grid(code: "440306") }', None),  # a missing selection names the type
    ("{ grid { name } }", None),  # a missing argument names it and its type
    ("{ grid(code: 440306) { name } }", None),  # a wrong value names the type
    ("query ($n: Int) { grid(code: $n) { name } }", None),  # a variable in the wrong place
    ('{ grid(code: "440306") { name } grid(code: "1") { code } }', None),  # a conflict
    ('{ people(filter: {minAge: "old"}) { totalCount } }', None),
    ("mutation { requestAccess { id } }", None),  # a required input
    ("query ($i: RequestAccessInput!) { me { subject } }", None),
    (
        "mutation ($i: RequestAccessInput!) { requestAccess(input: $i) { id } }",
        {"i": {}},
    ),  # an input object missing its required fields
    ('{ grid(code: "440306") { ...F } } fragment F on Person { name }', None),
    ('{ __type(name: "Grid") { fields { name } } }', None),
    ("{ __schema { types { name } } }", None),
]


def revealed(response: dict[str, Any], probe: str) -> set[str]:
    """Schema names in the response's errors that the probe did not contain: any name in
    quotes (where messages put them), and anywhere a name no English word looks like (one
    with a capital after its first letter or an underscore: `PersonFilter`, `areaCode`,
    `ELDERLY_80`, `Grid`); plain words (`value`, `name`) are prose outside quotes."""
    messages = " ".join(str(e.get("message")) for e in response.get("errors", []))
    quoted = {
        name.lstrip("$@")
        for pair in re.findall(r"'([^']*)'|\"([^\"]*)\"", messages)
        for name in pair
        if name
    }
    words = set(re.findall(r"[_A-Za-z][_0-9A-Za-z]*", messages))
    distinctive = {w for w in words if re.search(r"[A-Z_]", w[1:]) or w[:1].isupper()}
    sentence_words = {w for w in distinctive if w in {"Cannot", "Field", "Unknown"}}
    candidates = (quoted | distinctive) - sentence_words
    return {name for name in candidates & NAMES if name not in probe}


def run_tool(client: TestClient) -> dict[str, set[str]]:
    """Send every probe; what each one revealed, by probe (empty when nothing was)."""
    found: dict[str, set[str]] = {}
    requests = [p for word in WORDS for p in probes(word)] + FIXED_PROBES
    for query, variables in requests:
        response = client.post("/graphql", json={"query": query, "variables": variables})
        assert response.status_code == 200, response.text
        body = response.json()  # a right guess answers data: that it may learn
        assert all(e["extensions"]["code"] for e in body.get("errors", []))
        sent = query + orjson.dumps(variables).decode()
        leaked = revealed(body, sent)
        if leaked or "did you mean" in response.text.lower():
            found[sent] = leaked | (
                {"did you mean"} if "did you mean" in response.text.lower() else set()
            )
    return found


def test_the_tool_recovers_names_in_development_mode(development: TestClient) -> None:
    """The tool works: against development mode's messages it learns the schema."""
    found = run_tool(development)
    learned = set().union(*found.values())
    assert {"Grid", "String", "PersonFilter", "Gender"} <= learned
    assert len(found) > 50


def test_the_tool_recovers_nothing_in_production_mode(production: TestClient) -> None:
    assert run_tool(production) == {}


def test_masked_messages_keep_their_codes_and_locations(production: TestClient) -> None:
    body = production.post(
        "/graphql", json={"query": '{\n  grid(code: "440306") { name population }\n}'}
    ).json()
    assert body["errors"] == [
        {
            "message": "Cannot query field 'population' here.",
            "locations": [{"line": 2, "column": 31}],
            "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"},
        }
    ]
    enum = production.post(
        "/graphql", json={"query": "{ people(filter: {gender: MALEE}) { totalCount } }"}
    ).json()
    assert error_codes(enum) == ["BAD_USER_INPUT"]
    assert "MALE" not in enum["errors"][0]["message"].replace("MALEE", "")


def test_limit_refusals_keep_their_codes_in_production_mode(production: TestClient) -> None:
    query = "{ " + " ".join(f"a{n}: me {{ subject }}" for n in range(20)) + " }"
    body = production.post("/graphql", json={"query": query}).json()
    assert error_codes(body) == ["TOO_MANY_ALIASES"]


# --- introspection ----------------------------------------------------------------------

INTROSPECTION = "{ __schema { queryType { name } } }"


async def test_introspection_is_refused_in_production_mode(
    production: TestClient, engine: Any
) -> None:
    for query in (INTROSPECTION, '{ __type(name: "Person") { name } }'):
        response = production.post("/graphql", json={"query": query})
        assert error_codes(response.json()) == ["INTROSPECTION_DISABLED"]
        assert "data" not in response.json()
        entry = await only_entry(engine, response)
        assert (entry.outcome, entry.error_code) == ("denied", "INTROSPECTION_DISABLED")
    typename = production.post("/graphql", json={"query": "{ __typename me { __typename } }"})
    assert data_of(typename.json()) == {"__typename": "Query", "me": {"__typename": "Me"}}


def test_introspection_is_allowed_for_the_named_roles(
    settings: Settings, token_for: Callable[[str], str]
) -> None:
    with _client(settings, token_for("auditor-01"), introspection_roles=["auditor"]) as client:
        allowed = client.post("/graphql", json={"query": INTROSPECTION})
        client.headers["authorization"] = f"Bearer {token_for(WORKER)}"
        refused = client.post("/graphql", json={"query": INTROSPECTION})
    assert data_of(allowed.json()) == {"__schema": {"queryType": {"name": "Query"}}}
    assert error_codes(refused.json()) == ["INTROSPECTION_DISABLED"]


def test_introspection_works_in_development_mode(development: TestClient) -> None:
    response = development.post("/graphql", json={"query": INTROSPECTION})
    assert data_of(response.json()) == {"__schema": {"queryType": {"name": "Query"}}}


def test_no_graphiql_in_production_mode(production: TestClient) -> None:
    page = production.get("/graphql", headers={"accept": "text/html"})
    assert "graphiql" not in page.text.lower()


# --- logs -------------------------------------------------------------------------------


def test_logs_never_hold_the_personal_values_a_request_carried(
    settings: Settings,
    token_for: Callable[[str], str],
    district: District,
    caplog: pytest.LogCaptureFixture,
) -> None:
    people = district.people[:5]
    secrets = [p["id_number"] for p in people] + [p["phone"] for p in people]
    house = people[0]["house_code"]
    requests: list[tuple[str, str, dict[str, Any]]] = []
    for person in people:
        id_number, phone = person["id_number"], person["phone"]
        requests += [
            ("query ($c: String!) { grid(code: $c) { name } }", WORKER, {"c": id_number}),
            ("query ($c: String!) { house(code: $c) { address } }", WORKER, {"c": phone}),
            (
                "query ($f: HouseFilter) { houses(filter: $f) { totalCount } }",
                WORKER,
                {"f": {"addressContains": phone, "areaCode": house[:15]}},
            ),
            (
                "query ($f: PersonFilter) { people(filter: $f) { totalCount } }",
                "civil-affairs-app",
                {"f": {"employerCode": id_number, "houseCode": phone}},
            ),
            (
                f'{{ entities(filter: {{nameContains: "{id_number}"}}) {{ totalCount }} }}',
                "emergency-app",
                {},
            ),
            ("query ($n: Int) { houses(first: $n) { totalCount } }", WORKER, {"n": phone}),
            (
                "query ($g: Gender) { people(filter: {gender: $g}) { totalCount } }",
                WORKER,
                {"g": id_number},
            ),
        ]
    loggers = [logging.getLogger(name) for name in ("", "gridhub", "hub", "audit", "uvicorn")]
    with caplog.at_level(logging.DEBUG), TestClient(create_app(settings)) as client:
        for logger in loggers:
            logger.setLevel(logging.DEBUG)
        for query, who, variables in requests:
            response = client.post(
                "/graphql",
                json={"query": query, "variables": variables},
                headers={
                    "authorization": f"Bearer {token_for(who)}",
                    "x-access-purpose": "elderly_care",
                },
            )
            assert response.status_code == 200
    logged = "\n".join(
        f"{record.getMessage()} {record.exc_text or ''} {record.args!r}"
        for record in caplog.records
    )
    assert caplog.records, "nothing was logged: the test would prove nothing"
    leaked = [secret for secret in secrets if secret in logged]
    assert leaked == []
