"""The demo's map views: one a department would really draw, for each department whose
principals see shared data (market regulation's and the data bureau's see none, so a view of
theirs would show nobody anything).

Each is defined by the department's data officer through :func:`views.changes.define`, with
every check the API makes (a filter only on fields someone in the department may filter on),
so a demo view is one an officer could have defined. ``grid-office-patrol`` is the grid
office's: every grid worker, community and street staff member opens the same view and sees
their own area's houses and events (``worker-440306001001001`` and ``worker-440306001001002``
see two different grids).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from catalog.changes import Officer
from policies.store import PolicyStore
from views import changes, store
from views.store import StoredView

#: The view that grid workers of different grids open alike (the map page's example).
PATROL = "grid-office-patrol"


def _style(colour: str, size: float, label: str | None = None) -> dict[str, Any]:
    return {"colour": colour, "size": size, "labelField": label}


DEMO_VIEWS: tuple[dict[str, Any], ...] = (
    {
        "code": PATROL,
        "department": "grid_office",
        "name": "网格巡查图",
        "description": "网格员与社区、街道工作人员日常巡查用：辖区网格边界、房屋、未办结事件，"
        "以及按楼栋统计的居住人数（少于5人的楼栋不显示）。",
        "layers": [
            {
                "code": "grids",
                "name": "网格边界",
                "source": "GRID",
                "fields": ["code", "name"],
                "style": _style("#607d8b", 2, "name"),
            },
            {
                "code": "houses",
                "name": "房屋",
                "source": "HOUSES",
                "fields": ["address", "use", "floors"],
                "style": _style("#1e88e5", 4),
            },
            {
                "code": "open-events",
                "name": "未办结事件",
                "source": "EVENTS",
                "filter": {"open": True},
                "fields": [
                    *("categoryCode", "status", "reporter"),
                    *("reportedAt", "deadline", "overdue"),
                ],
                "style": _style("#e53935", 6, "categoryCode"),
            },
            {
                "code": "residents",
                "name": "楼栋居住人数",
                "source": "PEOPLE",
                "aggregate": {"by": "HOUSE", "minCount": 5},
                "fields": ["address"],
                "style": _style("#8e24aa", 5, "count"),
            },
        ],
    },
    {
        "code": "grid-office-overdue",
        "department": "grid_office",
        "name": "超期事件督办图",
        "description": "街道网格中心督办用：辖区内已超过处置时限、尚未办结的事件，按事项标注。",
        "layers": [
            {
                "code": "grids",
                "name": "网格边界",
                "source": "GRID",
                "fields": ["code", "name"],
                "style": _style("#607d8b", 2, "name"),
            },
            {
                "code": "overdue-events",
                "name": "超期未办结事件",
                "source": "EVENTS",
                "filter": {"open": True, "overdue": True},
                "fields": [
                    *("categoryCode", "status", "handlingDepartmentCode"),
                    *("reportedAt", "deadline", "overdue"),
                ],
                "style": _style("#b71c1c", 8, "categoryCode"),
            },
        ],
    },
    {
        "code": "housing-public-rental",
        "department": "housing",
        "name": "公共租赁住房与居住人口",
        "description": "住建局保障性住房管理：全区公共租赁住房楼栋、"
        "派给住建局未办结的出租屋安全隐患事件，"
        "以及各网格的实有居住人口。",
        "layers": [
            {
                "code": "streets",
                "name": "街道",
                "source": "STREET",
                "fields": ["name"],
                "style": _style("#9e9e9e", 2, "name"),
            },
            {
                "code": "public-rental",
                "name": "公共租赁住房",
                "source": "HOUSES",
                "filter": {"use": "PUBLIC_RENTAL"},
                "fields": ["address", "floors", "builtYear"],
                "style": _style("#fb8c00", 6, "address"),
            },
            {
                "code": "rental-hazards",
                "name": "未办结出租屋安全隐患",
                "source": "EVENTS",
                "filter": {"handlingDepartmentCode": "housing", "open": True},
                "fields": ["categoryCode", "status", "reportedAt", "deadline", "overdue"],
                "style": _style("#e53935", 7, "status"),
            },
            {
                "code": "residents-per-grid",
                "name": "网格居住人口",
                "source": "PEOPLE",
                "aggregate": {"by": "GRID", "minCount": 5},
                "fields": ["code", "name"],
                "style": _style("#5e35b1", 2, "count"),
            },
        ],
    },
    {
        "code": "emergency-hazards",
        "department": "emergency",
        "name": "安全隐患与危险化学品企业",
        "description": "应急管理局隐患排查：由应急管理局处置的未办结事件"
        "（燃气泄漏、危化品违规存放），以及危险化学品行业的商事主体（按实际经营场所定位）。",
        "layers": [
            {
                "code": "hazard-events",
                "name": "未办结隐患事件",
                "source": "EVENTS",
                "filter": {"handlingDepartmentCode": "emergency", "open": True},
                "fields": ["categoryCode", "description", "status", "reportedAt", "deadline"],
                "style": _style("#d32f2f", 7, "categoryCode"),
            },
            {
                "code": "dangerous-goods",
                "name": "危险化学品企业",
                "source": "ENTITIES",
                "filter": {"industry": "hazardous_chemicals"},
                "fields": ["name", "creditCode", "status", "registeredAddress"],
                "style": _style("#ff6f00", 6, "name"),
            },
        ],
    },
    {
        "code": "civil-affairs-elderly",
        "department": "civil_affairs",
        "name": "独居与高龄老人分布（按网格）",
        "description": "民政局养老服务与关爱探访：派给民政局待办的独居老人探访事件，"
        "各网格独居老人和80岁以上老人的人数；"
        "少于5人的网格不显示，不显示任何个人。",
        "purpose": "elderly_care",
        "layers": [
            {
                "code": "visits",
                "name": "待办独居老人探访",
                "source": "EVENTS",
                "filter": {"handlingDepartmentCode": "civil_affairs", "open": True},
                "fields": ["categoryCode", "status", "reportedAt", "deadline", "overdue"],
                "style": _style("#6a1b9a", 7, "status"),
            },
            {
                "code": "elderly-alone",
                "name": "独居老人",
                "source": "PEOPLE",
                "filter": {"careTag": "ELDERLY_ALONE"},
                "aggregate": {"by": "GRID", "minCount": 5},
                "fields": ["code", "name"],
                "style": _style("#c2185b", 2, "count"),
            },
            {
                "code": "elderly-80",
                "name": "80岁以上老人",
                "source": "PEOPLE",
                "filter": {"careTag": "ELDERLY_80"},
                "aggregate": {"by": "GRID", "minCount": 5},
                "fields": ["code", "name"],
                "style": _style("#00897b", 2, "count"),
            },
        ],
    },
    {
        "code": "public-security-floating",
        "department": "public_security",
        "name": "流动人口分布（按网格）",
        "description": "公安分局人口服务管理：各网格登记的流动人口（非本地户籍）人数。",
        "layers": [
            {
                "code": "floating",
                "name": "流动人口",
                "source": "PEOPLE",
                "filter": {"registration": "FLOATING"},
                "aggregate": {"by": "GRID", "minCount": 5},
                "fields": ["code", "name"],
                "style": _style("#3949ab", 2, "count"),
            },
        ],
    },
)


def officer_subject(department: str) -> str:
    """The demo's data officer of ``department`` (see :mod:`demo.principals`)."""
    return f"officer-{department.replace('_', '-')}"


async def seed_views(
    engine: AsyncEngine, at: datetime, views: tuple[dict[str, Any], ...] = DEMO_VIEWS
) -> list[StoredView]:
    """Define each of ``views`` that is not there yet, as its department's data officer (after
    the principals and grants are seeded: the filters are checked against them)."""
    policy = PolicyStore(engine)
    saved = []
    for view in views:
        async with engine.connect() as connection:
            if await store.get(connection, view["code"]) is not None:
                continue
        officer = Officer(officer_subject(view["department"]), view["department"])
        saved.append(await changes.define(engine, policy, officer, view, at))
    return saved
