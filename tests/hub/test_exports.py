"""``GET /exports/{kind}.xlsx``: each sheet, opened with openpyxl, holds exactly what ``/graphql``
answers the same caller for the same documents (a differential test: the masks, the refusals
and the rows cut by the plan); paged in small pages it holds the same; one audit entry names
the kind, the fields and the people; every refusal has its status and code."""

from __future__ import annotations

import io
import re
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.testclient import TestClient

from demo import District
from hub import exports
from hub.app import create_app
from hub.endpoints.exports import XLSX
from hub.settings import Settings
from store.models import AuditEntry
from tasks.generate import generate_tasks
from tests.docs.test_docs import DOCS
from tests.tasks.conftest import NOW, Findings, clean

WORKER = "worker-440306001001001"
COMMUNITY = "community-440306001001"
STREET = "street-440306001"
GRID = "440306001001001"


@pytest.fixture(scope="module")
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture
async def raised(engine: AsyncEngine, district: District) -> AsyncIterator[None]:
    """Open tasks in two grids of the community (a conflict on each of six people)."""
    await clean(engine)
    findings = Findings(engine)
    for grid in (GRID, "440306001001002"):
        for person in [p for p in district.people if p["grid_code"] == grid][:3]:
            await findings.conflict("people", str(person["id"]), "residenceKind", grid)
    await generate_tasks(engine, NOW)
    yield
    await clean(engine)


def _sheet(response: Any) -> list[list[Any]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == XLSX
    book = load_workbook(io.BytesIO(response.content), read_only=True)
    [sheet] = book.worksheets
    found = [list(row) for row in sheet.iter_rows(values_only=True)]
    book.close()
    width = len(found[0])
    return [row + [None] * (width - len(row)) for row in found]  # (trailing empty cells)


async def _api_rows(client: TestClient, token: str, kind: str, area: str) -> list[list[Any]]:
    """The sheet's rows as ``/graphql`` answers its documents to the same token."""

    async def run(query: str, variables: dict[str, Any]) -> Any:
        response = client.post(
            "/graphql",
            json={"query": query, "variables": variables},
            headers={"authorization": f"Bearer {token}"},
        )
        assert response.status_code == 200, response.text
        return response.json()

    found = []
    async for page in exports.rows(run, kind, area):
        found.extend(page)
    return found


def _cells(rows: list[list[Any]]) -> list[list[Any]]:
    """As openpyxl reads cells back: empty strings as None."""
    return [[None if value == "" else value for value in row] for row in rows]


@pytest.mark.usefixtures("raised")
@pytest.mark.parametrize("subject", [WORKER, COMMUNITY])
@pytest.mark.parametrize("kind", sorted(exports.SHEETS))
async def test_a_sheet_holds_what_the_api_answers_the_same_caller(
    client: TestClient, token_for: Callable[[str], str], subject: str, kind: str
) -> None:
    area = "440306001001"
    token = token_for(subject)
    response = client.get(
        f"/exports/{kind}.xlsx",
        params={"areaCode": area},
        headers={"authorization": f"Bearer {token}"},
    )
    found = _sheet(response)
    header, body = found[0], found[1:]
    assert header == [column.title for column in exports.SHEETS[kind].columns]
    assert body == _cells(await _api_rows(client, token, kind, area))
    assert int(response.headers["x-rows"]) == len(body)
    grids = {row[header.index("网格")] for row in body}
    if kind in ("residents", "tasks", "entities"):
        assert body, f"the {kind} sheet is empty: it would agree whatever the plan"
    if subject == WORKER:
        assert grids <= {GRID}  # the worker's grid only, however wide the area asked
    else:
        assert all(g.startswith(area) for g in grids)
    if kind == "residents":
        phones = [row[header.index("手机号")] for row in body if row[header.index("手机号")]]
        assert phones
        assert all("****" in phone for phone in phones)  # masked, as the API masks them
        ids = [row[header.index("身份证号")] for row in body]
        assert all(number is None or "********" in number for number in ids)  # masked or none


@pytest.mark.usefixtures("raised")
async def test_small_pages_give_the_same_sheet(
    client: TestClient, token_for: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sheet is read a page at a time (houses, and a house's residents, follow their
    cursors): tiny pages give the same rows as the default ones."""
    token = {"authorization": f"Bearer {token_for(COMMUNITY)}"}
    params = {"areaCode": GRID}
    whole = _sheet(client.get("/exports/residents.xlsx", params=params, headers=token))
    monkeypatch.setattr(exports, "HOUSES_PAGE", 2)
    monkeypatch.setattr(exports, "RESIDENTS_PAGE", 1)
    monkeypatch.setattr(exports, "PAGE", 1)
    paged = _sheet(client.get("/exports/residents.xlsx", params=params, headers=token))
    assert paged == whole
    assert len(whole) > 3
    tasks = _sheet(client.get("/exports/tasks.xlsx", params=params, headers=token))
    assert len(tasks) == 1 + 3


async def test_one_audit_entry_names_the_kind_the_fields_and_the_people(
    client: TestClient, token_for: Callable[[str], str], engine: AsyncEngine, district: District
) -> None:
    response = client.get(
        "/exports/residents.xlsx",
        params={"areaCode": GRID},
        headers={"authorization": f"Bearer {token_for(WORKER)}"},
    )
    rows = _sheet(response)[1:]
    table = AuditEntry.__table__
    async with engine.connect() as connection:
        entry = (
            await connection.execute(
                select(table).where(table.c.request_id == response.headers["x-request-id"])
            )
        ).one()
    assert entry.subject == WORKER
    assert entry.operation_name == "exportSheet"
    assert entry.variables == {"kind": "residents", "areaCode": GRID}
    in_grid = {str(p["id"]) for p in district.people if p["grid_code"] == GRID}
    assert len(entry.person_ids) == len(rows)
    assert set(entry.person_ids) <= in_grid
    reads = {(r["type"], r["field"]): r["decision"] for r in entry.reads}
    assert reads[("Person", "phone")] == "MASK"
    assert reads[("Person", "idNumber")] == "MASK"
    assert reads[("Person", "name")] in ("ALLOW", "MASK")
    assert entry.outcome == "partial"


@pytest.mark.parametrize(
    ("path", "subject", "status", "code"),
    [
        ("/exports/nothing.xlsx?areaCode=440306001001", COMMUNITY, 404, "NOT_FOUND"),
        ("/exports/residents.xlsx?areaCode=440306001002", COMMUNITY, 403, "FORBIDDEN"),
        ("/exports/residents.xlsx?areaCode=440306002", STREET, 403, "FORBIDDEN"),
        ("/exports/residents.xlsx?areaCode=440306001001002", WORKER, 403, "FORBIDDEN"),
        ("/exports/residents.xlsx?areaCode=440306001001", "housing-app", 403, "FORBIDDEN"),
        ("/exports/residents.xlsx?areaCode=440306001001", "officer-housing", 403, "FORBIDDEN"),
        ("/exports/residents.xlsx", COMMUNITY, 400, "BAD_USER_INPUT"),
        ("/exports/residents.xlsx?areaCode=44x", COMMUNITY, 400, "BAD_USER_INPUT"),
        ("/exports/residents.xlsx?areaCode=440306001001", None, 401, "UNAUTHENTICATED"),
    ],
)
def test_every_refusal_has_its_status_and_code(
    client: TestClient,
    token_for: Callable[[str], str],
    path: str,
    subject: str | None,
    status: int,
    code: str,
) -> None:
    headers = {} if subject is None else {"authorization": f"Bearer {token_for(subject)}"}
    response = client.get(path, headers=headers)
    assert response.status_code == status, response.text
    assert response.json()["errors"][0]["extensions"]["code"] == code


def test_the_docs_sheets_download(client: TestClient, token_for: Callable[[str], str]) -> None:
    """Every sheet URL in docs/grid-workers.md answers its staff member a workbook."""
    text = (DOCS / "grid-workers.md").read_text(encoding="utf-8")
    urls = re.findall(r"http://127\.0\.0\.1:8000(/exports/[^\"]+)", text)
    assert len(urls) >= 2
    token = {"authorization": f"Bearer {token_for(COMMUNITY)}"}
    for url in urls:
        assert _sheet(client.get(url, headers=token))[0], url
