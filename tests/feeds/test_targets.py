"""Feeds of houses (building code), rooms (room code) and events (the source system's id), run
end to end on a real database like the residents' feed: placed, checked row by row, snapshot
and delta, idempotent, traced to their source, all or nothing, and conflicts kept."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import shapely
from shapely.geometry import shape
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from addresses.matcher import Matcher
from catalog.feed_files import FeedDefinition, parse_feed
from demo import District
from feeds.run import FeedRunFailed, run_feed
from store.models import (
    AddressCandidate,
    Event,
    EventAction,
    FeedConflict,
    House,
    RemovedRow,
    Room,
    RowChange,
)
from tests.feeds.helpers import write_csv

T0 = datetime(2026, 11, 5, 8, 0, tzinfo=UTC)
_serial = itertools.count(1)

HOUSE_HEADER = ("楼栋编码", "楼栋地址", "房屋用途", "地上层数", "建成年份", "经度", "纬度")
ROOM_HEADER = ("变更类型", "房间编码", "房号", "所在楼层", "建筑面积", "房屋地址")
EVENT_HEADER = ("工单编号", "来源渠道", "诉求类型", "诉求内容", "来电人", "来电时间", "事发地址")


def _feed(code: str, target: str, **table: Any) -> FeedDefinition:
    base: dict[str, Any] = {
        "code": code,
        "name": code,
        "target": target,
        "format": "csv",
        "mode": "snapshot",
        "update_frequency": "DAILY",
    }
    table = {k: v for k, v in (base | table).items() if v is not None}
    return parse_feed(table, code, "tests")


def houses_feed(code: str, **overrides: Any) -> FeedDefinition:
    """The housing bureau's buildings (snapshot)."""
    table: dict[str, Any] = {
        "department": "housing",
        "resource": "FW-JC-001",
        "key": "code",
        "address": "楼栋地址",
        "columns": {
            "code": "楼栋编码",
            "address": "楼栋地址",
            "use": "房屋用途",
            "floors": "地上层数",
            "builtYear": "建成年份",
            "lon": "经度",
            "lat": "纬度",
        },
        "values": {"use": {"住宅": "RESIDENTIAL", "城中村": "URBAN_VILLAGE", "商业": "COMMERCIAL"}},
    }
    return _feed(code, "houses", **(table | overrides))


def rooms_feed(code: str, **overrides: Any) -> FeedDefinition:
    """The housing bureau's rental rooms (delta)."""
    table: dict[str, Any] = {
        "department": "housing",
        "resource": "FW-FJ-002",
        "key": "code",
        "mode": "delta",
        "operation": "变更类型",
        "address": "房屋地址",
        "columns": {
            "code": "房间编码",
            "number": "房号",
            "floor": "所在楼层",
            "areaM2": "建筑面积",
        },
    }
    return _feed(code, "rooms", **(table | overrides))


def events_feed(code: str, **overrides: Any) -> FeedDefinition:
    """The 12345 hotline's tickets (snapshot unless told)."""
    table: dict[str, Any] = {
        "department": "grid_office",
        "resource": "SJ-JC-002",
        "key": "sourceEventId",
        "address": "事发地址",
        "columns": {
            "sourceEventId": "工单编号",
            "source": "来源渠道",
            "categoryCode": "诉求类型",
            "description": "诉求内容",
            "reporter": "来电人",
            "reportedAt": "来电时间",
        },
        "values": {
            "source": {"12345热线": "HOTLINE_12345"},
            "categoryCode": {"噪声扰民": "noise_nuisance", "占道经营": "street_vending"},
        },
    }
    return _feed(code, "events", **(table | overrides))


def _house_addresses(district: District, count: int, skip: int) -> list[dict[str, Any]]:
    return [a for a in district.addresses if a["room_code"] is None][skip : skip + count]


def _inside(district: District, grid: int) -> tuple[str, float, float]:
    """A grid's code and a point well inside it."""
    row = [g for g in district.grids if g["level"] == "grid"][grid]
    point = shape(orjson.loads(row["geometry"])).representative_point()
    return row["code"], round(point.x, 6), round(point.y, 6)


def _new_building(district: District, grid: int, use: str = "住宅") -> list[Any]:
    """A building the address base does not hold yet: placed by its point."""
    n = next(_serial)
    _, lon, lat = _inside(district, grid)
    address = f"宝安区新安街道测试社区新建路{900 + n}号新建楼{n}栋"
    return [f"T{n:05d}B", address, use, "12", "2024", lon, lat]


async def _run(
    engine: AsyncEngine, feed: FeedDefinition, path: Path, matcher: Matcher, **options: Any
) -> Any:
    options.setdefault("now", T0)
    return await run_feed(engine, feed, path, matcher, by="tester", **options)


async def _rows(engine: AsyncEngine, model: Any, feed: str) -> dict[str, Any]:
    key = model.source_event_id if model is Event else model.code
    async with engine.connect() as connection:
        rows = await connection.execute(select(model).where(model.source_feed == feed))
        return {getattr(row, key.key): row for row in rows}


async def _count(engine: AsyncEngine, model: Any, *where: Any) -> int:
    async with engine.connect() as connection:
        return int(await connection.scalar(select(func.count()).select_from(model).where(*where)))


# Houses


async def test_a_houses_snapshot_places_buildings_records_their_source_and_reruns_change_nothing(
    tmp_path: Path, feeds_engine: AsyncEngine, matcher: Matcher, district: District
) -> None:
    feed = houses_feed("T-HOUSES-1")
    rows = [_new_building(district, 0), _new_building(district, 3, "商业")]
    path = write_csv(tmp_path / "houses.csv", HOUSE_HEADER, rows)
    report = await _run(feeds_engine, feed, path, matcher)
    assert report.counts() == {
        "read": 2,
        "inserted": 2,
        "updated": 0,
        "unchanged": 0,
        "removed": 0,
        "rejected": 0,
        "unmatched": 0,
        "conflicts": 0,
    }
    stored = await _rows(feeds_engine, House, "T-HOUSES-1")
    first = stored[rows[0][0]]
    assert first.grid_code == _inside(district, 0)[0]  # the grid covering its point
    assert stored[rows[1][0]].grid_code == _inside(district, 3)[0]
    assert (first.address, first.use, first.floors, first.built_year) == (
        rows[0][1],
        "residential",
        12,
        2024,
    )
    assert (first.source_department, first.source_run, first.source_at) == (
        "housing",
        report.run_id,
        T0,
    )

    again = await _run(feeds_engine, feed, path, matcher, now=T0 + timedelta(days=1))
    assert (again.inserted, again.updated, again.unchanged, again.removed) == (0, 0, 2, 0)
    after = await _rows(feeds_engine, House, "T-HOUSES-1")
    assert {k: v.updated_at for k, v in after.items()} == {k: T0 for k in stored}


async def test_a_houses_snapshot_updates_with_history_and_removes_only_what_nothing_names(
    tmp_path: Path, feeds_engine: AsyncEngine, matcher: Matcher, district: District
) -> None:
    feed = houses_feed("T-HOUSES-2")
    kept, dropped, named = (_new_building(district, 1) for _ in range(3))
    await _run(
        feeds_engine,
        feed,
        write_csv(tmp_path / "a.csv", HOUSE_HEADER, [kept, dropped, named]),
        matcher,
    )
    # A room is recorded in one building: a house that rooms still name is not removed.
    async with feeds_engine.begin() as connection:
        await connection.execute(
            insert(Room).values(
                code=f"{named[0]}0101",
                house_code=named[0],
                number="0101",
                floor=1,
                area_m2=40.0,
                grid_code=_inside(district, 1)[0],
            )
        )
    later = T0 + timedelta(days=7)
    changed = [*kept[:2], "城中村", "13", *kept[4:]]
    report = await _run(
        feeds_engine,
        feed,
        write_csv(tmp_path / "b.csv", HOUSE_HEADER, [changed]),
        matcher,
        now=later,
    )
    assert (report.inserted, report.updated, report.unchanged, report.removed) == (0, 1, 0, 1)
    stored = await _rows(feeds_engine, House, "T-HOUSES-2")
    assert set(stored) == {kept[0], named[0]}
    assert (stored[kept[0]].use, stored[kept[0]].floors) == ("urban_village", 13)
    assert stored[kept[0]].updated_at == later
    async with feeds_engine.connect() as connection:
        history = {
            (r.field, r.old_value, r.new_value)
            for r in await connection.execute(
                select(RowChange).where(RowChange.target == "houses", RowChange.row_key == kept[0])
            )
        }
        tombstones = (
            await connection.execute(
                select(RemovedRow.target, RemovedRow.row_key).where(
                    RemovedRow.source_ref == f"T-HOUSES-2/{report.run_id}"
                )
            )
        ).all()
    assert history == {("use", "residential", "urban_village"), ("floors", "12", "13")}
    assert [tuple(t) for t in tombstones] == [("houses", dropped[0])]


async def test_every_bad_house_row_is_rejected_with_its_reason(
    tmp_path: Path, feeds_engine: AsyncEngine, matcher: Matcher, district: District
) -> None:
    good = _new_building(district, 2)
    rows = [
        ["", *good[1:]],  # line 2: no building code
        [*good[:2], "别墅", *good[3:]],  # 3: a use neither the hub nor the feed knows
        [*good[:3], "六层", *good[4:]],  # 4: floors not a number
        [*good[:3], "500", *good[4:]],  # 5: floors out of range
        [*good[:5], "200.5", good[6]],  # 6: a longitude outside the Earth
        [good[0], "宝" * 161, *good[2:]],  # 7: an address too long
        [*good[:3], "", *good[4:]],  # 8: floors empty (required)
        good,  # 9: fine
        good,  # 10: the same building again
    ]
    report = await _run(
        feeds_engine,
        houses_feed("T-HOUSES-BAD"),
        write_csv(tmp_path / "bad.csv", HOUSE_HEADER, rows),
        matcher,
    )
    assert [(r.line, r.field, r.code) for r in report.rejects] == [
        (2, "code", "missing_key"),
        (3, "use", "unknown_value"),
        (4, "floors", "bad_number"),
        (5, "floors", "out_of_range"),
        (6, "lon", "out_of_range"),
        (7, "address", "too_long"),
        (8, "floors", "missing_value"),
        (10, "code", "duplicate_key"),
    ]
    assert (report.read, report.inserted, report.rejected) == (9, 1, 8)


async def test_a_house_whose_address_names_another_building_is_a_candidate_not_a_house(
    tmp_path: Path, feeds_engine: AsyncEngine, matcher: Matcher, district: District
) -> None:
    other = _house_addresses(district, 1, skip=5)[0]
    row = _new_building(district, 0)
    row[1] = other["text"]  # the standard address of a building the hub holds
    report = await _run(
        feeds_engine,
        houses_feed("T-HOUSES-ELSEWHERE"),
        write_csv(tmp_path / "h.csv", HOUSE_HEADER, [row]),
        matcher,
    )
    assert (report.inserted, report.unmatched) == (0, 1)
    assert await _count(feeds_engine, House, House.code == row[0]) == 0
    async with feeds_engine.connect() as connection:
        candidate = (
            await connection.execute(
                select(AddressCandidate).where(AddressCandidate.run_id == report.run_id)
            )
        ).one()
    assert (candidate.target, candidate.row_key) == ("houses", row[0])
    assert orjson.loads(candidate.candidates)[0]["house_code"] == other["house_code"]


async def test_another_departments_floors_are_a_conflict_kept_not_written(
    tmp_path: Path, feeds_engine: AsyncEngine, matcher: Matcher, district: District
) -> None:
    row = _new_building(district, 4)
    await _run(
        feeds_engine,
        houses_feed("T-HOUSES-AUTH"),
        write_csv(tmp_path / "a.csv", HOUSE_HEADER, [row]),
        matcher,
    )
    # The fire brigade's inspection export counts 15 floors.
    fire = houses_feed("T-HOUSES-FIRE", department="fire")
    report = await _run(
        feeds_engine,
        fire,
        write_csv(tmp_path / "f.csv", HOUSE_HEADER, [[*row[:3], "15", *row[4:]]]),
        matcher,
    )
    assert (report.conflicts, report.updated) == (1, 0)
    stored = await _rows(feeds_engine, House, "T-HOUSES-AUTH")
    assert stored[row[0]].floors == 12  # housing's value stands
    async with feeds_engine.connect() as connection:
        conflict = (
            await connection.execute(
                select(FeedConflict).where(FeedConflict.feed == "T-HOUSES-FIRE")
            )
        ).one()
    assert (
        conflict.target,
        conflict.row_key,
        conflict.field,
        conflict.authoritative_department,
        conflict.authoritative_value,
        conflict.observed_department,
        conflict.observed_value,
    ) == ("houses", row[0], "floors", "housing", "12", "fire", "15")


# Rooms


async def test_a_rooms_delta_inserts_updates_and_deletes_rooms_of_a_building(
    tmp_path: Path, feeds_engine: AsyncEngine, matcher: Matcher, district: District
) -> None:
    house = _house_addresses(district, 1, skip=20)[0]
    feed = rooms_feed("T-ROOMS-1")
    a, b = f"T{next(_serial):05d}R", f"T{next(_serial):05d}R"
    first = [
        ["新增", a, "0901", "9", "35.5", house["text"]],
        ["I", b, "0902", "9", "48", house["text"]],
    ]
    report = await _run(
        feeds_engine, feed, write_csv(tmp_path / "1.csv", ROOM_HEADER, first), matcher
    )
    assert (report.inserted, report.unmatched, report.rejected) == (2, 0, 0)
    stored = await _rows(feeds_engine, Room, "T-ROOMS-1")
    assert {(r.house_code, r.grid_code, r.number, r.floor, r.area_m2) for r in stored.values()} == {
        (house["house_code"], house["grid_code"], "0901", 9, 35.5),
        (house["house_code"], house["grid_code"], "0902", 9, 48.0),
    }
    again = await _run(
        feeds_engine, feed, write_csv(tmp_path / "1.csv", ROOM_HEADER, first), matcher
    )
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 2)

    later = T0 + timedelta(days=1)
    second = [["修改", a, "0901", "9", "36", house["text"]], ["删除", b, "", "", "", ""]]
    report = await _run(
        feeds_engine, feed, write_csv(tmp_path / "2.csv", ROOM_HEADER, second), matcher, now=later
    )
    assert (report.inserted, report.updated, report.removed) == (0, 1, 1)
    stored = await _rows(feeds_engine, Room, "T-ROOMS-1")
    assert set(stored) == {a}
    assert stored[a].area_m2 == 36.0
    assert (
        await _count(
            feeds_engine, RemovedRow, RemovedRow.target == "rooms", RemovedRow.row_key == b
        )
        == 1
    )


async def test_rooms_rows_are_rejected_with_their_reasons_and_a_named_room_is_not_removed(
    tmp_path: Path, feeds_engine: AsyncEngine, matcher: Matcher, district: District
) -> None:
    house = _house_addresses(district, 1, skip=21)[0]
    standard = next(
        a for a in district.addresses if a["room_code"] and a["house_code"] == house["house_code"]
    )
    code = f"T{next(_serial):05d}R"
    rows = [
        ["新增", code, "0101", "一楼", "30", house["text"]],  # 2: floor not a number
        ["新增", code, "0101", "1", "0", house["text"]],  # 3: area out of range
        ["新增", code, "", "1", "30", house["text"]],  # 4: no room number
        ["迁入", code, "0101", "1", "30", house["text"]],  # 5: an operation nobody knows
        ["删除", standard["room_code"], "", "", "", ""],  # 6: a room the address base names
    ]
    report = await _run(
        feeds_engine,
        rooms_feed("T-ROOMS-BAD"),
        write_csv(tmp_path / "r.csv", ROOM_HEADER, rows),
        matcher,
    )
    assert [(r.line, r.field, r.code) for r in report.rejects] == [
        (2, "floor", "bad_number"),
        (3, "areaM2", "out_of_range"),
        (4, "number", "missing_value"),
        (5, None, "bad_operation"),
    ]
    assert report.removed == 0
    assert await _count(feeds_engine, Room, Room.code == standard["room_code"]) == 1


# Events


def _ticket(number: str, kind: str, address: str, at: str = "2026-11-05 09:30:00") -> list[str]:
    return [number, "12345热线", kind, "夜间施工噪声扰民，影响休息。", "王先生", at, address]


async def test_hotline_tickets_enter_the_workflow_placed_and_routed_by_the_matter_list(
    tmp_path: Path, feeds_engine: AsyncEngine, matcher: Matcher, district: District
) -> None:
    houses = _house_addresses(district, 2, skip=30)
    feed = events_feed("T-EVENTS-1")
    n = next(_serial)
    rows = [
        _ticket(f"GD{n}01", "噪声扰民", houses[0]["text"]),
        _ticket(f"GD{n}02", "street_vending", houses[1]["text"], "2026/11/05 10:00"),
    ]
    path = write_csv(tmp_path / "t.csv", EVENT_HEADER, rows)
    report = await _run(feeds_engine, feed, path, matcher)
    assert (report.inserted, report.rejected, report.unmatched) == (2, 0, 0)
    stored = await _rows(feeds_engine, Event, "T-EVENTS-1")
    noise = stored[f"GD{n}01"]
    point = next(h for h in district.houses if h["code"] == houses[0]["house_code"])
    assert (noise.house_code, noise.grid_code, noise.lon, noise.lat) == (
        point["code"],
        point["grid_code"],
        point["lon"],
        point["lat"],
    )
    assert noise.source == "hotline_12345"
    assert noise.reported_at == datetime(2026, 11, 5, 1, 30, tzinfo=UTC)  # 09:30 in Shenzhen
    matter = next(m for m in district.matters if m["code"] == "noise_nuisance")
    assert (noise.status, noise.handling_department_code, noise.dispatched_at) == (
        "dispatched",
        matter["department_code"],
        T0,
    )
    assert noise.deadline == noise.reported_at + timedelta(hours=matter["time_limit_hours"])
    async with feeds_engine.connect() as connection:
        steps = (
            await connection.execute(
                select(
                    EventAction.action,
                    EventAction.from_status,
                    EventAction.to_status,
                    EventAction.actor,
                    EventAction.actor_department,
                    EventAction.department_code,
                )
                .where(EventAction.event_id == noise.id)
                .order_by(EventAction.id)
            )
        ).all()
    assert [tuple(s) for s in steps] == [
        ("report", None, "reported", "tester", "grid_office", None),
        ("dispatch", "reported", "dispatched", "hub", None, matter["department_code"]),
    ]

    # A re-run changes nothing and adds no steps; a changed description is an update, a
    # changed category is not (the routing is the workflow's once the event exists).
    again = await _run(feeds_engine, feed, path, matcher, now=T0 + timedelta(hours=1))
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 2)
    edited = [[*rows[0][:2], "占道经营", "夜间施工噪声，已多次投诉。", *rows[0][4:]], rows[1]]
    later = T0 + timedelta(hours=2)
    report = await _run(
        feeds_engine, feed, write_csv(tmp_path / "e.csv", EVENT_HEADER, edited), matcher, now=later
    )
    assert (report.updated, report.unchanged) == (1, 1)
    after = await _rows(feeds_engine, Event, "T-EVENTS-1")
    assert after[f"GD{n}01"].description == "夜间施工噪声，已多次投诉。"
    assert after[f"GD{n}01"].category_code == "noise_nuisance"
    assert await _count(feeds_engine, EventAction, EventAction.event_id == noise.id) == 2

    # Gone from the snapshot: withdrawn, with a tombstone naming the event's id.
    report = await _run(
        feeds_engine,
        feed,
        write_csv(tmp_path / "g.csv", EVENT_HEADER, [edited[0]]),
        matcher,
        now=later,
    )
    gone = after[f"GD{n}02"]
    assert report.removed == 1
    assert await _count(feeds_engine, Event, Event.id == gone.id) == 0
    assert await _count(feeds_engine, EventAction, EventAction.event_id == gone.id) == 0
    assert (
        await _count(
            feeds_engine,
            RemovedRow,
            RemovedRow.target == "events",
            RemovedRow.row_key == str(gone.id),
            RemovedRow.grid_code == gone.grid_code,
        )
        == 1
    )


async def test_every_bad_ticket_is_rejected_with_its_reason(
    tmp_path: Path, feeds_engine: AsyncEngine, matcher: Matcher, district: District
) -> None:
    house = _house_addresses(district, 1, skip=31)[0]["text"]
    n = next(_serial)
    rows = [
        _ticket("", "噪声扰民", house),  # 2: no ticket number
        _ticket(f"GD{n}02", "噪音", house),  # 3: not in the matter list
        _ticket(f"GD{n}03", "噪声扰民", house, "11月5日上午"),  # 4: not a time
        _ticket(f"GD{n}04", "噪声扰民", house, "2026-11-05 25:10"),  # 5: no such hour
        [f"GD{n}05", "来电", *_ticket("", "噪声扰民", house)[2:]],  # 6: unknown source
        _ticket(f"GD{n}06", "噪声扰民", "火星基地一号楼"),  # 7: fine, but not placed
    ]
    report = await _run(
        feeds_engine,
        events_feed("T-EVENTS-BAD"),
        write_csv(tmp_path / "bad.csv", EVENT_HEADER, rows),
        matcher,
    )
    assert [(r.line, r.field, r.code) for r in report.rejects] == [
        (2, "sourceEventId", "missing_key"),
        (3, "categoryCode", "unknown_value"),
        (4, "reportedAt", "bad_date"),
        (5, "reportedAt", "bad_date"),
        (6, "source", "unknown_value"),
    ]
    assert (report.inserted, report.unmatched) == (0, 1)


async def test_a_hotline_delta_feed_inserts_and_withdraws_tickets(
    tmp_path: Path, feeds_engine: AsyncEngine, matcher: Matcher, district: District
) -> None:
    house = _house_addresses(district, 1, skip=32)[0]["text"]
    feed = events_feed(
        "T-EVENTS-DELTA",
        format="jsonl",
        mode="delta",
        operation="操作",
    )
    n = next(_serial)
    names = EVENT_HEADER

    def line(op: str, ticket: list[str]) -> bytes:
        return orjson.dumps({"操作": op, **dict(zip(names, ticket, strict=True))}) + b"\n"

    first = tmp_path / "1.jsonl"
    first.write_bytes(line("新增", _ticket(f"GD{n}1", "噪声扰民", house)))
    assert (await _run(feeds_engine, feed, first, matcher)).inserted == 1
    second = tmp_path / "2.jsonl"
    second.write_bytes(
        line("删除", [f"GD{n}1", "", "", "", "", "", ""])
        + line("新增", _ticket(f"GD{n}2", "噪声扰民", house))
    )
    report = await _run(feeds_engine, feed, second, matcher)
    assert (report.inserted, report.removed) == (1, 1)
    assert set(await _rows(feeds_engine, Event, "T-EVENTS-DELTA")) == {f"GD{n}2"}


# All or nothing, for each new target


async def _everything(engine: AsyncEngine) -> dict[str, Any]:
    async with engine.connect() as connection:
        found = {}
        for model in (House, Room, Event, EventAction, RowChange, RemovedRow, FeedConflict):
            found[model.__tablename__] = await connection.scalar(
                select(func.count()).select_from(model)
            )
        for model in (House, Room, Event):
            found[f"{model.__tablename__} updated"] = await connection.scalar(
                select(func.max(model.updated_at))
            )
    return found


@pytest.mark.parametrize("target", ["houses", "rooms", "events"])
@pytest.mark.parametrize("step", ["history", "update", "insert", "remove"])
async def test_a_run_killed_mid_merge_leaves_no_half_state(
    target: str,
    step: str,
    tmp_path: Path,
    feeds_engine: AsyncEngine,
    matcher: Matcher,
    district: District,
) -> None:
    code = f"T-KILL-{target.upper()}-{step.upper()}"
    house = _house_addresses(district, 1, skip=40)[0]
    n = next(_serial)
    if target == "houses":
        feed = houses_feed(code)
        a, b = _new_building(district, 5), _new_building(district, 5)
        header: tuple[str, ...] = HOUSE_HEADER
        day1, day2 = [a, b], [[*a[:3], "20", *a[4:]], _new_building(district, 6)]
    elif target == "rooms":
        feed = rooms_feed(code, mode="snapshot", operation=None)
        header = ROOM_HEADER[1:]
        day1 = [
            [f"T{n}R1", "1001", "10", "40", house["text"]],
            [f"T{n}R2", "1002", "10", "40", house["text"]],
        ]
        day2 = [
            [f"T{n}R1", "1001", "10", "41", house["text"]],
            [f"T{n}R3", "1003", "10", "40", house["text"]],
        ]
    else:
        feed = events_feed(code)
        header = EVENT_HEADER
        day1 = [
            _ticket(f"K{n}1", "噪声扰民", house["text"]),
            _ticket(f"K{n}2", "噪声扰民", house["text"]),
        ]
        changed = [*day1[0][:3], "又来了。", *day1[0][4:]]
        day2 = [changed, _ticket(f"K{n}3", "噪声扰民", house["text"])]
    await _run(feeds_engine, feed, write_csv(tmp_path / "1.csv", header, day1), matcher)
    before = await _everything(feeds_engine)

    async def kill(at: str) -> None:
        if at == step:
            raise ConnectionResetError("the database went away")

    with pytest.raises(FeedRunFailed):
        await _run(
            feeds_engine,
            feed,
            write_csv(tmp_path / "2.csv", header, day2),
            matcher,
            now=T0 + timedelta(days=1),
            checkpoint=kill,
        )
    assert await _everything(feeds_engine) == before
    # The same file, run whole, does each thing once.
    report = await _run(
        feeds_engine,
        feed,
        write_csv(tmp_path / "2.csv", header, day2),
        matcher,
        now=T0 + timedelta(days=1),
    )
    assert (report.inserted, report.updated, report.removed) == (1, 1, 1)


def test_houses_of_the_tests_stand_in_their_grids(district: District) -> None:
    """The points the tests give new buildings lie inside the grids they name."""
    for grid in range(7):
        code, lon, lat = _inside(district, grid)
        row = next(g for g in district.grids if g["code"] == code)
        assert shape(orjson.loads(row["geometry"])).covers(shapely.Point(lon, lat))
