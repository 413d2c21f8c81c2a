"""Forged ids and cursors are bad input, never a crash: whatever a client puts in one, decoding
either gives a key the database can take or refuses it with BAD_USER_INPUT.

PostgreSQL's integer keys stop at 2**31 - 1 and its text can not hold a NUL; a key beyond
either used to reach the database and come back as an internal error."""

from __future__ import annotations

import base64
import json

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from audit.search import AuditCursor
from resolvers.ids import from_global_id, to_global_id
from resolvers.pagination import decode_cursor
from resolvers.resources import EVENTS, HOUSES, PEOPLE, RESOURCES
from store.errors import BadUserInput
from tests.conftest import GraphQL
from tests.support import error_codes

#: The largest key of an integer-keyed table on PostgreSQL (INTEGER).
MAX_KEY = 2**31 - 1
TYPES = ["Grid", "House", "Person", "Entity", "Event"]
keys = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.text(),
    st.text(alphabet=st.sampled_from("0123456789\x00")),
)


def _safe(key: object) -> bool:
    if isinstance(key, int):
        return 0 <= key <= MAX_KEY
    return isinstance(key, str) and "\x00" not in key


@given(st.sampled_from(TYPES), keys)
def test_a_global_id_decodes_to_a_key_the_database_takes_or_is_refused(
    type_name: str, key: int | str
) -> None:
    forged = base64.b64encode(f"{type_name}:{key}".encode()).decode()
    try:
        _, decoded = from_global_id(forged)
    except BadUserInput:
        return
    assert _safe(decoded)


@given(st.text())
def test_any_text_as_a_global_id_is_a_key_or_refused(text: str) -> None:
    try:
        _, decoded = from_global_id(text)
    except BadUserInput:
        return
    assert _safe(decoded)


@given(st.sampled_from(sorted(RESOURCES)), st.one_of(st.integers(), st.text()))
def test_a_cursor_decodes_to_a_key_the_database_takes_or_is_refused(
    resource: str, key: int | str
) -> None:
    raw = json.dumps(["c1", resource, key]).encode()
    forged = base64.urlsafe_b64encode(raw).decode()
    try:
        decoded = decode_cursor(forged, RESOURCES[resource])
    except BadUserInput:
        return
    assert _safe(decoded)


@given(st.integers())
def test_an_audit_cursor_holds_an_entry_id_in_range_or_is_refused(entry: int) -> None:
    forged = base64.urlsafe_b64encode(f"2026-11-01T00:00:00Z|{entry}".encode()).decode()
    try:
        cursor = AuditCursor.decode(forged)
    except ValueError:
        return
    assert 0 <= cursor.id <= MAX_KEY


def _cursor(resource: str, key: object) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(["c1", resource, key])).decode()


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        ("query($id: ID!) { person(id: $id) { name } }", {"id": to_global_id("Person", 2**31)}),
        ("query($id: ID!) { event(id: $id) { id } }", {"id": to_global_id("Event", 2**31)}),
        ("query($id: ID!) { node(id: $id) { id } }", {"id": to_global_id("Person", 2**31)}),
        ("query($id: ID!) { node(id: $id) { id } }", {"id": to_global_id("House", "44\x0003")}),
        ("query($id: ID!) { node(id: $id) { id } }", {"id": to_global_id("Grid", "\x00")}),
        (
            "query($a: String) { people(first: 2, after: $a) { totalCount } }",
            {"a": _cursor(PEOPLE.name, 2**31)},
        ),
        (
            "query($a: String) { events(first: 2, after: $a) { totalCount } }",
            {"a": _cursor(EVENTS.name, 2**40)},
        ),
        (
            "query($a: String) { houses(first: 2, after: $a) { totalCount } }",
            {"a": _cursor(HOUSES.name, "4403\x00")},
        ),
        (
            "query($a: String) { auditLog(first: 2, after: $a) { edges { cursor } } }",
            {"a": base64.urlsafe_b64encode(b"2026-11-01T00:00:00Z|2147483648").decode()},
        ),
    ],
)
async def test_a_forged_id_or_cursor_is_bad_user_input(
    gql: GraphQL, query: str, variables: dict[str, str]
) -> None:
    body = await gql(query, variables, as_="auditor-01" if "auditLog" in query else None)
    assert error_codes(body) == ["BAD_USER_INPUT"], body
    assert "Traceback" not in str(body)


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        ("query($c: String!) { house(code: $c) { code } }", {"c": "44\x0003"}),
        ("query($c: String!) { entity(creditCode: $c) { name } }", {"c": "9\x00"}),
        ("query($c: String!) { grid(code: $c) { code } }", {"c": "4403\x00"}),
        (
            "query($f: HouseFilter) { houses(filter: $f) { totalCount } }",
            {"f": {"addressContains": "路\x00"}},
        ),
        (
            "query($f: PersonFilter) { people(filter: $f) { totalCount } }",
            {"f": {"employerCode": "9\x00"}},
        ),
        ('{ house(code: "44\\u000003") { code } }', {}),
        ('{ houses(filter: {addressContains: "\\u0000"}) { totalCount } }', {}),
    ],
)
async def test_a_nul_in_any_value_is_bad_user_input(
    gql: GraphQL, query: str, variables: dict[str, object]
) -> None:
    """PostgreSQL text holds no NUL: a value with one matches nothing and is refused up front."""
    body = await gql(query, variables)
    assert error_codes(body) == ["BAD_USER_INPUT"], body
