"""The documentation stays true: its GraphQL examples run, its pages and links hold together.

Every ```graphql block under docs/ is a complete query, run against the seeded test database;
it must answer without errors and with something in it. A ```json block that follows a query
block directly (nothing in between) holds its variables. A ```graphql-error block shows a
mistake: its first line names the expected code (``# expect: BAD_USER_INPUT``) and the query
must fail with that code. Example output is a ```json block with text before it.

Keys that differ from district to district are written in angle brackets in the variables
(``"<house code>"``), and the reader takes one from a list; the test takes one from the
district it seeded (:func:`placeholders`). ``"<endCursor>"`` is the ``endCursor`` the same
query answers for its first page; ``"<a month ago>"`` and ``"<now>"`` are those times.
``"<the request's id>"`` and ``"<the grant's id>"`` are the newest access request and grant
when the example runs: a page's examples run in order, so they are what the examples before
made (:func:`workflow_placeholders`).

Examples of the auditor's queries run on a log that holds entries: before the first of them,
a real server answers a few requests (:func:`audit_entries`).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from graphql import GraphQLEnumType, GraphQLInputObjectType
from markdown_it import MarkdownIt
from markdown_it.token import Token
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.testclient import TestClient

from auth.clients import NewClient
from demo import District
from hub.app import create_app
from hub.endpoints.graphql import HTTP_CODES
from hub.execution import (
    BAD_REQUEST,
    BAD_USER_INPUT,
    INTERNAL,
    INTROSPECTION_DISABLED,
    PARSE_FAILED,
    VALIDATION_FAILED,
)
from hub.faults import CLIENT_CLOSED_REQUEST
from hub.limits import LIMIT_CODES
from hub.operations import PERSISTED_QUERY_NOT_ALLOWED, PERSISTED_QUERY_NOT_FOUND
from hub.settings import Settings
from resolvers.ids import to_global_id
from schema import build_schema
from store.models import AccessRequest, Correction, Grant, Task
from tests.conftest import GraphQL
from tests.support import error_codes

DOCS = Path(__file__).parents[2] / "docs"
PAGES = sorted(DOCS.glob("*.md"))
README = DOCS.parent / "README.md"
#: Pages whose examples and links are checked: the docs and the README.
CHECKED = [*PAGES, README]
EXPECT = re.compile(r"^#\s*expect:\s*([A-Z_]+)\s*$")
#: Who a page's examples run as: ``<!-- examples run as: SUBJECT -->`` on the page; a block
#: may name another principal (``# as: SUBJECT``) and a purpose (``# purpose: CODE``) in its
#: leading comment lines, which GraphiQL ignores too (in a graphql-error block, after the
#: ``# expect:`` line).
PAGE_PRINCIPAL = re.compile(r"<!--\s*examples run as:\s*(\S+)\s*-->")
BLOCK_SETTING = re.compile(r"^#\s*(as|purpose):\s*(\S+)\s*$")
PLACEHOLDER = re.compile(r"^<[^<>]+>$")
END_CURSOR = "<endCursor>"
#: The area codes both the small test district and the demo district have.
SHARED_AREAS = {"440306", "440306001", "440306001001", "440306001001001"}


@dataclass(frozen=True)
class Example:
    page: str
    index: int  # among the page's graphql and graphql-error blocks, from 0
    line: int  # 1-based line of the opening fence
    query: str
    variables: dict[str, Any] | None
    expect_error: str | None
    principal: str | None
    purpose: str | None

    @property
    def where(self) -> str:
        folder = "" if self.page == README.name else "docs/"
        return f"{folder}{self.page}:{self.line}"


def _tokens(page: Path) -> list[Token]:
    return MarkdownIt("commonmark").parse(page.read_text(encoding="utf-8"))


def _fences(page: Path, language: str) -> list[Token]:
    return [t for t in _tokens(page) if t.type == "fence" and t.info.strip() == language]


def _examples(page: Path) -> list[Example]:
    tokens = _tokens(page)
    declared = PAGE_PRINCIPAL.search(page.read_text(encoding="utf-8"))
    page_principal = declared.group(1) if declared else None
    examples = []
    for position, token in enumerate(tokens):
        language = token.info.strip()
        if token.type != "fence" or language not in ("graphql", "graphql-error"):
            continue
        line = (token.map[0] if token.map else 0) + 1
        following = tokens[position + 1] if position + 1 < len(tokens) else None
        variables = None
        if following is not None and following.type == "fence" and following.info.strip() == "json":
            variables = orjson.loads(following.content)
        expect = None
        if language == "graphql-error":
            match = EXPECT.match(token.content.splitlines()[0])
            assert match, f"docs/{page.name}:{line}: a graphql-error block starts '# expect: CODE'"
            expect = match.group(1)
        settings = {"as": page_principal, "purpose": None}
        for text in token.content.splitlines():
            setting = BLOCK_SETTING.match(text)
            if setting is None:
                if not EXPECT.match(text):
                    break
                continue
            settings[setting.group(1)] = setting.group(2)
        examples.append(
            Example(
                page.name,
                len(examples),
                line,
                token.content,
                variables,
                expect,
                settings["as"],
                settings["purpose"],
            )
        )
    return examples


EXAMPLES = [example for page in CHECKED for example in _examples(page)]


#: The street of the docs' street staff (``street-440306001``).
DOCS_STREET = "440306001"


def placeholders(district: District) -> dict[str, str]:
    """Keys for the angle-bracket values: rows that have something to show in every example."""
    lived_in = {p["house_code"] for p in district.people}
    worked_in = {e["house_code"] for e in district.entities}
    reported_at = {e["house_code"] for e in district.events}
    # in the street the docs' street staff serve, so that they see them too
    house = next(
        h["code"]
        for h in district.houses
        if h["code"] in lived_in
        and h["code"] in worked_in
        and h["code"] in reported_at
        and h["grid_code"].startswith(DOCS_STREET)
    )
    employers = {
        p["employer_code"] for p in district.people if p["grid_code"].startswith(DOCS_STREET)
    }
    entity = next(
        e
        for e in district.entities
        if e["credit_code"] in employers
        and e["house_code"]
        and e["legal_representative_id"]
        and e["grid_code"].startswith(DOCS_STREET)
    )
    person = next(p for p in district.people if p["employer_code"] and p["room_code"])
    event = next(e for e in district.events if e["house_code"])
    spelling, standard, part = _address_examples(district)
    task_house = next(h for h in district.houses if h["grid_code"] == "440306001001001")
    task_person = next(p for p in district.people if p["grid_code"] == "440306001001001")
    return {
        "<department spelling>": spelling,
        "<standard address>": standard,
        "<part of an address>": part,
        "<house code>": house,
        "<credit code>": entity["credit_code"],
        "<person id>": to_global_id("Person", person["id"]),
        "<event id>": to_global_id("Event", event["id"]),
        "<a house of grid 440306001001001>": to_global_id("House", task_house["code"]),
        "<a person of grid 440306001001001>": to_global_id("Person", task_person["id"]),
        "<another number of floors>": str(int(task_house["floors"]) + 1),
        "<a month ago>": (datetime.now(UTC) - timedelta(days=30)).isoformat(),
        "<now>": datetime.now(UTC).isoformat(),
    }


#: The grid of the address examples' principal (docs/addresses.md).
ADDRESS_GRID = "440306001001001"


def _address_examples(district: District) -> tuple[str, str, str]:
    """A room of the examples' grid as a department writes it (full-width digits, 幢, floor and
    房), its standard text, and a part of its address as a search (digits for numerals, 幢)."""
    row = next(
        r
        for r in district.addresses
        if r["grid_code"] == ADDRESS_GRID and r["room_code"] and r["building"]
    )
    wide = str.maketrans("0123456789", "０１２３４５６７８９")
    building = row["building"].replace("栋", "幢")
    room = f"{row['floor']}楼{row['room']}房"
    spelling = f"深圳市宝安区{row['road']}{row['number']}号{row['estate']}{building}{room}"
    return spelling.translate(wide), row["text"], f"{row['estate']}{building}"


async def workflow_placeholders(engine: AsyncEngine) -> dict[str, str]:
    """The newest request, grant, task and correction, by their ids in the API."""
    async with engine.connect() as connection:
        request = await connection.scalar(select(func.max(AccessRequest.id)))
        grant = await connection.scalar(select(func.max(Grant.id)))
        task = await connection.scalar(select(func.max(Task.id)))
        correction = await connection.scalar(select(func.max(Correction.id)))
    return {
        "<the request's id>": f"request:{request}",
        "<the grant's id>": f"grant:{grant}",
        "<the task's id>": f"task:{task}",
        "<the correction's id>": f"correction:{correction}",
    }


@pytest.fixture(scope="module")
def audit_entries(
    settings: Settings,
    district: District,
    token_for: Callable[[str], str],
    demo_clients: dict[str, NewClient],
) -> None:
    """Entries for the auditor's examples: apps and a grid worker reading people."""
    person = placeholders(district)["<person id>"]
    with TestClient(create_app(settings)) as client:
        for subject, query in (
            ("housing-app", f'{{ person(id: "{person}") {{ name idNumber }} }}'),
            (
                "housing-app",
                "query HousingResidents { people(first: 3) { edges { node { name idNumber } } } }",
            ),
            ("worker-440306001001001", "{ people(first: 3) { edges { node { idNumber } } } }"),
        ):
            headers = {"authorization": f"Bearer {token_for(subject)}"}
            response = client.post("/graphql", json={"query": query}, headers=headers)
            assert response.status_code == 200, response.text
        housing = demo_clients["housing-app"]
        refused = client.post(
            "/oauth/token",
            data={"grant_type": "client_credentials", "client_id": housing.client_id},
            auth=(housing.client_id, "a guess"),
        )
        assert refused.status_code == 401


def _find(value: Any, key: str) -> Any:
    """The first value of ``key`` anywhere in an answer."""
    if isinstance(value, dict):
        if key in value:
            return value[key]
        value = list(value.values())
    if isinstance(value, list):
        for item in value:
            found = _find(item, key)
            if found is not None:
                return found
    return None


async def run_example(gql: GraphQL, example: Example, keys: dict[str, str]) -> dict[str, Any]:
    """Run an example with its placeholders filled in; return the response body."""
    variables = dict(example.variables or {})
    for name, value in variables.items():
        assert re.search(rf"\${name}\b", example.query), f"{example.where}: ${name} undeclared"
        if isinstance(value, str) and PLACEHOLDER.match(value) and value != END_CURSOR:
            assert value in keys, f"{example.where}: unknown placeholder {value}"
            variables[name] = keys[value]
    assert example.principal, f"{example.where}: say who runs it (<!-- examples run as: S -->)"
    who = {"as_": example.principal, "purpose": example.purpose}
    cursors = [name for name, value in variables.items() if value == END_CURSOR]
    if cursors:
        first_page = await gql(example.query, {**variables, **dict.fromkeys(cursors)}, **who)
        cursor = _find(first_page.get("data"), "endCursor")
        assert cursor, f"{example.where}: the first page has no endCursor"
        variables.update(dict.fromkeys(cursors, cursor))
    return await gql(example.query, variables or None, **who)


def _has_content(value: Any) -> bool:
    """Whether an answer shows something: a connection needs rows, an object what it lists."""
    if value is None:
        return False
    if isinstance(value, str):
        return value != ""
    if isinstance(value, list):
        return any(_has_content(item) for item in value)
    if isinstance(value, dict):
        if "edges" in value:
            return bool(value["edges"])
        if "totalCount" in value:
            return bool(value["totalCount"])
        connections = [v for v in value.values() if isinstance(v, dict) and "edges" in v]
        if connections:  # an object asked for with its rows is empty when the rows are
            return any(_has_content(c) for c in connections)
        return any(_has_content(v) for v in value.values())
    return True


def test_the_docs_have_examples() -> None:
    assert PAGES, "docs/ has no pages"
    assert len(EXAMPLES) >= 20


#: A page's examples run in order in one worker: a later one may use what an earlier one made
#: (views.md creates a view, then deletes it), so a shuffled run (``--random-order``) keeps
#: them in order too.
@pytest.mark.random_order(disabled=True)
@pytest.mark.parametrize(
    "example",
    [
        pytest.param(e, id=f"{e.page}-{e.index}", marks=pytest.mark.xdist_group(f"docs-{e.page}"))
        for e in EXAMPLES
    ],
)
async def test_example_runs(
    gql: GraphQL,
    district: District,
    demo_clients: dict[str, NewClient],
    engine: AsyncEngine,
    example: Example,
    request: pytest.FixtureRequest,
) -> None:
    if "auditLog" in example.query or "auditStats" in example.query:
        request.getfixturevalue("audit_entries")
    keys = placeholders(district) | await workflow_placeholders(engine)
    keys["<housing-app's client id>"] = demo_clients["housing-app"].client_id
    body = await run_example(gql, example, keys)
    if example.expect_error is not None:
        assert example.expect_error in error_codes(body), f"{example.where}: {body}"
        return
    assert "errors" not in body, f"{example.where}: {body['errors']}"
    data = body["data"]
    assert data, f"{example.where}: no data"
    for field, value in data.items():
        assert _has_content(value), f"{example.where}: `{field}` came back empty: {value}"


@pytest.mark.parametrize("page", CHECKED, ids=[p.name for p in CHECKED])
def test_python_examples_parse(page: Path) -> None:
    for block in _fences(page, "python"):
        ast.parse(block.content, filename=f"docs/{page.name}")


@pytest.mark.parametrize("page", CHECKED, ids=[p.name for p in CHECKED])
def test_json_examples_parse(page: Path) -> None:
    for block in _fences(page, "json"):
        # Output may be shortened with a trailing comment line; the rest must be JSON.
        text = "\n".join(
            line for line in block.content.splitlines() if not line.lstrip().startswith("//")
        )
        orjson.loads(text)


def _links(page: Path) -> list[str]:
    links = []
    for token in _tokens(page):
        for child in token.children or []:
            if child.type == "link_open":
                links.append(str(child.attrs["href"]))
    return links


def test_the_index_links_every_page() -> None:
    linked = {link.split("#")[0] for link in _links(DOCS / "index.md")}
    missing = [p.name for p in PAGES if p.name != "index.md" and p.name not in linked]
    assert not missing, f"docs/index.md does not link {missing}"


@pytest.mark.parametrize("page", CHECKED, ids=[p.name for p in CHECKED])
def test_relative_links_resolve(page: Path) -> None:
    for link in _links(page):
        if "://" in link or link.startswith(("#", "mailto:")):
            continue
        target = (page.parent / link.split("#")[0]).resolve()
        assert target.exists(), f"docs/{page.name} links {link}, which does not exist"


def test_examples_use_only_areas_every_district_has() -> None:
    for example in EXAMPLES:
        text = example.query + orjson.dumps(example.variables).decode()
        codes = set(re.findall(r"\"(\d{6}|\d{9}|\d{12}|\d{15})\"", text))
        assert codes <= SHARED_AREAS, f"{example.where}: {codes - SHARED_AREAS}"


def _examples_text() -> str:
    return "\n".join(e.query for e in EXAMPLES if e.expect_error is None)


def test_every_filter_field_has_an_example() -> None:
    schema = build_schema()._schema
    text = _examples_text()
    missing = [
        f"{name}.{field}"
        for name, type_ in schema.type_map.items()
        if isinstance(type_, GraphQLInputObjectType) and name.endswith("Filter")
        for field in type_.fields
        if not re.search(rf"\b{field}\s*:", text)
    ]
    for argument in schema.query_type.fields["grids"].args:
        if argument not in ("first", "after") and not re.search(rf"\b{argument}\s*:", text):
            missing.append(f"grids({argument})")
    assert not missing, f"no docs example uses {missing}"


def test_every_enum_value_is_in_the_data_model() -> None:
    text = (DOCS / "data-model.md").read_text(encoding="utf-8")
    schema = build_schema()._schema
    missing = [
        f"{name}.{value}"
        for name, type_ in schema.type_map.items()
        if isinstance(type_, GraphQLEnumType) and not name.startswith("__")
        for value in type_.values
        if f"`{value}`" not in text
    ]
    assert not missing, f"docs/data-model.md does not list {missing}"


def test_every_setting_is_documented_with_its_default() -> None:
    """Each setting has a row ``| `GRIDHUB_NAME` | `default` | meaning |`` in operators.md."""
    text = (DOCS / "operators.md").read_text(encoding="utf-8")
    missing = []
    for name, field in Settings.model_fields.items():
        default = field.default
        shown = str(default).lower() if isinstance(default, bool) else str(default)
        if f"| `GRIDHUB_{name.upper()}` | `{shown}` |" not in text:
            missing.append(f"GRIDHUB_{name.upper()} (default {shown})")
    assert not missing, f"docs/operators.md does not document {missing}"


#: A GeoJSON URL in a shell example, the principal a block's token is for, its purpose.
GEOJSON_URL = re.compile(r"http://127\.0\.0\.1:8000(/views/[^'\"\s]+)")
SUBJECT = re.compile(r"--subject ([\w-]+)|\b([a-z-]+-app)\b")
PURPOSE = re.compile(r"X-Access-Purpose: ([a-z_]+)")


def _geojson_urls() -> list[tuple[str, str, str, str | None]]:
    """(where, URL path, principal, purpose) of every GeoJSON URL in the docs' shell examples;
    a block that names no principal uses the token of the block before it."""
    found = []
    for page in CHECKED:
        subject = None
        for block in _fences(page, "bash"):
            named = SUBJECT.search(block.content)
            if named:
                subject = named.group(1) or named.group(2)
            for url in GEOJSON_URL.findall(block.content):
                purpose = PURPOSE.search(block.content)
                where = f"{page.name}:{(block.map[0] if block.map else 0) + 1}"
                assert subject, f"{where}: whose token fetches {url}?"
                found.append((where, url, subject, purpose.group(1) if purpose else None))
    return found


@pytest.mark.parametrize(("where", "url", "subject", "purpose"), _geojson_urls())
def test_geojson_urls_answer(
    settings: Settings,
    token_for: Callable[[str], str],
    where: str,
    url: str,
    subject: str,
    purpose: str | None,
) -> None:
    headers = {"authorization": f"Bearer {token_for(subject)}"}
    if purpose:
        headers["x-access-purpose"] = purpose
    with TestClient(create_app(settings)) as client:
        response = client.get(url, headers=headers)
    assert response.status_code == 200, f"{where}: {response.text}"
    assert response.headers["content-type"] == "application/geo+json"
    assert response.json()["type"] == "FeatureCollection", where


def test_every_error_code_is_documented() -> None:
    text = (DOCS / "app-developers.md").read_text(encoding="utf-8")
    codes = [BAD_USER_INPUT, PARSE_FAILED, VALIDATION_FAILED, BAD_REQUEST, INTERNAL]
    more = ["REQUEST_TOO_LARGE", "FORBIDDEN", "PURPOSE_REQUIRED", "UNAUTHENTICATED"]
    more += [*sorted(LIMIT_CODES), INTROSPECTION_DISABLED, *HTTP_CODES]
    more += [PERSISTED_QUERY_NOT_ALLOWED, PERSISTED_QUERY_NOT_FOUND, CLIENT_CLOSED_REQUEST]
    missing = [code for code in [*codes, *more] if f"`{code}`" not in text]
    assert not missing, f"docs/app-developers.md does not explain {missing}"
