"""A run is all or nothing, two runs of one feed never interleave, and another department's
disagreeing value is kept as a conflict, not written over the authoritative one."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from addresses.matcher import Matcher
from demo import District
from feeds.run import FeedRunFailed, run_feed
from store.models import FeedConflict, FeedRun, Person, RemovedRow, RowChange
from tests.feeds.helpers import (
    PEOPLE_HEADER,
    new_id_number,
    people_feed,
    room_addresses,
    write_csv,
)

T0 = datetime(2026, 11, 3, 8, 0, tzinfo=UTC)


def _resident(id_number: str, address: str, name: str = "李四") -> list[str]:
    return [id_number, name, "13900139000", "户籍", "自有", address]


async def _state(engine: AsyncEngine, feed: str) -> dict[str, Any]:
    """Everything a run of ``feed`` may write, to compare before and after."""
    async with engine.connect() as connection:
        people = (
            await connection.execute(
                select(Person.id_number, Person.name, Person.updated_at, Person.source_run)
                .where(Person.source_feed == feed)
                .order_by(Person.id_number)
            )
        ).all()
        history = await connection.scalar(select(func.count()).select_from(RowChange))
        removed = await connection.scalar(select(func.count()).select_from(RemovedRow))
        conflicts = await connection.scalar(select(func.count()).select_from(FeedConflict))
    return {"people": people, "history": history, "removed": removed, "conflicts": conflicts}


@pytest.mark.parametrize("step", ["conflicts", "history", "update", "insert", "remove"])
async def test_a_run_that_fails_mid_merge_leaves_the_old_state_whole(
    step: str, tmp_path: Path, feeds_engine: AsyncEngine, matcher: Matcher, district: District
) -> None:
    code = f"T-CRASH-{step.upper()}"
    feed = people_feed(code)
    rooms = room_addresses(district, 3, skip=200)
    ids = [new_id_number() for _ in rooms]
    rows = [_resident(i, r["text"]) for i, r in zip(ids, rooms, strict=True)]
    await run_feed(
        feeds_engine,
        feed,
        write_csv(tmp_path / "a.csv", PEOPLE_HEADER, rows),
        matcher,
        by="tester",
        now=T0,
    )
    before = await _state(feeds_engine, code)
    # Tomorrow: one renamed, one gone, one new; the run dies after the step.
    changed = [
        _resident(ids[0], rooms[0]["text"], name="李思"),
        _resident(ids[1], rooms[1]["text"]),
        _resident(new_id_number(), rooms[2]["text"]),
    ]

    async def crash(at: str) -> None:
        if at == step:
            raise ConnectionResetError("the database went away")

    with pytest.raises(FeedRunFailed) as failed:
        await run_feed(
            feeds_engine,
            feed,
            write_csv(tmp_path / "b.csv", PEOPLE_HEADER, changed),
            matcher,
            by="tester",
            checkpoint=crash,
        )
    assert await _state(feeds_engine, code) == before
    async with feeds_engine.connect() as connection:
        run = (
            await connection.execute(
                select(FeedRun.status, FeedRun.error).where(
                    FeedRun.id == failed.value.details["runId"]
                )
            )
        ).one()
    assert run.status == "failed"
    assert "nothing was written" in run.error
    assert "the database went away" not in run.error  # no message that may hold row values


async def test_two_runs_of_one_feed_never_interleave(
    tmp_path: Path, feeds_engine: AsyncEngine, matcher: Matcher, district: District
) -> None:
    feed = people_feed("T-CONCURRENT")
    rooms = room_addresses(district, 20, skip=300)
    rows = [_resident(new_id_number(), r["text"]) for r in rooms]
    path = write_csv(tmp_path / "same.csv", PEOPLE_HEADER, rows)
    steps: list[tuple[str, str]] = []

    def recorder(name: str) -> Any:
        async def checkpoint(at: str) -> None:
            steps.append((name, at))
            await asyncio.sleep(0.05)  # give the other run every chance to cut in

        return checkpoint

    first, second = await asyncio.gather(
        run_feed(feeds_engine, feed, path, matcher, by="a", checkpoint=recorder("a")),
        run_feed(feeds_engine, feed, path, matcher, by="b", checkpoint=recorder("b")),
    )
    assert sorted([first.inserted, second.inserted]) == [0, 20]
    assert sorted([first.unchanged, second.unchanged]) == [0, 20]
    order = [name for name, _ in steps]
    switches = sum(1 for x, y in zip(order, order[1:], strict=False) if x != y)
    assert switches == 1, steps  # all of one run's merge, then all of the other's
    async with feeds_engine.connect() as connection:
        count = await connection.scalar(
            select(func.count()).select_from(Person).where(Person.source_feed == "T-CONCURRENT")
        )
    assert count == 20


async def test_another_departments_disagreeing_value_is_a_conflict_not_a_change(
    tmp_path: Path, feeds_engine: AsyncEngine, matcher: Matcher, district: District
) -> None:
    police = people_feed("T-AUTH-GA")
    room = room_addresses(district, 1, skip=400)[0]["text"]
    resident = new_id_number()
    await run_feed(
        feeds_engine,
        police,
        write_csv(tmp_path / "ga.csv", PEOPLE_HEADER, [_resident(resident, room, name="王芳")]),
        matcher,
        by="police",
    )
    civil = people_feed(
        "T-AUTH-MZ",
        department="civil_affairs",
        resource="MZ-GA-001",
        columns={**people_feed("T-X").columns, "careTags": "关爱标签"},
        values={
            **people_feed("T-X").values,
            "careTags": {"独居老人": "ELDERLY_ALONE", "低保": "LOW_INCOME"},
        },
    )
    header = (*PEOPLE_HEADER, "关爱标签")
    path = write_csv(
        tmp_path / "mz.csv", header, [[*_resident(resident, room, name="王方"), "独居老人、低保"]]
    )
    report = await run_feed(feeds_engine, civil, path, matcher, by="civil")
    assert (report.updated, report.conflicts) == (1, 1)
    async with feeds_engine.connect() as connection:
        person = (
            await connection.execute(select(Person).where(Person.id_number == resident))
        ).one()
        conflict = (
            await connection.execute(
                select(FeedConflict).where(FeedConflict.run_id == report.run_id)
            )
        ).one()
    # The police's name stands (they are its authority); civil affairs' care tags are written
    # (they are theirs).
    assert person.name == "王芳"
    assert person.care_tags == ",elderly_alone,low_income,"
    assert (
        conflict.target,
        conflict.row_key,
        conflict.field,
        conflict.grid_code,
        conflict.authoritative_department,
        conflict.authoritative_value,
        conflict.observed_department,
        conflict.observed_value,
        conflict.feed,
        conflict.status,
    ) == (
        "people",
        str(person.id),
        "name",
        person.grid_code,
        "public_security",
        "王芳",
        "civil_affairs",
        "王方",
        "T-AUTH-MZ",
        "open",
    )
    again = await run_feed(feeds_engine, civil, path, matcher, by="civil")
    assert (again.updated, again.unchanged, again.conflicts) == (0, 1, 0)  # not raised twice
