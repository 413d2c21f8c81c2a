"""A feed run end to end on a real database: snapshot and delta, idempotence, provenance,
history, tombstones, unplaced addresses, and every reason a row is rejected."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from addresses.matcher import Matcher
from catalog.feed_files import FeedDefinition
from demo import District
from feeds.run import run_feed
from store.models import AddressCandidate, FeedRun, Person, RemovedRow, RowChange
from tests.feeds.helpers import (
    PEOPLE_HEADER,
    new_id_number,
    people_feed,
    room_addresses,
    write_csv,
)

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


async def _people(engine: AsyncEngine, feed: str) -> dict[str, Any]:
    async with engine.connect() as connection:
        rows = await connection.execute(select(Person).where(Person.source_feed == feed))
        return {row.id_number: row for row in rows}


async def _run(
    engine: AsyncEngine,
    feed: FeedDefinition,
    path: Path,
    matcher: Matcher,
    at: datetime = T0,
    **options: Any,
) -> Any:
    return await run_feed(engine, feed, path, matcher, by="tester", now=at, **options)


def _resident(id_number: str, address: str, name: str = "陈小梅", kind: str = "租住") -> list[str]:
    return [id_number, name, "13800138000", "流动", kind, address]


async def test_a_snapshot_inserts_places_and_records_its_source_and_a_rerun_changes_nothing(
    tmp_path: Path, feeds_engine: AsyncEngine, matcher: Matcher, district: District
) -> None:
    feed = people_feed("T-SNAP-1")
    rooms = room_addresses(district, 3)
    ids = [new_id_number() for _ in rooms]
    path = write_csv(
        tmp_path / "residents.csv",
        PEOPLE_HEADER,
        [_resident(i, room["text"]) for i, room in zip(ids, rooms, strict=True)],
    )
    report = await _run(feeds_engine, feed, path, matcher)
    assert report.counts() == {
        "read": 3,
        "inserted": 3,
        "updated": 0,
        "unchanged": 0,
        "removed": 0,
        "rejected": 0,
        "unmatched": 0,
        "conflicts": 0,
    }
    stored = await _people(feeds_engine, "T-SNAP-1")
    assert set(stored) == set(ids)
    for id_number, room in zip(ids, rooms, strict=True):
        person = stored[id_number]
        assert person.room_code == room["room_code"]
        assert person.house_code == room["house_code"]
        assert person.grid_code == room["grid_code"]
        # Gender and birth date are read from the ID number when the export has none.
        assert person.birth_date == date(1985, 3, 15)
        assert person.gender == ("male" if int(id_number[16]) % 2 else "female")
        assert person.registration == "floating"
        assert person.residence_kind == "renter"
        assert (person.source_department, person.source_feed, person.source_run) == (
            "public_security",
            "T-SNAP-1",
            report.run_id,
        )
        assert person.source_at == T0
        assert person.updated_at == T0

    again = await _run(feeds_engine, feed, path, matcher, at=T0 + timedelta(days=1))
    assert (again.inserted, again.updated, again.unchanged, again.removed) == (0, 0, 3, 0)
    after = await _people(feeds_engine, "T-SNAP-1")
    assert {k: (v.updated_at, v.source_run) for k, v in after.items()} == {
        k: (v.updated_at, v.source_run) for k, v in stored.items()
    }
    async with feeds_engine.connect() as connection:
        runs = (
            await connection.execute(
                select(FeedRun.id, FeedRun.status, FeedRun.counts, FeedRun.file_sha256)
                .where(FeedRun.feed == "T-SNAP-1")
                .order_by(FeedRun.id)
            )
        ).all()
    assert [run.status for run in runs] == ["succeeded", "succeeded"]
    assert runs[0].file_sha256 == runs[1].file_sha256 == report.file_sha256
    assert runs[1].counts["unchanged"] == 3


async def test_changes_are_written_with_history_and_absent_rows_leave_tombstones(
    tmp_path: Path, feeds_engine: AsyncEngine, matcher: Matcher, district: District
) -> None:
    feed = people_feed("T-SNAP-2")
    rooms = room_addresses(district, 3, skip=10)
    ids = [new_id_number() for _ in rooms]
    first = write_csv(
        tmp_path / "day1.csv",
        PEOPLE_HEADER,
        [_resident(i, room["text"]) for i, room in zip(ids, rooms, strict=True)],
    )
    await _run(feeds_engine, feed, first, matcher)
    before = await _people(feeds_engine, "T-SNAP-2")
    moved_to = room_addresses(district, 1, skip=40)[0]
    second = write_csv(
        tmp_path / "day2.csv",
        PEOPLE_HEADER,
        [
            _resident(ids[0], rooms[0]["text"], name="陈晓梅"),  # renamed
            _resident(ids[1], moved_to["text"], kind="自有"),  # moved, now an owner
        ],  # ids[2] is gone
    )
    later = T0 + timedelta(days=1)
    report = await _run(feeds_engine, feed, second, matcher, at=later)
    assert (report.inserted, report.updated, report.unchanged, report.removed) == (0, 2, 0, 1)
    after = await _people(feeds_engine, "T-SNAP-2")
    assert set(after) == {ids[0], ids[1]}
    assert after[ids[0]].name == "陈晓梅"
    assert after[ids[1]].room_code == moved_to["room_code"]
    assert after[ids[1]].updated_at == later
    assert after[ids[1]].source_run == report.run_id
    async with feeds_engine.connect() as connection:
        history = (
            await connection.execute(
                select(RowChange.row_key, RowChange.field, RowChange.old_value, RowChange.new_value)
                .where(RowChange.source_ref == str(report.run_id))
                .order_by(RowChange.row_key, RowChange.field)
            )
        ).all()
        tombstones = (
            await connection.execute(
                select(RemovedRow.row_key, RemovedRow.grid_code, RemovedRow.removed_at).where(
                    RemovedRow.source_ref == f"T-SNAP-2/{report.run_id}"
                )
            )
        ).all()
    renamed, moved = str(before[ids[0]].id), str(before[ids[1]].id)
    changes = {(row.row_key, row.field): (row.old_value, row.new_value) for row in history}
    assert changes[(renamed, "name")] == ("陈小梅", "陈晓梅")
    assert changes[(moved, "residenceKind")] == ("renter", "owner")
    assert changes[(moved, "room")] == (rooms[1]["room_code"], moved_to["room_code"])
    assert (moved, "name") not in changes  # unchanged fields leave no history
    assert [tuple(t) for t in tombstones] == [
        (str(before[ids[2]].id), before[ids[2]].grid_code, later)
    ]


async def test_every_bad_row_is_rejected_with_its_reason_and_the_run_goes_on(
    tmp_path: Path, feeds_engine: AsyncEngine, matcher: Matcher, district: District
) -> None:
    feed = people_feed("T-REJECT")
    room = room_addresses(district, 1, skip=60)[0]["text"]
    good = new_id_number()
    bad_check = good[:17] + ("0" if good[17] != "0" else "1")
    other = new_id_number()
    path = write_csv(
        tmp_path / "bad.csv",
        PEOPLE_HEADER,
        [
            _resident(good, room),  # line 2: good
            _resident(bad_check, room),  # 3: check digit
            _resident("", room),  # 4: no key
            _resident(good, room, name="又一个"),  # 5: duplicate of line 2
            [other, "王五", "13800138000", "外星", "租住", room],  # 6: unknown enum value
            [new_id_number(), "赵六", "12345", "户籍", "租住", room],  # 7: bad phone
            [new_id_number(), "", "13800138000", "户籍", "租住", room],  # 8: no name
        ],
    )
    report = await _run(feeds_engine, feed, path, matcher)
    reasons = {(r.line, r.code) for r in report.rejects}
    assert reasons == {
        (3, "invalid_id_number"),
        (4, "missing_key"),
        (5, "duplicate_key"),
        (6, "unknown_value"),
        (7, "bad_phone"),
        (8, "missing_value"),
    }
    assert (report.read, report.inserted, report.rejected) == (7, 1, 6)
    assert all(r.reason for r in report.rejects)
    assert set(await _people(feeds_engine, "T-REJECT")) == {good}


async def test_a_date_that_does_not_parse_is_rejected(
    tmp_path: Path, feeds_engine: AsyncEngine, matcher: Matcher, district: District
) -> None:
    columns = dict(people_feed("T-DATE").columns, birthDate="出生日期")
    feed = people_feed("T-DATE", columns=columns)
    room = room_addresses(district, 1, skip=70)[0]["text"]
    first, second = new_id_number(), new_id_number()
    path = write_csv(
        tmp_path / "dates.csv",
        (*PEOPLE_HEADER, "出生日期"),
        [
            [*_resident(first, room), "1985年3月15日"],
            [*_resident(second, room), "1985-02-30"],
        ],
    )
    report = await _run(feeds_engine, feed, path, matcher)
    assert [(r.line, r.code, r.field) for r in report.rejects] == [(3, "bad_date", "birthDate")]
    assert set(await _people(feeds_engine, "T-DATE")) == {first}


async def test_a_snapshot_keeps_a_row_whose_line_was_rejected_this_time(
    tmp_path: Path, feeds_engine: AsyncEngine, matcher: Matcher, district: District
) -> None:
    feed = people_feed("T-KEEP")
    room = room_addresses(district, 1, skip=80)[0]["text"]
    resident = new_id_number()
    await _run(
        feeds_engine,
        feed,
        write_csv(tmp_path / "a.csv", PEOPLE_HEADER, [_resident(resident, room)]),
        matcher,
    )
    bad_today = [resident, "陈小梅", "13800138000", "外星", "租住", room]
    report = await _run(
        feeds_engine, feed, write_csv(tmp_path / "b.csv", PEOPLE_HEADER, [bad_today]), matcher
    )
    assert (report.rejected, report.removed) == (1, 0)
    assert set(await _people(feeds_engine, "T-KEEP")) == {resident}


async def test_an_address_the_matcher_can_not_place_is_kept_as_a_candidate_not_dropped(
    tmp_path: Path, feeds_engine: AsyncEngine, matcher: Matcher, district: District
) -> None:
    feed = people_feed("T-UNPLACED")
    resident = new_id_number()
    path = write_csv(
        tmp_path / "unplaced.csv", PEOPLE_HEADER, [_resident(resident, "火星基地一号楼")]
    )
    report = await _run(feeds_engine, feed, path, matcher)
    assert (report.read, report.inserted, report.unmatched, report.rejected) == (1, 0, 1, 0)
    async with feeds_engine.connect() as connection:
        kept = (
            await connection.execute(
                select(AddressCandidate).where(AddressCandidate.run_id == report.run_id)
            )
        ).one()
    assert (kept.feed, kept.target, kept.row_key, kept.raw_address, kept.status) == (
        "T-UNPLACED",
        "people",
        resident,
        "火星基地一号楼",
        "open",
    )
    assert isinstance(orjson.loads(kept.candidates), list)


async def test_a_delta_run_inserts_updates_and_deletes_as_each_row_says(
    tmp_path: Path, feeds_engine: AsyncEngine, matcher: Matcher, district: District
) -> None:
    feed = people_feed("T-DELTA", mode="delta", operation="操作")
    rooms = room_addresses(district, 3, skip=90)
    a, b, c = (new_id_number() for _ in range(3))
    header = (*PEOPLE_HEADER, "操作")
    first = write_csv(
        tmp_path / "d1.csv",
        header,
        [[*_resident(a, rooms[0]["text"]), "I"], [*_resident(b, rooms[1]["text"]), "新增"]],
    )
    one = await _run(feeds_engine, feed, first, matcher)
    assert (one.inserted, one.removed) == (2, 0)
    second = write_csv(
        tmp_path / "d2.csv",
        header,
        [
            [*_resident(a, rooms[0]["text"], name="陈晓梅"), "U"],
            [b, "", "", "", "", "", "D"],
            [*_resident(c, rooms[2]["text"]), "insert"],
            [*_resident(new_id_number(), rooms[2]["text"]), "挪走"],
        ],
    )
    two = await _run(feeds_engine, feed, second, matcher, at=T0 + timedelta(hours=1))
    assert (two.inserted, two.updated, two.removed, two.rejected) == (1, 1, 1, 1)
    assert two.rejects[0].code == "bad_operation"
    stored = await _people(feeds_engine, "T-DELTA")
    assert set(stored) == {a, c}
    assert stored[a].name == "陈晓梅"
    # A delta run removes only what it deletes: a's absence from a later file is no removal.
    three = write_csv(tmp_path / "d3.csv", header, [[*_resident(c, rooms[2]["text"]), "U"]])
    assert (await _run(feeds_engine, feed, three, matcher)).removed == 0
    assert set(await _people(feeds_engine, "T-DELTA")) == {a, c}


async def test_a_dry_run_reports_the_counts_and_writes_nothing(
    tmp_path: Path, feeds_engine: AsyncEngine, matcher: Matcher, district: District
) -> None:
    feed = people_feed("T-DRY")
    room = room_addresses(district, 1, skip=100)[0]["text"]
    path = write_csv(tmp_path / "dry.csv", PEOPLE_HEADER, [_resident(new_id_number(), room)])
    report = await _run(feeds_engine, feed, path, matcher, dry_run=True)
    assert (report.inserted, report.status, report.run_id) == (1, "dry_run", None)
    assert await _people(feeds_engine, "T-DRY") == {}
    async with feeds_engine.connect() as connection:
        assert (await connection.scalar(select(FeedRun.id).where(FeedRun.feed == "T-DRY"))) is None


@pytest.mark.parametrize("fmt", ["jsonl", "xlsx"])
async def test_json_lines_and_workbooks_are_read_like_csv(
    fmt: str, tmp_path: Path, feeds_engine: AsyncEngine, matcher: Matcher, district: District
) -> None:
    feed = people_feed(f"T-FMT-{fmt.upper()}", format=fmt)
    room = room_addresses(district, 1, skip=110)[0]
    resident = new_id_number()
    values = dict(zip(PEOPLE_HEADER, _resident(resident, room["text"]), strict=True))
    path = tmp_path / f"export.{fmt}"
    if fmt == "jsonl":
        path.write_bytes(orjson.dumps(values) + b"\n" + b"{not json\n")
    else:
        from openpyxl import Workbook

        book = Workbook()
        sheet = book.active
        assert sheet is not None
        sheet.append(list(PEOPLE_HEADER))
        sheet.append(list(values.values()))
        book.save(path)
    report = await _run(feeds_engine, feed, path, matcher)
    assert report.inserted == 1
    assert (await _people(feeds_engine, feed.code))[resident].room_code == room["room_code"]
    if fmt == "jsonl":
        assert [(r.line, r.code) for r in report.rejects] == [(2, "bad_line")]


async def test_the_packaged_market_regulation_feed_registers_changes_and_deregisters_entities(
    tmp_path: Path, feeds_engine: AsyncEngine, matcher: Matcher, district: District
) -> None:
    from catalog import feed_store
    from store.models import Entity
    from tests.feeds.helpers import new_credit_code

    async with feeds_engine.connect() as connection:
        feed = await feed_store.get(connection, "SC-DJ-FEED")
    assert feed is not None
    house = district.houses[5]
    code = new_credit_code()
    row = {
        "统一社会信用代码": code,
        "企业名称": "深圳市宝安区新桥五金加工厂",
        "主体类型": "个人独资企业",
        "行业": "manufacturing",
        "登记状态": "存续",
        "成立日期": "2019/04/08",
        "住所": house["address"],
        "变更类型": "新增",
    }
    first = tmp_path / "day1.jsonl"
    first.write_bytes(orjson.dumps(row) + b"\n")
    report = await _run(feeds_engine, feed, first, matcher)
    assert (report.inserted, report.rejected, report.unmatched) == (1, 0, 0)
    second = tmp_path / "day2.jsonl"
    second.write_bytes(
        orjson.dumps(row | {"登记状态": "经营异常", "变更类型": "变更"})
        + b"\n"
        + orjson.dumps({"统一社会信用代码": code[:17] + "?", "变更类型": "注销"})
        + b"\n"
    )
    changed = await _run(feeds_engine, feed, second, matcher, at=T0 + timedelta(days=1))
    assert (changed.updated, changed.rejected) == (1, 1)
    assert changed.rejects[0].code == "invalid_credit_code"
    async with feeds_engine.connect() as connection:
        entity = (await connection.execute(select(Entity).where(Entity.credit_code == code))).one()
    assert (entity.status, entity.type, entity.house_code, entity.grid_code) == (
        "abnormal",
        "sole_proprietorship",
        house["code"],
        house["grid_code"],
    )
    assert entity.established_on == date(2019, 4, 8)
    third = tmp_path / "day3.jsonl"
    third.write_bytes(orjson.dumps({"统一社会信用代码": code, "变更类型": "注销"}) + b"\n")
    gone = await _run(feeds_engine, feed, third, matcher, at=T0 + timedelta(days=2))
    assert gone.removed == 1
    async with feeds_engine.connect() as connection:
        tombstone = (
            await connection.execute(
                select(RemovedRow.target, RemovedRow.grid_code).where(RemovedRow.row_key == code)
            )
        ).one()
    assert tuple(tombstone) == ("entities", house["grid_code"])
