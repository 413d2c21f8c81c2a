"""``eventStats`` counts what an oracle counts from the generated district, cut by the caller's
plan, with groups under ``minCount`` left out; refusals have their codes."""

from __future__ import annotations

import statistics
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from demo import District
from tests.conftest import GraphQL
from tests.support import data_of, error_codes

STREET = "street-440306001"
WORKER = "worker-440306001001001"
FROM, TO = "2026-01-01T00:00:00+08:00", "2027-01-01T00:00:00+08:00"
QUERY = """query($area: String!, $from: DateTime!, $to: DateTime!, $by: [EventStatsGroup!]!,
                 $min: Int! = 5) {
  eventStats(areaCode: $area, from: $from, to: $to, groupBy: $by, minCount: $min) {
    categoryCode handlingDepartmentCode gridCode source status day
    count closed closedOnTime onTimeRate medianHandlingHours
  }
}"""
COLUMN = {
    "CATEGORY": ("categoryCode", "category_code"),
    "DEPARTMENT": ("handlingDepartmentCode", "handling_department_code"),
    "GRID": ("gridCode", "grid_code"),
    "SOURCE": ("source", "source"),
    "STATUS": ("status", "status"),
    "DAY": ("day", "reported_at"),
}
ZONE = ZoneInfo("Asia/Shanghai")


def oracle(
    district: District,
    under: str,
    by: list[str],
    min_count: int = 5,
    start: datetime | None = None,
    end: datetime | None = None,
) -> dict[tuple[Any, ...], dict[str, Any]]:
    """The figures per group, worked out from the generated rows."""
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for event in district.events:
        if not event["grid_code"].startswith(under):
            continue
        if start is not None and not start <= event["reported_at"] < (end or start):
            continue
        key = tuple(_value(event, name) for name in by)
        groups.setdefault(key, []).append(event)
    found = {}
    for key, events in groups.items():
        if len(events) < min_count:
            continue
        closed = [e for e in events if e["closed_at"] is not None]
        on_time = sum(1 for e in closed if e["closed_at"] <= e["deadline"])
        hours = [(e["closed_at"] - e["reported_at"]).total_seconds() / 3600 for e in closed]
        found[key] = {
            "count": len(events),
            "closed": len(closed),
            "closedOnTime": on_time,
            "onTimeRate": on_time / len(closed) if closed else None,
            "medianHandlingHours": statistics.median(hours) if hours else None,
        }
    return found


def _value(event: dict[str, Any], name: str) -> Any:
    if name == "DAY":
        return event["reported_at"].astimezone(ZONE).date().isoformat()
    value = event[COLUMN[name][1]]
    return value.upper() if name in ("SOURCE", "STATUS") else value


def answered(body: dict[str, Any], by: list[str]) -> dict[tuple[Any, ...], dict[str, Any]]:
    rows = data_of(body)["eventStats"]
    found = {}
    for row in rows:
        key = tuple(row[COLUMN[name][0]] for name in by)
        assert key not in found, key
        for name, (field, _) in COLUMN.items():
            if name not in by:
                assert row[field] is None, (name, row)
        found[key] = {
            k: row[k]
            for k in ("count", "closed", "closedOnTime", "onTimeRate", "medianHandlingHours")
        }
    return found


def same(found: dict[Any, dict[str, Any]], expected: dict[Any, dict[str, Any]]) -> None:
    assert found.keys() == expected.keys()
    for key, figures in expected.items():
        for name, value in figures.items():
            if isinstance(value, float):
                assert found[key][name] == pytest.approx(value), (key, name)
            else:
                assert found[key][name] == value, (key, name)


async def test_street_staff_count_their_street_by_category(
    gql: GraphQL, district: District
) -> None:
    by = ["CATEGORY"]
    body = await gql(QUERY, {"area": "440306001", "from": FROM, "to": TO, "by": by}, as_=STREET)
    expected = oracle(district, "440306001", by)
    assert expected, "the street has events: the test would pass whatever the answer"
    same(answered(body, by), expected)


async def test_a_grid_worker_counts_only_its_own_grid_whatever_the_area(
    gql: GraphQL, district: District
) -> None:
    by = ["GRID", "STATUS"]
    body = await gql(QUERY, {"area": "440306", "from": FROM, "to": TO, "by": by}, as_=WORKER)
    found = answered(body, by)
    assert found
    assert {key[0] for key in found} == {"440306001001001"}
    same(found, oracle(district, "440306001001001", by))


async def test_a_range_counts_only_events_reported_in_it(gql: GraphQL, district: District) -> None:
    start, end = "2026-09-01T00:00:00+08:00", "2026-10-01T00:00:00+08:00"
    by = ["DAY"]
    body = await gql(
        QUERY, {"area": "440306001", "from": start, "to": end, "by": by, "min": 3}, as_=STREET
    )
    expected = oracle(
        district,
        "440306001",
        by,
        3,
        datetime.fromisoformat(start).astimezone(UTC),
        datetime.fromisoformat(end).astimezone(UTC),
    )
    assert expected
    same(answered(body, by), expected)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    by=st.lists(st.sampled_from(sorted(COLUMN)), unique=True, max_size=3),
    min_count=st.integers(min_value=3, max_value=40),
)
async def test_any_grouping_counts_as_the_oracle_and_hides_small_groups(
    gql: GraphQL, district: District, by: list[str], min_count: int
) -> None:
    body = await gql(
        QUERY,
        {"area": "440306001", "from": FROM, "to": TO, "by": by, "min": min_count},
        as_=STREET,
    )
    found = answered(body, by)
    assert all(figures["count"] >= min_count for figures in found.values())
    same(found, oracle(district, "440306001", by, min_count))


@pytest.mark.parametrize(
    ("subject", "variables", "code"),
    [
        (STREET, {"min": 2}, "BAD_USER_INPUT"),
        (STREET, {"from": TO, "to": FROM}, "BAD_USER_INPUT"),
        (STREET, {"area": "4403"}, "BAD_USER_INPUT"),
        (STREET, {"by": ["DAY", "DAY"]}, "BAD_USER_INPUT"),
        (
            STREET,
            {"from": "2020-01-01T00:00:00+08:00", "to": "2026-01-01T00:00:00+08:00"},
            "BAD_USER_INPUT",
        ),
        ("public-security-app", {}, "FORBIDDEN"),  # no grant on events: it may count nothing
        ("auditor-01", {}, "FORBIDDEN"),
    ],
    ids=["min-count", "empty-range", "area", "twice", "too-long", "no-events", "auditor"],
)
async def test_refusals(gql: GraphQL, subject: str, variables: dict[str, Any], code: str) -> None:
    sent = {"area": "440306001", "from": FROM, "to": TO, "by": []}
    body = await gql(QUERY, sent | variables, as_=subject)
    assert error_codes(body) == [code]
    assert body["data"]["eventStats"] is None


async def test_a_department_app_counts_with_masked_fields_refused(gql: GraphQL) -> None:
    """The emergency app sees events' reporters masked; nothing here reads a reporter, so it
    counts the district's events by department."""
    body = await gql(
        QUERY,
        {"area": "440306", "from": FROM, "to": TO, "by": ["DEPARTMENT"]},
        as_="emergency-app",
    )
    rows = data_of(body)["eventStats"]
    assert {row["handlingDepartmentCode"] for row in rows} >= {"emergency"}
