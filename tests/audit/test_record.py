"""The record's normalisation and the canonical form: fixed bytes, the same from either back end."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from audit.chain import ENTRY_DOMAIN, entry_hash
from audit.record import (
    ENTRY_FIELDS,
    GENESIS,
    AuditRecord,
    FieldRead,
    canonical_entry,
    json_value,
    render_time,
)
from store.models import AuditEntry
from tests.audit.conftest import MakeWriter
from tests.audit.helpers import record


def test_lists_are_sorted_and_deduplicated_so_their_order_can_not_matter() -> None:
    one = record(
        1,
        roles=["b", "a", "b"],
        person_ids=["p2", "p1", "p2"],
        reads=[
            {"type": "Person", "field": "phone", "decision": "MASK"},
            FieldRead("Person", "name", "ALLOW"),
            {"type": "Person", "field": "phone", "decision": "MASK"},
        ],
    )
    assert one.roles == ("a", "b")
    assert one.person_ids == ("p1", "p2")
    assert one.columns()["reads"] == [
        {"type": "Person", "field": "name", "decision": "ALLOW"},
        {"type": "Person", "field": "phone", "decision": "MASK"},
    ]


def test_floats_become_text_and_other_values_plain_json() -> None:
    assert json_value(
        {"r": 1.5, "big": 10**30, "t": (1, True, None), "d": datetime(2026, 1, 1, tzinfo=UTC)}
    ) == {
        "r": "1.5",
        "big": 10**30,
        "t": [1, True, None],
        "d": "2026-01-01 00:00:00+00:00",
    }
    with pytest.raises(TypeError):
        json_value({1: "a key that is not a string"})


def test_text_is_made_storable_on_both_back_ends() -> None:
    long = "访" * 300
    made = record(1, purpose=long, subject="", client_address="a\x00b", operation_name="\ud800x")
    assert made.purpose == "访" * 254 + "…"
    assert made.subject is None  # an empty optional text is null: the CSV export relies on it
    assert made.client_address == "a\ufffdb"
    assert made.operation_name == "\ufffdx"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("outcome", "fine"),
        ("principal_kind", "robot"),
        ("operation_type", "query "),
        ("reads", [{"type": "Person", "field": "name", "decision": "allow"}]),
        ("latency_us", 1.5),
        ("latency_us", -1),
        ("row_counts", {"Person": 2.0}),
        ("person_ids", "p1"),
        ("variables", ["not", "an", "object"]),
    ],
)
def test_a_record_the_log_could_not_hold_faithfully_is_refused(field: str, value: object) -> None:
    with pytest.raises((TypeError, ValueError)):
        record(1, **{field: value})


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        render_time(datetime(2026, 11, 1, 8, 0))  # noqa: DTZ001 - the point of the test
    east = timezone(timedelta(hours=8))
    assert render_time(datetime(2026, 11, 1, 8, 0, tzinfo=east)) == "2026-11-01T00:00:00.000000Z"


def _golden() -> dict[str, object]:
    return {
        **AuditRecord(
            request_id="7f0c6c1e-1d5b-4a0b-9f6a-3a3d2d1c0b0a",
            outcome="partial",
            latency_us=12345,
            subject="张三@idp",
            principal_kind="person",
            department_code="civil_affairs",
            roles=["grid_worker"],
            operation_name="Elderly",
            operation_type="query",
            variables={"area": "440306001", "nested": {"b": 1, "a": [True, None]}},
            purpose="养老服务",
            reads=[{"type": "Person", "field": "careTags", "decision": "DENY"}],
            person_ids=["UGVyc29uOjE="],
            row_counts={"Person": 1},
            error_code="FORBIDDEN",
        ).columns(),
        "writer_id": "0" * 32,
        "seq": 1,
        "at": datetime(2026, 11, 23, 8, 0, 0, 123456, tzinfo=UTC),
        "prev_hash": GENESIS,
    }


def test_the_canonical_form_is_fixed() -> None:
    """These bytes are the format auditors reimplement: changing them breaks every old log."""
    expected = (
        '{"at":"2026-11-23T08:00:00.123456Z","client_address":null,"client_id":null,'
        '"department_code":"civil_affairs","error_code":"FORBIDDEN","grant_ids":[],'
        '"latency_us":12345,"operation_name":"Elderly","operation_type":"query",'
        '"outcome":"partial","person_ids":["UGVyc29uOjE="],'
        '"prev_hash":"0000000000000000000000000000000000000000000000000000000000000000",'
        '"principal_kind":"person","purpose":"养老服务","query_hash":null,'
        '"reads":[{"decision":"DENY","field":"careTags","type":"Person"}],'
        '"request_id":"7f0c6c1e-1d5b-4a0b-9f6a-3a3d2d1c0b0a","roles":["grid_worker"],'
        '"row_counts":{"Person":1},"seq":1,"subject":"张三@idp",'
        '"variables":{"area":"440306001","nested":{"a":[true,null],"b":1}},'
        '"writer_id":"00000000000000000000000000000000"}'
    ).encode()
    values = _golden()
    assert canonical_entry(values) == expected
    assert set(json.loads(expected)) == set(ENTRY_FIELDS)
    by_hand = hashlib.sha256(ENTRY_DOMAIN + GENESIS.encode() + b"\n" + expected).hexdigest()
    assert entry_hash(values) == by_hand


def test_the_writers_serialisation_is_the_canonical_form() -> None:
    """The writer hashes its own entries through orjson: the same bytes, the same hash."""
    values = _golden()
    assert canonical_entry(values, built=True) == canonical_entry(values)
    assert entry_hash(values, built=True) == entry_hash(values)


_JSON_TEXT = st.text(st.characters(codec="utf-8"))  # what a request can carry: no lone surrogates
_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | _JSON_TEXT,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(_JSON_TEXT, children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(variables=st.dictionaries(_JSON_TEXT, _JSON_VALUES, max_size=4), ids=st.lists(_JSON_TEXT))
def test_any_record_serialises_to_the_canonical_form_either_way(
    variables: dict[str, object], ids: list[str]
) -> None:
    """Whatever a request's variables, ids and reads hold (any text, any integer, floats
    which the record turns into text), both serialisations give the same bytes."""
    item = record(1, variables=variables, person_ids=ids, grant_ids=ids[:2])
    values = {
        **item.columns(),
        "writer_id": "0" * 32,
        "seq": 1,
        "at": datetime(2026, 11, 24, 3, 0, tzinfo=UTC),
        "prev_hash": GENESIS,
    }
    assert canonical_entry(values, built=True) == canonical_entry(values)


def test_every_covered_column_changes_the_hash() -> None:
    values = _golden()
    original = entry_hash(values)
    for name in ENTRY_FIELDS:
        changed = dict(values)
        current = changed[name]
        if isinstance(current, datetime):
            changed[name] = current + timedelta(microseconds=1)
        elif isinstance(current, int):
            changed[name] = current + 1
        elif isinstance(current, str):
            changed[name] = current[:-1] + ("x" if current[-1:] != "x" else "y")
        elif current is None:
            changed[name] = "x"
        elif isinstance(current, list):
            changed[name] = [*current, "x"]
        else:
            changed[name] = {**current, "x": 1}
        assert entry_hash(changed) != original, name


async def test_what_each_back_end_reads_back_hashes_to_what_was_written(
    make_writer: MakeWriter, audit_engine: AsyncEngine
) -> None:
    """JSON columns must come back with the same keys, ints and text, on SQLite and PostgreSQL."""
    writer = await make_writer()
    tricky = {
        "名字": "张三丰",
        "emoji": "🙂",
        "escapes": 'quote " backslash \\ newline \n tab \t ls \u2028 nul-free',
        "nested": {"z": [1, -2, 2**63 + 1, True, False, None], "a": {"é": "ü"}},
        "r": 0.1,
        "empty": {},
        "list": [],
    }
    records = [
        record(1, purpose="养老服务：高龄独居老人探访", variables=tricky),
        record(2, variables={}, reads=[], person_ids=[], row_counts={}, subject=None),
        record(3, operation_name="𠀀" * 127 + "x"),
    ]
    receipts = [await writer.record(item) for item in records]
    async with audit_engine.connect() as connection:
        query = select(AuditEntry.__table__).order_by(AuditEntry.seq)
        rows = (await connection.execute(query)).mappings().all()
    assert [row["seq"] for row in rows] == [1, 2, 3]
    for row, item, receipt in zip(rows, records, receipts, strict=True):
        values = {name: row[name] for name in (*ENTRY_FIELDS, "hash")}
        written = {
            **item.columns(),
            "writer_id": writer.writer_id,
            "seq": receipt.seq,
            "at": receipt.at,
            "prev_hash": values["prev_hash"],
        }
        assert canonical_entry(values) == canonical_entry(written)
        assert entry_hash(values) == row["hash"] == receipt.hash
    assert rows[0]["variables"]["nested"]["z"][2] == 2**63 + 1
    assert rows[0]["variables"]["r"] == "0.1"
