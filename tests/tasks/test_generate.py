"""Raising tasks: from conflicts, unplaced addresses, stale records and requests, in the grid
where the record is, and idempotently (one open task per record and reason)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from cli.main import app
from demo import District
from hub.settings import Settings
from store.models import CatalogResource, House, Task, TaskStep
from tasks.generate import generate_tasks, request_verification
from tasks.recheck import recheck_periods, set_recheck_period
from tasks.records import RECORDS
from tests.tasks.conftest import NOW, Findings, clean

TASKS = Task.__table__


async def _tasks(engine: AsyncEngine) -> list[dict[str, object]]:
    async with engine.connect() as connection:
        rows = await connection.execute(select(TASKS).order_by(TASKS.c.id))
        return [dict(row._mapping) for row in rows]


def _person_in_grid(district: District) -> tuple[str, str]:
    person = district.people[0]
    return str(person["id"]), str(person["grid_code"])


async def test_conflicts_raise_one_task_per_record_and_field_in_its_grid(
    engine: AsyncEngine, findings: Findings, district: District
) -> None:
    key, grid = _person_in_grid(district)
    await findings.conflict("people", key, "phone", grid, observed="public_security")
    await findings.conflict("people", key, "phone", grid, observed="housing")
    await findings.conflict("people", key, "name", grid)

    report = await generate_tasks(engine, NOW)

    assert report.raised["conflict"] == 2
    tasks = await _tasks(engine)
    assert {(t["reason"], t["grid_code"], t["status"]) for t in tasks} == {
        ("conflict:phone", grid, "open"),
        ("conflict:name", grid, "open"),
    }
    phone = next(t for t in tasks if t["reason"] == "conflict:phone")
    assert phone["kind"] == "conflict"
    assert phone["raised_by"] == "feed:public_security-feed"
    assert phone["department"] == "civil_affairs"
    assert phone["due_at"] == NOW + timedelta(days=7)
    # The values stay out of the task's words: the worker reads them through the plan.
    assert "13800000000" not in str(phone["why"])
    async with engine.connect() as connection:
        steps = list(await connection.execute(select(TaskStep.__table__)))
    assert sorted(s.action for s in steps) == ["raised", "raised"]


async def test_generating_again_adds_nothing_until_the_task_is_closed(
    engine: AsyncEngine, findings: Findings, district: District
) -> None:
    key, grid = _person_in_grid(district)
    await findings.conflict("people", key, "phone", grid)
    assert (await generate_tasks(engine, NOW)).total == 1
    assert (await generate_tasks(engine, NOW + timedelta(hours=1))).total == 0
    assert len(await _tasks(engine)) == 1

    async with engine.begin() as connection:
        await connection.execute(update(TASKS).values(status="done"))
    # Closed, and the conflict is still open: it is raised again.
    assert (await generate_tasks(engine, NOW + timedelta(days=1))).total == 1
    assert [t["status"] for t in await _tasks(engine)] == ["done", "open"]


async def test_findings_without_a_grid_raise_no_task_and_are_counted(
    engine: AsyncEngine, findings: Findings
) -> None:
    await findings.conflict("people", "1", "phone", None)
    await findings.unplaced("houses", "H-NOWHERE", None)
    report = await generate_tasks(engine, NOW)
    assert report.total == 0
    assert report.without_grid == 2
    assert await _tasks(engine) == []


async def test_unplaced_addresses_raise_a_task_in_the_best_candidates_grid(
    engine: AsyncEngine, findings: Findings, district: District
) -> None:
    grid = str(district.grids[-1]["code"])
    await findings.unplaced("people", "424242", grid)
    await findings.unplaced("people", "424242", grid)  # a second run's finding, same record
    report = await generate_tasks(engine, NOW)
    assert report.raised["unplaced_address"] == 1
    [task] = await _tasks(engine)
    assert (task["kind"], task["grid_code"], task["reason"]) == (
        "unplaced_address",
        grid,
        "unplaced_address",
    )
    assert str(task["source_ref"]).startswith("address_candidates:")


async def test_records_not_verified_within_their_resources_period_are_rechecked(
    engine: AsyncEngine, findings: Findings, district: District
) -> None:
    grid = str(district.houses[0]["grid_code"])
    houses = [str(h["code"]) for h in district.houses if h["grid_code"] == grid]
    later = NOW + timedelta(days=400)
    async with engine.begin() as connection:
        assert await recheck_periods(connection) == {}
        await set_recheck_period(connection, "FW-JC-001", 365)
        assert await recheck_periods(connection) == {RECORDS["houses"]: 365}
        # Verified on site a month before: not due.
        await connection.execute(
            update(House.__table__)
            .where(House.__table__.c.code == houses[0])
            .values(verified_at=later - timedelta(days=30))
        )
    try:
        report = await generate_tasks(engine, later, area=grid)
        assert report.raised["recheck"] == len(houses) - 1
        tasks = await _tasks(engine)
        assert {t["row_key"] for t in tasks} == set(houses[1:])
        assert {t["grid_code"] for t in tasks} == {grid}
        assert (await generate_tasks(engine, later, area=grid)).total == 0
    finally:
        async with engine.begin() as connection:
            await connection.execute(
                update(House.__table__)
                .where(House.__table__.c.code == houses[0])
                .values(verified_at=None)
            )


async def test_a_recheck_period_is_refused_outside_its_bounds_or_for_no_resource(
    engine: AsyncEngine, findings: Findings
) -> None:
    from store.errors import BadUserInput

    for code, days in (("FW-JC-001", 0), ("FW-JC-001", 100_000), ("NO-SUCH-1", 30)):
        with pytest.raises(BadUserInput, match="recheck period|no catalogue resource"):
            async with engine.begin() as connection:
                await set_recheck_period(connection, code, days)
    async with engine.connect() as connection:
        assert (
            await connection.scalar(
                select(func.count()).where(CatalogResource.__table__.c.recheck_days.is_not(None))
            )
            == 0
        )


async def test_a_departments_request_is_one_open_task_however_often_it_asks(
    engine: AsyncEngine, findings: Findings, district: District
) -> None:
    key, grid = _person_in_grid(district)
    made = []
    for _ in range(2):
        async with engine.begin() as connection:
            made.append(
                await request_verification(
                    connection,
                    record=RECORDS["people"],
                    row_key=key,
                    grid_code=grid,
                    department="housing",
                    raised_by="housing-app",
                    why="please verify this rental",
                    now=NOW,
                )
            )
    assert made[0].raised
    assert not made[1].raised
    assert made[0].task_id == made[1].task_id
    [task] = await _tasks(engine)
    assert (task["kind"], task["reason"], task["raised_by"]) == (
        "request",
        "request:housing",
        "housing-app",
    )


def test_the_command_refuses_a_bad_area_or_kind(settings: Settings) -> None:
    runner = CliRunner()
    bad = runner.invoke(
        app, ["tasks", "generate", "--area", "44x", "--database-url", settings.database_url]
    )
    assert bad.exit_code == 2
    bad_kind = runner.invoke(
        app, ["tasks", "generate", "--kind", "request", "--database-url", settings.database_url]
    )
    assert bad_kind.exit_code == 2


async def test_the_command_generates(
    settings: Settings, district: District, engine: AsyncEngine, findings: Findings
) -> None:
    import asyncio

    key, grid = _person_in_grid(district)
    await findings.conflict("people", key, "phone", grid)
    runner = CliRunner()

    def run() -> str:
        result = runner.invoke(
            app, ["tasks", "generate", "--area", grid, "--database-url", settings.database_url]
        )
        assert result.exit_code == 0, result.output
        return result.output

    first = await asyncio.to_thread(run)
    assert "conflict\t1" in first
    assert "total\t1" in first
    again = await asyncio.to_thread(run)
    assert "total\t0" in again


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    st.lists(
        st.tuples(st.sampled_from(["phone", "name", "gender"]), st.integers(0, 2), st.booleans()),
        min_size=1,
        max_size=8,
    )
)
async def test_any_sequence_of_findings_and_runs_leaves_one_open_task_per_record_and_field(
    engine: AsyncEngine, findings: Findings, district: District, steps: list[tuple[str, int, bool]]
) -> None:
    await clean(engine)
    people = district.people[:3]
    expected: set[tuple[str, str]] = set()
    for field, index, run in steps:
        person = people[index]
        await findings.conflict("people", str(person["id"]), field, str(person["grid_code"]))
        expected.add((str(person["id"]), f"conflict:{field}"))
        if run:
            await generate_tasks(engine, NOW)
    await generate_tasks(engine, NOW)
    await generate_tasks(engine, NOW)
    tasks = await _tasks(engine)
    assert sorted((t["row_key"], t["reason"]) for t in tasks) == sorted(expected)
