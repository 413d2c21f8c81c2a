"""Reference data for the demo district: the departments and the matter list (事项清单).

Department names are the units' full names as Bao'an uses them; where a unit is a branch of a
city bureau (public security, market regulation, ecology, transport) its name says so.

A matter's ``level`` is its urgency: 1 urgent (a time limit of 4 hours or less), 2 prompt (up to a
day), 3 routine. Neighbour disputes are listed under "community" in the domain notes; the hub
routes them to the justice bureau, whose street offices run the people's mediation (人民调解).
"""

from __future__ import annotations

from typing import NamedTuple


class DepartmentRef(NamedTuple):
    code: str
    name: str
    short_name: str


class MatterRef(NamedTuple):
    code: str
    name: str
    department_code: str
    time_limit_hours: int
    level: int


DISTRICT_CODE = "440306"
DISTRICT_NAME = "宝安区"

DEPARTMENTS: tuple[DepartmentRef, ...] = (
    DepartmentRef("housing", "宝安区住房和建设局", "住建"),
    DepartmentRef("emergency", "宝安区应急管理局", "应急"),
    DepartmentRef("public_security", "深圳市公安局宝安分局", "公安"),
    DepartmentRef("civil_affairs", "宝安区民政局", "民政"),
    DepartmentRef("urban_management", "宝安区城市管理和综合执法局", "城管"),
    DepartmentRef("market_regulation", "深圳市市场监督管理局宝安监管局", "市监"),
    DepartmentRef("health", "宝安区卫生健康局", "卫健"),
    DepartmentRef("fire", "宝安区消防救援大队", "消防"),
    DepartmentRef("education", "宝安区教育局", "教育"),
    DepartmentRef("hrss", "宝安区人力资源局", "人社"),
    DepartmentRef("water", "宝安区水务局", "水务"),
    DepartmentRef("transport", "深圳市交通运输局宝安管理局", "交通"),
    DepartmentRef("ecology", "深圳市生态环境局宝安管理局", "生态环境"),
    DepartmentRef("grid_office", "宝安区网格管理中心", "网格办"),
    DepartmentRef("data_bureau", "宝安区政务服务和数据管理局", "政数局"),
    DepartmentRef("justice", "宝安区司法局", "司法"),
)

DAY = 24
WEEK = 7 * DAY

MATTERS: tuple[MatterRef, ...] = (
    MatterRef("fire_lane_blocked", "消防通道堵塞", "fire", DAY, 2),
    MatterRef("ebike_indoor_charging", "电动自行车入户充电", "fire", DAY, 2),
    MatterRef("gas_leak", "燃气泄漏", "emergency", 1, 1),
    MatterRef("fallen_tree", "树木倒伏", "urban_management", 4, 1),
    MatterRef("manhole_cover_missing", "井盖缺失", "water", DAY, 2),
    MatterRef("waterlogging", "道路积水内涝", "water", 4, 1),
    MatterRef("road_damage", "道路破损", "transport", 3 * DAY, 3),
    MatterRef("street_vending", "占道经营", "urban_management", 2 * DAY, 3),
    MatterRef("illegal_construction", "违法建设", "urban_management", WEEK, 3),
    MatterRef("rental_house_hazard", "出租屋安全隐患", "housing", 3 * DAY, 3),
    MatterRef("noise_nuisance", "噪声扰民", "ecology", 2 * DAY, 3),
    MatterRef("food_safety", "食品安全", "market_regulation", 2 * DAY, 3),
    MatterRef("unlicensed_business", "无证无照经营", "market_regulation", WEEK, 3),
    MatterRef("muck_truck_spill", "泥头车遗撒", "urban_management", DAY, 2),
    MatterRef("neighbour_dispute", "邻里纠纷", "justice", WEEK, 3),
    MatterRef("elderly_alone_visit", "独居老人探访", "civil_affairs", 3 * DAY, 3),
    MatterRef("hazardous_chemicals_storage", "危险化学品违规存放", "emergency", DAY, 2),
    MatterRef("garbage_overflow", "垃圾满溢", "urban_management", DAY, 2),
    MatterRef("wage_arrears", "劳资欠薪", "hrss", 3 * DAY, 3),
)

#: Relative frequency of each matter among reported events (grid patrols find many small things).
MATTER_WEIGHTS: dict[str, int] = {
    "fire_lane_blocked": 12,
    "ebike_indoor_charging": 10,
    "gas_leak": 2,
    "fallen_tree": 3,
    "manhole_cover_missing": 4,
    "waterlogging": 4,
    "road_damage": 7,
    "street_vending": 14,
    "illegal_construction": 5,
    "rental_house_hazard": 8,
    "noise_nuisance": 9,
    "food_safety": 4,
    "unlicensed_business": 4,
    "muck_truck_spill": 4,
    "neighbour_dispute": 6,
    "elderly_alone_visit": 3,
    "hazardous_chemicals_storage": 2,
    "garbage_overflow": 10,
    "wage_arrears": 3,
}

STREETS: tuple[str, ...] = (
    "新安",
    "西乡",
    "航城",
    "福永",
    "福海",
    "沙井",
    "新桥",
    "松岗",
    "燕罗",
    "石岩",
)
