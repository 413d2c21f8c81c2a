"""The demo's department feeds: a day of exports from four departments' own systems, written
the way each writes them, gathered through the hub's feeds.

The generator makes the district; these exports are what the departments' systems then send:

- public security (GA-RK-FEED, CSV snapshot): every resident, addresses with the province and
  city in front or a floor before the room, today's new registrations and moves, and the
  lines a registration clerk gets wrong (a bad check digit, an unknown category);
- the housing bureau: every building (FW-LD-FEED, CSV snapshot; it keeps the standard
  addresses, so it writes them as they are), with this week's changes and two new buildings,
  and the day's rental-room changes (FW-CZ-FEED, CSV delta);
- market regulation (SC-DJ-FEED, JSON lines delta): the day's registrations, abnormal-list
  entries and deregistrations, with the registry's own way of writing 住所;
- the 12345 hotline (SJ-12345-FEED, CSV delta, through the grid office): yesterday's tickets
  in the callers' words for the place, in two batches (morning and afternoon, one ticket
  withdrawn), each ticket then placed and routed by the matter list like a reported event.

The same district and seed give the same files; the files are kept (``var/demo-feeds``) so a
data officer can read and run them again.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import orjson
import shapely
from shapely.geometry import shape
from sqlalchemy.ext.asyncio import AsyncEngine

from addresses.matcher import Matcher
from catalog import feed_store
from demo.address_variants import Speller
from demo.generator import District
from feeds.checksums import (
    credit_code_check_char,
    id_number_check_digit,
    organization_code_check_char,
)
from feeds.report import RunReport
from feeds.run import run_feed
from feeds.validate import LOCAL_ZONE

Row = dict[str, Any]
#: Who the demo's runs are recorded as started by.
STARTED_BY = "demo seed"

REGISTRATION = {"local": "户籍", "floating": "流动人口"}
RESIDENCE = {"owner": "自有", "renter": "租住", "dormitory": "单位宿舍"}
HOUSE_USE = {
    "residential": "住宅",
    "urban_village": "城中村自建房",
    "commercial": "商业",
    "industrial": "厂房",
    "public_rental": "公共租赁住房",
    "office": "办公",
}
ENTITY_TYPE = {
    "individual": "个体工商户",
    "limited": "有限责任公司",
    "sole_proprietorship": "个人独资企业",
    "partnership": "合伙企业",
}
ENTITY_STATUS = {"active": "存续", "abnormal": "经营异常", "deregistered": "注销"}
#: The hotline's categories (its own words) and how often callers raise each.
HOTLINE = {
    "噪声扰民": ("noise_nuisance", 6, "{place}附近夜间施工噪声很大，影响休息，请尽快处理。"),
    "占道经营": ("street_vending", 4, "{place}门口有流动摊贩占道经营，行人难以通行。"),
    "垃圾满溢": ("garbage_overflow", 4, "{place}垃圾桶已满溢两天无人清运，气味很大。"),
    "出租屋安全隐患": ("rental_house_hazard", 2, "{place}出租屋私拉电线、楼道堆放杂物。"),
    "电动自行车入户充电": ("ebike_indoor_charging", 2, "{place}有住户把电动车推进楼道充电。"),
    "道路积水": ("waterlogging", 2, "{place}路段下雨后积水严重，车辆无法通行。"),
    "劳资欠薪": ("wage_arrears", 1, "来电人反映在{place}的工厂工作，被拖欠两个月工资。"),
    "邻里纠纷": ("neighbour_dispute", 1, "{place}楼上住户漏水，与邻居协商不成。"),
    "燃气泄漏": ("gas_leak", 1, "{place}楼道闻到明显燃气味，请立即派人查看。"),
}
CALLERS = ("先生", "女士")


@dataclass(frozen=True)
class Export:
    """One file of one feed, as the department's system sent it."""

    feed: str
    path: Path


def _write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> Path:
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _id_number(born: date, serial: int) -> str:
    first17 = f"440306{born:%Y%m%d}{serial % 1000:03d}"
    return first17 + id_number_check_digit(first17)


def _credit_code(serial: int) -> str:
    org8 = f"MA5G{serial:04d}"
    body = "91440306" + org8 + organization_code_check_char(org8)
    return body + credit_code_check_char(body)


class _Places:
    """The district's standard addresses, by building and room code."""

    def __init__(self, district: District) -> None:
        self.by_code = {row["code"]: row for row in district.addresses}
        self.all = district.addresses
        self.houses = [row for row in district.addresses if row["room_code"] is None]

    def of(self, house: str, room: str | None) -> Row:
        """A room's address, else its building's."""
        return self.by_code.get(room or house) or self.by_code[house]


def residents(district: District, places: _Places, rng: random.Random, out: Path) -> Path:
    """Public security's daily residence export: everyone, today's changes, a few bad lines."""
    spell = Speller(places.all, ["city_prefix", "canonical", "floor_room", "full_width"], 11643)
    rows: list[list[Any]] = []
    rooms = [row for row in places.all if row["room_code"]]
    for person in district.people:
        address = places.of(person["house_code"], person["room_code"])
        phone = person["phone"] or ""
        if rng.random() < 0.002:  # a new phone number registered today
            phone = "13" + "".join(rng.choice("0123456789") for _ in range(9))
        if rng.random() < 0.001:  # moved within the district
            address = rng.choice(rooms)
        rows.append(
            [
                person["id_number"],
                person["name"],
                phone,
                REGISTRATION[person["registration"]],
                RESIDENCE[person["residence_kind"]],
                spell(address),
            ]
        )
    surnames = "王李张刘陈杨黄赵吴周"
    given = ("子涵", "浩然", "欣怡", "梓萱", "宇航", "思远", "雨桐", "俊杰")
    for n in range(12):  # the day's new registrations
        born = date(1990 + rng.randrange(15), 1 + rng.randrange(12), 1 + rng.randrange(28))
        rows.append(
            [
                _id_number(born, 900 + n),
                rng.choice(surnames) + rng.choice(given),
                "15" + "".join(rng.choice("0123456789") for _ in range(9)),
                "流动人口",
                rng.choice(("租住", "租住", "单位宿舍")),
                spell(rng.choice(rooms)),
            ]
        )
    bad = rows[5][:]
    bad[0] = bad[0][:-1] + ("0" if bad[0][-1] != "0" else "1")  # a mistyped check digit
    unknown = rows[6][:]
    unknown[3] = "暂住"  # a category the hub does not know
    rows[7:7] = [bad, unknown, rows[8][:]]  # and a line entered twice
    header = ("公民身份号码", "姓名", "联系电话", "户籍类别", "居住方式", "居住地址")
    return _write_csv(out / "GA-RK-FEED-居住登记.csv", header, rows)


def buildings(district: District, places: _Places, rng: random.Random, out: Path) -> Path:
    """The housing bureau's weekly building export, with the standard addresses."""
    rows: list[list[Any]] = []
    for house in district.houses:
        use, floors = HOUSE_USE[house["use"]], house["floors"]
        if house["use"] == "urban_village" and rng.random() < 0.004:
            use = "公共租赁住房"  # taken over as public rental housing this week
        rows.append(
            [
                house["code"],
                house["address"],
                use,
                floors,
                house["built_year"] or "",
                house["lon"],
                house["lat"],
            ]
        )
    grids = [g for g in district.grids if g["level"] == "grid"]
    for n in range(2):  # two new buildings, not yet in the address base: placed by point
        grid = grids[rng.randrange(len(grids))]
        point = shape(orjson.loads(grid["geometry"])).representative_point()
        assert isinstance(point, shapely.Point)
        place = next(row for row in places.houses if row["grid_code"] == grid["code"])
        rows.append(
            [
                f"{grid['code']}{9901 + n}",
                f"宝安区{place['street']}街道{place['community']}社区{place['road']}"
                f"{700 + n}号安居新苑{n + 1}栋",
                "公共租赁住房",
                18,
                2026,
                round(point.x, 6),
                round(point.y, 6),
            ]
        )
    header = ("楼栋编码", "统一地址", "房屋用途", "地上层数", "建成年份", "经度", "纬度")
    return _write_csv(out / "FW-LD-FEED-楼栋信息.csv", header, rows)


def rentals(district: District, places: _Places, rng: random.Random, out: Path) -> Path:
    """The housing bureau's rental-room changes of the day: partitioned rooms registered in
    urban-village buildings, corrected floor areas, one area written as words."""
    village = [h for h in district.houses if h["use"] == "urban_village"]
    rows: list[list[Any]] = []
    for n, house in enumerate(rng.sample(village, min(8, len(village)))):
        floor = 1 + rng.randrange(max(1, house["floors"]))
        number = f"{floor:02d}A{n + 1}"
        rows.append(
            [
                "新增",
                f"{house['code']}{number}",
                number,
                floor,
                round(12 + rng.random() * 10, 1),
                places.by_code[house["code"]]["text"],
            ]
        )
    for room in rng.sample(district.rooms, 5):
        rows.append(
            [
                "修改",
                room["code"],
                room["number"],
                room["floor"],
                round(room["area_m2"] + 1.5, 1),
                places.by_code[room["code"]]["text"],
            ]
        )
    room = district.rooms[3]
    rows.append(["修改", room["code"], room["number"], room["floor"], "约三十平", ""])
    header = ("变更类型", "房间编码", "房号", "所在楼层", "建筑面积", "房屋地址")
    return _write_csv(out / "FW-CZ-FEED-出租屋变更.csv", header, rows)


def registrations(
    district: District, places: _Places, rng: random.Random, as_of: date, out: Path
) -> Path:
    """Market regulation's registration changes of the day, as JSON lines."""
    spell = Speller(places.houses, ["district_only", "synonyms", "spaces"], 32100)
    lines: list[dict[str, Any]] = []

    def line(op: str, entity: Row, status: str, address: str) -> dict[str, Any]:
        return {
            "变更类型": op,
            "统一社会信用代码": entity["credit_code"],
            "企业名称": entity["name"],
            "主体类型": ENTITY_TYPE[entity["type"]],
            "行业": entity["industry"],
            "登记状态": ENTITY_STATUS[status],
            "成立日期": entity["established_on"].strftime("%Y%m%d"),
            "住所": address,
        }

    active = [e for e in district.entities if e["status"] == "active" and e["house_code"]]
    chosen = rng.sample(active, 8)
    for entity in chosen[:5]:  # put on the abnormal list
        lines.append(line("修改", entity, "abnormal", spell(places.by_code[entity["house_code"]])))
    for entity in chosen[5:]:  # deregistered
        lines.append({"变更类型": "注销", "统一社会信用代码": entity["credit_code"]})
    shops = ("便利店", "餐饮店", "五金店", "理发店", "电子科技有限公司", "物流有限公司")
    for n in range(10):
        house = rng.choice(places.houses)
        shop = rng.choice(shops)
        kind = "limited" if shop.endswith("有限公司") else "individual"
        new = {
            "credit_code": _credit_code(n + 1),
            "name": f"深圳市宝安区{house['community']}{shop}{n + 1}号",
            "type": kind,
            "industry": "wholesale" if kind == "limited" else "retail",
            "established_on": as_of - timedelta(days=1),
        }
        lines.append(line("新增", new, "active", spell(house)))
    path = out / "SC-DJ-FEED-登记变更.jsonl"
    path.write_bytes(b"".join(orjson.dumps(row) + b"\n" for row in lines))
    return path


def tickets(
    district: District, places: _Places, rng: random.Random, as_of: date, out: Path
) -> tuple[Path, Path]:
    """Yesterday's 12345 tickets in two batches; callers name places loosely."""
    spell = Speller(places.houses, ["no_prefix", "numerals", "canonical", "typo"], 12345)
    kinds = list(HOTLINE)
    weights = [HOTLINE[k][1] for k in kinds]
    day = as_of - timedelta(days=1)
    surnames = "王李张刘陈杨黄赵吴周徐孙马朱胡"
    header = (
        "工单状态",
        "工单编号",
        "来源渠道",
        "诉求分类",
        "诉求内容",
        "来电人",
        "来电时间",
        "事发地址",
    )

    def ticket(n: int, at: datetime) -> list[Any]:
        kind = rng.choices(kinds, weights)[0]
        house = rng.choice(places.houses)
        place = f"{house['road']}{house['number']}号{house['estate']}"
        return [
            "新增",
            f"GD{day:%Y%m%d}{n:05d}",
            "12345热线",
            kind,
            HOTLINE[kind][2].format(place=place),
            rng.choice(surnames) + rng.choice(CALLERS),
            f"{at:%Y-%m-%d %H:%M:%S}",
            spell(house),
        ]

    def at(minutes: int) -> datetime:
        return datetime.combine(day, time(8, 0), LOCAL_ZONE) + timedelta(minutes=minutes)

    morning = [ticket(n, at(n * 9 + rng.randrange(9))) for n in range(1, 31)]
    afternoon = [ticket(n, at(300 + (n - 31) * 12 + rng.randrange(12))) for n in range(31, 46)]
    withdrawn = morning[3]
    afternoon.append(["撤单", withdrawn[1], "", "", "", "", "", ""])  # the caller's own mistake
    afternoon.append(
        ["修改", *morning[4][1:4], morning[4][4] + "来电人再次催办。", *morning[4][5:]]
    )
    return (
        _write_csv(out / "SJ-12345-FEED-上午.csv", header, morning),
        _write_csv(out / "SJ-12345-FEED-下午.csv", header, afternoon),
    )


def exports(district: District, seed: int, as_of: date, out: Path) -> list[Export]:
    """The demo's department exports, in the order they are run."""
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed * 31 + 17)
    places = _Places(district)
    morning, afternoon = tickets(district, places, rng, as_of, out)
    return [
        Export("FW-LD-FEED", buildings(district, places, rng, out)),
        Export("FW-CZ-FEED", rentals(district, places, rng, out)),
        Export("GA-RK-FEED", residents(district, places, rng, out)),
        Export("SC-DJ-FEED", registrations(district, places, rng, as_of, out)),
        Export("SJ-12345-FEED", morning),
        Export("SJ-12345-FEED", afternoon),
    ]


async def gather(
    engine: AsyncEngine,
    files: list[Export],
    matcher: Matcher,
    progress: Callable[[Export, RunReport], None] | None = None,
) -> list[RunReport]:
    """Run each export (:func:`exports`) through its feed, declared in the catalogue (which
    must be synced first)."""
    reports = []
    for export in files:
        async with engine.connect() as connection:
            feed = await feed_store.get(connection, export.feed)
        if feed is None:
            raise LookupError(f"feed {export.feed} is not in the catalogue: sync it first")
        report = await run_feed(
            engine, feed, export.path, matcher, by=STARTED_BY, now=datetime.now(UTC)
        )
        reports.append(report)
        if progress is not None:
            progress(export, report)
    return reports
