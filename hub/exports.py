"""The sheets community and street staff download (数据回流到社区): what each holds, and how it is
read — through the API itself.

Each sheet is a GraphQL document run page by page on the hub's executor with the caller's
request context: the same statements (compiled or field by field), the same plan, the same
masks and refusals as ``/graphql`` gives the same caller, and the same audit facts (the fields
read with their decisions, the people returned). There is no second permission path to keep
true: a cell holds exactly what the API answers for it (a masked phone masked, a refused field
empty).

- ``residents``: residents by building (each house under the area, its people);
- ``entities``: the legal entities under the area;
- ``tasks``: the open (and escalated) verification tasks under the area;
- ``events``: the overdue events under the area.

Rows are written to an openpyxl write-only workbook (kept on disk as it grows, so memory holds
one page at a time), which :mod:`hub.endpoints.exports` then streams from a temporary file.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

#: Houses per page of the residents sheet, and residents per house per request.
HOUSES_PAGE = 20
RESIDENTS_PAGE = 100
#: Rows per page of the other sheets.
PAGE = 200

_PERSON = "name gender age phone idNumber registration residenceKind room { number }"
_RESIDENTS = f"""residents(first: $residents, after: $residentsAfter) {{
  pageInfo {{ hasNextPage endCursor }} edges {{ node {{ {_PERSON} }} }} }}"""

RESIDENTS = f"""query ExportResidents($area: String!, $first: Int!, $after: String,
    $residents: Int!, $residentsAfter: String) {{
  page: houses(filter: {{areaCode: $area}}, first: $first, after: $after) {{
    pageInfo {{ hasNextPage endCursor }}
    edges {{ node {{ code address gridCode {_RESIDENTS} }} }} }} }}"""
MORE_RESIDENTS = f"""query ExportMoreResidents($house: String!, $residents: Int!,
    $residentsAfter: String) {{
  house(code: $house) {{ {_RESIDENTS} }} }}"""
ENTITIES = """query ExportEntities($area: String!, $first: Int!, $after: String) {
  page: entities(filter: {areaCode: $area}, first: $first, after: $after) {
    pageInfo { hasNextPage endCursor }
    edges { node { creditCode name type industry status establishedOn registeredAddress
      gridCode house { code address } legalRepresentative { name } } } } }"""
TASKS = """query ExportTasks($area: String!, $first: Int!, $after: String, $status: TaskStatus!) {
  page: tasks(filter: {areaCode: $area, status: $status}, first: $first, after: $after) {
    pageInfo { hasNextPage endCursor }
    edges { node { id kind status recordType recordId gridCode reason why department
      createdAt dueAt overdue } } } }"""
EVENTS = """query ExportEvents($area: String!, $first: Int!, $after: String) {
  page: events(filter: {areaCode: $area, overdue: true}, first: $first, after: $after) {
    pageInfo { hasNextPage endCursor }
    edges { node { id categoryCode description status source gridCode reportedAt deadline
      handlingDepartmentCode house { code address } } } } }"""

#: Runs one document with variables on the caller's context: the response body, decoded.
Run = Callable[[str, dict[str, Any]], Any]


class SheetRefused(Exception):
    """The API refused the sheet's root field to the caller: its error's code and message."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class Column:
    title: str
    path: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Sheet:
    kind: str
    title: str
    columns: tuple[Column, ...]
    documents: tuple[str, ...]


def _columns(*pairs: tuple[str, str]) -> tuple[Column, ...]:
    return tuple(Column(title, tuple(path.split("."))) for title, path in pairs)


SHEETS: Mapping[str, Sheet] = {
    "residents": Sheet(
        "residents",
        "实有人口（按楼栋）",
        _columns(
            ("楼栋编码", "house.code"),
            ("地址", "house.address"),
            ("网格", "house.gridCode"),
            ("姓名", "name"),
            ("性别", "gender"),
            ("年龄", "age"),
            ("手机号", "phone"),
            ("身份证号", "idNumber"),
            ("户籍", "registration"),
            ("居住方式", "residenceKind"),
            ("房间", "room.number"),
        ),
        (RESIDENTS, MORE_RESIDENTS),
    ),
    "entities": Sheet(
        "entities",
        "法人主体",
        _columns(
            ("统一社会信用代码", "creditCode"),
            ("名称", "name"),
            ("类型", "type"),
            ("行业", "industry"),
            ("状态", "status"),
            ("成立日期", "establishedOn"),
            ("注册地址", "registeredAddress"),
            ("网格", "gridCode"),
            ("经营楼栋", "house.code"),
            ("经营地址", "house.address"),
            ("法定代表人", "legalRepresentative.name"),
        ),
        (ENTITIES,),
    ),
    "tasks": Sheet(
        "tasks",
        "待办核查任务",
        _columns(
            ("任务", "id"),
            ("类型", "kind"),
            ("状态", "status"),
            ("对象类型", "recordType"),
            ("对象", "recordId"),
            ("网格", "gridCode"),
            ("核查事项", "reason"),
            ("原因", "why"),
            ("部门", "department"),
            ("发起时间", "createdAt"),
            ("截止时间", "dueAt"),
            ("已超期", "overdue"),
        ),
        (TASKS,),
    ),
    "events": Sheet(
        "events",
        "超期事件",
        _columns(
            ("事件", "id"),
            ("事项", "categoryCode"),
            ("描述", "description"),
            ("状态", "status"),
            ("来源", "source"),
            ("网格", "gridCode"),
            ("上报时间", "reportedAt"),
            ("办理时限", "deadline"),
            ("办理部门", "handlingDepartmentCode"),
            ("楼栋编码", "house.code"),
            ("地址", "house.address"),
        ),
        (EVENTS,),
    ),
}

#: The resources whose rows each sheet lists (an area none of them shows is refused).
RESOURCES_OF: Mapping[str, tuple[str, ...]] = {
    "residents": ("houses",),
    "entities": ("entities",),
    "tasks": ("people", "houses", "rooms", "entities"),
    "events": ("events",),
}


def cell(row: Mapping[str, Any], path: Sequence[str]) -> Any:
    """The value at ``path`` (None where a link is null), as a spreadsheet cell takes it."""
    value: Any = row
    for step in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(step)
    if isinstance(value, list | dict):
        return orjson.dumps(value).decode()
    return value


def _page(body: Mapping[str, Any], root: str) -> Mapping[str, Any] | None:
    data = body.get("data") or {}
    found = data.get(root)
    if found is None and body.get("errors"):
        first = body["errors"][0]
        code = str(first.get("extensions", {}).get("code", "BAD_USER_INPUT"))
        raise SheetRefused(str(first.get("message", "refused")), code)
    return found


async def _pages(
    run: Run, document: str, variables: dict[str, Any]
) -> AsyncIterator[list[Mapping[str, Any]]]:
    after = None
    while True:
        body = await run(document, {**variables, "after": after})
        page = _page(body, "page")
        if page is None:
            return
        yield [edge["node"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return
        after = page["pageInfo"]["endCursor"]


async def _residents(run: Run, area: str) -> AsyncIterator[list[Mapping[str, Any]]]:
    variables = {"area": area, "first": HOUSES_PAGE, "residents": RESIDENTS_PAGE}
    async for houses in _pages(run, RESIDENTS, {**variables, "residentsAfter": None}):
        for house in houses:
            place = {key: house.get(key) for key in ("code", "address", "gridCode")}
            residents = house.get("residents")
            while residents is not None:
                yield [{"house": place, **person["node"]} for person in residents["edges"]]
                if not residents["pageInfo"]["hasNextPage"]:
                    break
                body = await run(
                    MORE_RESIDENTS,
                    {
                        "house": place["code"],
                        "residents": RESIDENTS_PAGE,
                        "residentsAfter": residents["pageInfo"]["endCursor"],
                    },
                )
                house_again = _page(body, "house")
                residents = None if house_again is None else house_again.get("residents")


async def rows(run: Run, kind: str, area: str) -> AsyncIterator[list[Any]]:
    """The sheet's rows (cells in its columns' order), a page at a time."""
    sheet = SHEETS[kind]
    source: AsyncIterator[list[Mapping[str, Any]]]
    if kind == "residents":
        source = _residents(run, area)
    elif kind == "tasks":
        source = _open_tasks(run, area)
    else:
        source = _pages(run, sheet.documents[0], {"area": area, "first": PAGE})
    async for page in source:
        yield [[cell(row, column.path) for column in sheet.columns] for row in page]


async def _open_tasks(run: Run, area: str) -> AsyncIterator[list[Mapping[str, Any]]]:
    for status in ("OPEN", "ESCALATED"):
        async for page in _pages(run, TASKS, {"area": area, "first": PAGE, "status": status}):
            yield page
