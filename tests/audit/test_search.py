"""Auditors' search and statistics: right rows, newest first, keyset pages, indexed."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine

from audit.record import AuditRecord
from audit.search import AuditCursor, AuditFilter, offset_spans, search, stats
from tests.audit.conftest import MakeWriter
from tests.audit.helpers import record

START = datetime(2026, 10, 1, 2, 30, tzinfo=UTC)
DEPARTMENTS = ["housing", "emergency", "civil_affairs", None]
OUTCOMES = ["ok", "partial", "denied", "error"]


@dataclass(frozen=True)
class Written:
    record: AuditRecord
    at: datetime


def _records() -> Iterator[AuditRecord]:
    for i in range(60):
        reads = [{"type": "Person", "field": "name", "decision": "ALLOW"}]
        if i % 2:
            reads.append({"type": "Person", "field": "idNumber", "decision": "MASK"})
        if i % 3 == 0:
            reads.append({"type": "House", "field": "address", "decision": "ALLOW"})
        yield record(
            i,
            subject=f"user-{i % 3}",
            department_code=DEPARTMENTS[i % 4],
            client_id=None if i % 5 == 0 else f"app-{i % 5}",
            outcome=OUTCOMES[(i // 4) % 4],
            operation_name=["Residents", "Events"][i % 2],
            person_ids=[f"p{i % 6}", f"p{(i + 1) % 6}"] if i % 4 != 3 else [],
            reads=reads,
        )


def _clock(times: Iterator[datetime]) -> Callable[[], datetime]:
    """The given times, then the last one again (for the writer's checkpoints)."""
    last: list[datetime] = []

    def now() -> datetime:
        last[:] = [next(times, *last)]
        return last[0]

    return now


@pytest.fixture
async def log(make_writer: MakeWriter) -> list[Written]:
    """60 entries seven hours apart, from two writers taking turns."""
    times = [START + timedelta(hours=7 * i) for i in range(60)]
    writers = [
        await make_writer(clock=_clock(iter(times[0::2]))),
        await make_writer(clock=_clock(iter(times[1::2]))),
    ]
    written = []
    for i, item in enumerate(_records()):
        receipt = await writers[i % 2].record(item)
        written.append(Written(item, receipt.at))
    async with asyncio.timeout(10):  # searchable by person and field (see audit.indexer)
        for writer in writers:
            await writer.indexed()
    return written


def _matches(item: Written, wanted: AuditFilter) -> bool:
    r = item.record
    reads = [(read.type, read.field) for read in r.reads]  # type: ignore[union-attr]
    return (
        (wanted.subject is None or r.subject == wanted.subject)
        and (wanted.department_code is None or r.department_code == wanted.department_code)
        and (wanted.client_id is None or r.client_id == wanted.client_id)
        and (wanted.person_id is None or wanted.person_id in r.person_ids)
        and (wanted.resource_type is None or any(t == wanted.resource_type for t, _ in reads))
        and (wanted.field is None or any(f == wanted.field for _, f in reads))
        and (
            wanted.resource_type is None
            or wanted.field is None
            or (wanted.resource_type, wanted.field) in reads
        )
        and (wanted.outcome is None or r.outcome == wanted.outcome)
        and (wanted.operation_name is None or r.operation_name == wanted.operation_name)
        and (wanted.since is None or item.at >= wanted.since)
        and (wanted.until is None or item.at < wanted.until)
    )


async def _all_pages(engine: AsyncEngine, wanted: AuditFilter, first: int) -> list[Any]:
    rows: list[Any] = []
    cursor: AuditCursor | None = None
    async with engine.connect() as connection:
        while True:
            page, more = await search(connection, wanted, first, cursor)
            rows.extend(page)
            if not more:
                return rows
            cursor = AuditCursor.decode(AuditCursor.of(page[-1]).encode())


FILTERS = [
    AuditFilter(),
    AuditFilter(person_id="p2"),
    AuditFilter(person_id="p2", since=START + timedelta(days=5), until=START + timedelta(days=12)),
    AuditFilter(person_id="p4", subject="user-1"),
    AuditFilter(subject="user-2"),
    AuditFilter(department_code="emergency"),
    AuditFilter(client_id="app-3"),
    AuditFilter(resource_type="House"),
    AuditFilter(field="idNumber"),
    AuditFilter(resource_type="Person", field="idNumber", person_id="p1"),
    AuditFilter(outcome="denied"),
    AuditFilter(operation_name="Events", outcome="ok"),
    AuditFilter(since=START + timedelta(days=3)),
    AuditFilter(until=START + timedelta(days=3)),
    AuditFilter(person_id="nobody"),
]


@pytest.mark.parametrize("wanted", FILTERS)
async def test_search_finds_exactly_the_matching_entries_newest_first(
    log: list[Written], audit_engine: AsyncEngine, wanted: AuditFilter
) -> None:
    rows = await _all_pages(audit_engine, wanted, first=7)
    expected = [item for item in log if _matches(item, wanted)]
    assert sorted(row["request_id"] for row in rows) == sorted(
        item.record.request_id for item in expected
    )
    keys = [(row["at"], row["id"]) for row in rows]
    assert keys == sorted(keys, reverse=True)
    assert len(set(keys)) == len(keys)


async def test_a_page_says_whether_more_follow(
    log: list[Written], audit_engine: AsyncEngine
) -> None:
    async with audit_engine.connect() as connection:
        page, more = await search(connection, AuditFilter(subject="user-0"), 20)
        assert (len(page), more) == (20, False)
        page, more = await search(connection, AuditFilter(subject="user-0"), 19)
        assert (len(page), more) == (19, True)
        with pytest.raises(ValueError, match="first"):
            await search(connection, AuditFilter(), 0)
    assert page[0]["at"] == log[57].at  # the newest of user-0's: entry 57


def test_a_cursor_is_opaque_and_checked() -> None:
    cursor = AuditCursor(datetime(2026, 11, 1, 8, 0, 0, 5, tzinfo=UTC), 42)
    assert AuditCursor.decode(cursor.encode()) == cursor
    for garbage in ("", "bm90IGEgY3Vyc29y", "!!!"):
        with pytest.raises(ValueError, match="not an audit cursor"):
            AuditCursor.decode(garbage)


async def _plan(engine: AsyncEngine, wanted: AuditFilter) -> str:
    """The query plan of the search the filter makes, from the back end itself."""
    seen: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.append((statement, parameters))

    event.listen(engine.sync_engine, "before_cursor_execute", capture)
    try:
        async with engine.connect() as connection:
            await search(connection, wanted, 20)
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", capture)
    statement, parameters = seen[-1]
    async with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            result = await connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
            return "\n".join(str(row[-1]) for row in result)
        # A tiny table is scanned whichever plan: forbid that, to see which index serves.
        await connection.execute(text("SET LOCAL enable_seqscan = off"))
        result = await connection.exec_driver_sql("EXPLAIN " + statement, parameters)
        return "\n".join(str(row[0]) for row in result)


async def _serves(engine: AsyncEngine, index: str, plan: str) -> bool:
    """Whether ``index`` serves in ``plan``: by its name, or on PostgreSQL, where the log is
    partitioned by month, by the name of its copy on one of the partitions."""
    names = {index}
    if engine.dialect.name == "postgresql":
        async with engine.connect() as connection:
            found = await connection.execute(
                text(
                    "SELECT c.relname FROM pg_inherits AS i JOIN pg_class AS c"
                    " ON c.oid = i.inhrelid WHERE i.inhparent = to_regclass(:index)"
                ),
                {"index": index},
            )
            names.update(found.scalars())
    return any(name in plan for name in names)


async def test_who_read_this_person_is_answered_from_the_person_index(
    log: list[Written], audit_engine: AsyncEngine
) -> None:
    since = START + timedelta(days=30)
    plan = await _plan(audit_engine, AuditFilter(person_id="p2", since=since - timedelta(30)))
    assert await _serves(audit_engine, "ix_audit_person_reads_person_id_at_entry_id", plan), plan
    if audit_engine.dialect.name == "sqlite":
        assert "TEMP B-TREE" not in plan, plan  # the index gives the order: no sort


@pytest.mark.parametrize(
    ("wanted", "index"),
    [
        (AuditFilter(subject="user-1"), "ix_audit_entries_subject_at"),
        (AuditFilter(client_id="app-1"), "ix_audit_entries_client_id_at"),
        (AuditFilter(department_code="housing"), "ix_audit_entries_department_code_at"),
    ],
)
async def test_other_filters_have_their_index(
    log: list[Written], audit_engine: AsyncEngine, wanted: AuditFilter, index: str
) -> None:
    plan = await _plan(audit_engine, wanted)
    assert await _serves(audit_engine, index, plan), plan


async def test_stats_count_by_every_combination(
    log: list[Written], audit_engine: AsyncEngine
) -> None:
    since, until = START, START + timedelta(days=18)
    zone = ZoneInfo("Asia/Shanghai")
    expected: dict[str, Counter[tuple[Any, ...]]] = {}
    groupings = [
        ["department"],
        ["outcome"],
        ["resource"],
        ["day"],
        ["department", "outcome"],
        ["resource", "day"],
        [],
    ]
    for grouping in groupings:
        counter: Counter[tuple[Any, ...]] = Counter()
        for item in log:
            if not since <= item.at < until:
                continue
            r = item.record
            resources = sorted({read.type for read in r.reads})  # type: ignore[union-attr]
            for resource in resources if "resource" in grouping else [None]:
                key = {
                    "department": r.department_code,
                    "outcome": r.outcome,
                    "resource": resource,
                    "day": item.at.astimezone(zone).date(),
                }
                counter[tuple(key[name] for name in grouping)] += 1
        expected[",".join(grouping)] = counter
    async with audit_engine.connect() as connection:
        for grouping in groupings:
            rows = await stats(connection, since, until, grouping, timezone="Asia/Shanghai")
            found = Counter({tuple(row[name] for name in grouping): row["count"] for row in rows})
            assert found == expected[",".join(grouping)], grouping
        with pytest.raises(ValueError, match="unknown groups"):
            await stats(connection, since, until, ["weekday"], timezone="Asia/Shanghai")


@pytest.mark.parametrize(
    ("zone", "times", "days"),
    [
        (
            "Asia/Shanghai",
            ["2026-11-01T15:59:59.999999+00:00", "2026-11-01T16:00:00+00:00"],
            [date(2026, 11, 1), date(2026, 11, 2)],
        ),
        (
            "America/New_York",  # daylight saving starts on 8 March 2026
            [
                "2026-03-08T04:59:59+00:00",
                "2026-03-08T05:00:00+00:00",
                "2026-03-09T03:59:59+00:00",
                "2026-03-09T04:00:00+00:00",
            ],
            [date(2026, 3, 7), date(2026, 3, 8), date(2026, 3, 8), date(2026, 3, 9)],
        ),
    ],
)
async def test_days_are_counted_in_the_district_time_zone(
    make_writer: MakeWriter,
    audit_engine: AsyncEngine,
    zone: str,
    times: list[str],
    days: list[date],
) -> None:
    moments = [datetime.fromisoformat(moment) for moment in times]
    writer = await make_writer(clock=_clock(iter(moments)))
    for _ in moments:
        await writer.record(record())
    since, until = moments[0] - timedelta(days=20), moments[-1] + timedelta(days=20)
    async with audit_engine.connect() as connection:
        rows = await stats(connection, since, until, ["day"], timezone=zone)
    assert {row["day"]: row["count"] for row in rows} == Counter(days)


def test_offset_spans_find_each_transition_to_the_second() -> None:
    zone = ZoneInfo("Europe/Berlin")
    since = datetime(2026, 1, 1, tzinfo=UTC)
    spans = offset_spans(zone, since, datetime(2027, 1, 1, tzinfo=UTC))
    assert spans == [
        (since, 3600),
        (datetime(2026, 3, 29, 1, 0, tzinfo=UTC), 7200),
        (datetime(2026, 10, 25, 1, 0, tzinfo=UTC), 3600),
    ]
    assert offset_spans(ZoneInfo("Asia/Shanghai"), since, since + timedelta(days=400)) == [
        (since, 28800)
    ]
