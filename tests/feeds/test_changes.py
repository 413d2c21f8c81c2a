"""Change feeds over real feed runs: what an app that syncs incrementally sees through the hub's
HTTP API after inserts, updates and removals, cut to its plan; sources, masked or refused per
plan; the audit entry of such a read; bad input."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from markdown_it import MarkdownIt
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.testclient import TestClient

from addresses.matcher import Matcher
from catalog import feed_store, freshness
from catalog.feed_store import FEEDS
from demo import District
from feeds.run import run_feed
from hub.app import create_app
from hub.execution import Executor
from hub.settings import Settings
from policies.plan import AccessPlan
from policies.principal import Principal
from policies.rules import Act, Rule
from resolvers.context import RequestContext
from resolvers.ids import from_global_id, to_global_id
from schema import build_schema
from store.models import AuditEntry, FeedRun, Person
from tests.feeds.helpers import PEOPLE_HEADER, new_id_number, people_feed, write_csv

FEED = "T-CHANGES-GA"
#: The two runs (far from every other test's times), and an app's last sync between them.
RUN_1 = datetime(2040, 1, 1, 8, 0, tzinfo=UTC)
RUN_2 = datetime(2040, 1, 2, 8, 0, tzinfo=UTC)
SINCE = "2040-01-02T00:00:00+08:00"  # 2040-01-01 16:00 UTC

CHANGES = """query($since: DateTime!) {
  people(changedSince: $since, first: 50) {
    totalCount edges { node { id name phone updatedAt } } }
  removed(type: PERSON, since: $since, first: 50) {
    totalCount edges { node { id removedAt } } pageInfo { hasNextPage } } }"""


def _rooms_in(district: District, grid: str, count: int) -> list[dict[str, Any]]:
    rooms = [a for a in district.addresses if a["room_code"] and a["grid_code"] == grid]
    return rooms[:count]


def _resident(id_number: str, room: dict[str, Any], phone: str = "13800138000") -> list[str]:
    return [id_number, "陈小梅", phone, "流动", "租住", room["text"]]


@pytest.fixture(scope="module")
def hub(feeds_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(feeds_settings)) as client:
        yield client


#: The grid the docs' sync examples run in (as its worker), and another.
DOCS_GRID = "440306001001001"


@pytest.fixture(scope="module")
def grids(district: District) -> tuple[str, str]:
    """Two grids, each with rooms enough for the residents here."""
    found = sorted({a["grid_code"] for a in district.addresses if a["room_code"]})
    other = next(grid for grid in found if grid != DOCS_GRID)
    assert len(_rooms_in(district, DOCS_GRID, 4)) == 4
    return DOCS_GRID, other


_ids_of_people = select(Person.id_number, Person.id)


@pytest.fixture(scope="module")
async def runs(
    tmp_path_factory: pytest.TempPathFactory,
    feeds_engine: AsyncEngine,
    matcher: Matcher,
    district: District,
    grids: tuple[str, str],
) -> dict[str, Any]:
    """Two snapshot runs of one residents feed over grids A and B. The second keeps a1 as it
    was, changes a2's and b2's phone, drops a3 and b1, and brings a4."""
    a, b = grids
    rooms_a, rooms_b = _rooms_in(district, a, 4), _rooms_in(district, b, 2)
    ids = {name: new_id_number() for name in ("a1", "a2", "a3", "a4", "b1", "b2")}
    room = {"a1": rooms_a[0], "a2": rooms_a[1], "a3": rooms_a[2], "a4": rooms_a[3]}
    room |= {"b1": rooms_b[0], "b2": rooms_b[1]}
    feed = people_feed(FEED)
    folder = tmp_path_factory.mktemp("changes")
    first = write_csv(
        folder / "run1.csv",
        PEOPLE_HEADER,
        [_resident(ids[n], room[n]) for n in ("a1", "a2", "a3", "b1", "b2")],
    )
    second = write_csv(
        folder / "run2.csv",
        PEOPLE_HEADER,
        [
            _resident(ids["a1"], room["a1"]),
            _resident(ids["a2"], room["a2"], "13900139000"),
            _resident(ids["a4"], room["a4"]),
            _resident(ids["b2"], room["b2"], "13900139000"),
        ],
    )
    one = await run_feed(feeds_engine, feed, first, matcher, by="tester", now=RUN_1)
    async with feeds_engine.connect() as connection:
        before = {row.id_number: row.id for row in await connection.execute(_ids_of_people)}
    two = await run_feed(feeds_engine, feed, second, matcher, by="tester", now=RUN_2)
    async with feeds_engine.connect() as connection:
        after = {row.id_number: row.id for row in await connection.execute(_ids_of_people)}
    assert one.counts()["inserted"] == 5
    assert {k: two.counts()[k] for k in ("inserted", "updated", "unchanged", "removed")} == {
        "inserted": 1,
        "updated": 2,
        "unchanged": 1,
        "removed": 2,
    }
    keys = {name: before.get(number) or after[number] for name, number in ids.items()}
    return {"key": keys, "run": two.run_id}


def _ask(hub: TestClient, token: str, query: str, variables: dict[str, Any]) -> Any:
    response = hub.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.text
    return response


def _ids(connection: dict[str, Any]) -> set[Any]:
    return {from_global_id(edge["node"]["id"])[1] for edge in connection["edges"]}


@pytest.mark.parametrize(
    ("worker", "changed", "gone"), [(0, {"a2", "a4"}, {"a3"}), (1, {"b2"}, {"b1"})]
)
def test_a_grid_worker_syncs_the_changes_and_removals_of_their_own_grid_only(
    hub: TestClient,
    feeds_token: Callable[[str], str],
    grids: tuple[str, str],
    runs: dict[str, Any],
    worker: int,
    changed: set[str],
    gone: set[str],
) -> None:
    key = runs["key"]
    response = _ask(hub, feeds_token(f"worker-{grids[worker]}"), CHANGES, {"since": SINCE})
    body = response.json()
    assert "errors" not in body, body
    people, removed = body["data"]["people"], body["data"]["removed"]
    assert _ids(people) == {key[n] for n in changed}
    assert people["totalCount"] == len(changed)
    assert all(e["node"]["updatedAt"] == "2040-01-02T08:00:00+00:00" for e in people["edges"])
    # the other grid's changes and removals are not there, nor counted
    assert _ids(removed) == {key[n] for n in gone}
    assert removed["totalCount"] == len(gone)
    assert [e["node"]["removedAt"] for e in removed["edges"]] == ["2040-01-02T08:00:00+00:00"]
    assert removed["pageInfo"] == {"hasNextPage": False}


def test_asking_since_before_the_first_run_finds_every_row_of_the_feed_in_the_grid(
    hub: TestClient,
    feeds_token: Callable[[str], str],
    grids: tuple[str, str],
    runs: dict[str, Any],
) -> None:
    key = runs["key"]
    body = _ask(
        hub, feeds_token(f"worker-{grids[0]}"), CHANGES, {"since": "2040-01-01T00:00:00Z"}
    ).json()
    assert _ids(body["data"]["people"]) == {key[n] for n in ("a1", "a2", "a4")}
    assert _ids(body["data"]["removed"]) == {key["a3"]}


async def test_the_read_names_its_fields_in_the_audit_entry(
    hub: TestClient,
    feeds_token: Callable[[str], str],
    feeds_engine: AsyncEngine,
    grids: tuple[str, str],
    runs: dict[str, Any],
) -> None:
    worker = f"worker-{grids[0]}"
    response = _ask(hub, feeds_token(worker), CHANGES, {"since": SINCE})
    request_id = response.headers["X-Request-Id"]
    async with feeds_engine.connect() as connection:
        entry = (
            await connection.execute(select(AuditEntry).where(AuditEntry.request_id == request_id))
        ).one()
    read = {(r["type"], r["field"]) for r in entry.reads}
    assert {("Person", "updatedAt"), ("Person", "name"), ("Person", "id")} <= read
    assert entry.subject == worker
    assert entry.variables["since"] == SINCE
    assert set(entry.person_ids) == {str(runs["key"][n]) for n in ("a2", "a4")}


SOURCES = (
    """query($id: ID!) { person(id: $id) { id sources { department feed run receivedAt } } }"""
)


def test_a_grid_worker_is_refused_a_persons_sources_and_sees_a_houses(
    hub: TestClient,
    feeds_token: Callable[[str], str],
    grids: tuple[str, str],
    runs: dict[str, Any],
    district: District,
) -> None:
    token = feeds_token(f"worker-{grids[0]}")
    person = to_global_id("Person", runs["key"]["a2"])
    body = _ask(hub, token, SOURCES, {"id": person}).json()
    assert body["data"]["person"] == {"id": person, "sources": None}
    assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"]
    assert body["errors"][0]["path"] == ["person", "sources"]
    house = next(h for h in district.houses if h["grid_code"] == grids[0])
    body = _ask(
        hub,
        token,
        "query($c: String!) { house(code: $c) { sources { feed } } }",
        {"c": house["code"]},
    ).json()
    assert body == {"data": {"house": {"sources": []}}}  # generated, not fed: no source


def _plan(*rules: Rule) -> AccessPlan:
    """A plan of ``rules``, with a declared purpose (a person's sources are tier 3)."""
    return AccessPlan(Principal("p", "person", "grid_office", (), ()), "elderly_care", 0, (), rules)


@pytest.mark.parametrize(
    ("act", "expected", "codes"),
    [(Act.READ, "shown", []), (Act.MASK, None, []), (Act.DENY, None, ["FORBIDDEN"])],
)
async def test_a_persons_sources_are_shown_masked_or_refused_as_the_plan_says(
    feeds_settings: Settings,
    feeds_engine: AsyncEngine,
    grids: tuple[str, str],
    runs: dict[str, Any],
    act: Act,
    expected: str | None,
    codes: list[str],
) -> None:
    plan = _plan(
        Rule.make("p", "*", "people", "tier:2", grids[0], Act.READ),
        Rule.make("p", "*", "people", "sources", grids[0], act),
    )
    executor = Executor(build_schema(), 0, compiled=True)
    context = RequestContext.build(feeds_settings, feeds_engine, plan)
    person = to_global_id("Person", runs["key"]["a2"])
    try:
        answer = await executor.run(executor.prepare(SOURCES), {"id": person}, None, context)
        body = orjson.loads(orjson.dumps(answer))
    finally:
        await context.close()
    sources = body["data"]["person"]["sources"]
    if expected == "shown":
        assert [s["feed"] for s in sources] == [FEED]
        assert sources[0]["department"] == "public_security"
        assert sources[0]["run"] == runs["run"]
        assert sources[0]["receivedAt"] == "2040-01-02T08:00:00+00:00"
    else:
        assert sources is None
    assert [e["extensions"]["code"] for e in body.get("errors", [])] == codes


@pytest.mark.parametrize(
    ("query", "argument"),
    [
        ('{ people(changedSince: "2040-01-01T00:00:00") { totalCount } }', "changedSince"),
        ('{ removed(type: HOUSE, since: "2040-01-01T00:00:00") { totalCount } }', "since"),
    ],
)
def test_a_time_without_a_zone_is_refused_naming_the_argument(
    hub: TestClient,
    feeds_token: Callable[[str], str],
    grids: tuple[str, str],
    query: str,
    argument: str,
) -> None:
    body = _ask(hub, feeds_token(f"worker-{grids[0]}"), query, {}).json()
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["field"] == argument
    assert f"`{argument}`" in error["message"]
    assert not any((body["data"] or {}).values())


def test_an_app_that_may_not_read_update_times_in_full_may_not_ask_for_changes(
    hub: TestClient, feeds_token: Callable[[str], str]
) -> None:
    """The civil affairs app holds no grant on houses: the list is refused, not emptied."""
    body = _ask(
        hub,
        feeds_token("civil-affairs-app"),
        '{ removed(type: HOUSE, since: "2040-01-01T00:00:00Z") { totalCount } }',
        {},
    ).json()
    assert body["errors"][0]["extensions"]["code"] in {"FORBIDDEN", "PURPOSE_REQUIRED"}


DOCS = Path(__file__).parents[2] / "docs"


def _sync_examples() -> list[tuple[str, str, dict[str, Any]]]:
    """The pages' ``graphql sync`` blocks: (page, query, variables from the json block after)."""
    found = []
    for page in ("app-developers.md", "feeds.md"):
        tokens = [
            t
            for t in MarkdownIt().parse((DOCS / page).read_text(encoding="utf-8"))
            if t.type == "fence"
        ]
        for token, following in zip(tokens, [*tokens[1:], None], strict=True):
            if token.info.strip() == "graphql sync":
                assert following is not None, page
                assert following.info.strip() == "json", page
                found.append((page, token.content, orjson.loads(following.content)))
    return found


@pytest.mark.parametrize(("page", "query", "variables"), _sync_examples())
def test_the_docs_sync_examples_answer_what_the_runs_changed_in_the_grid(
    hub: TestClient,
    feeds_token: Callable[[str], str],
    runs: dict[str, Any],
    page: str,
    query: str,
    variables: dict[str, Any],
) -> None:
    subject = query.splitlines()[0].removeprefix("# as:").strip()
    assert subject == f"worker-{DOCS_GRID}", page
    given = {
        k: SINCE if isinstance(v, str) and v.startswith("<") else v for k, v in variables.items()
    }
    body = _ask(hub, feeds_token(subject), query, given).json()
    assert "errors" not in body, (page, body)
    key = runs["key"]
    assert _ids(body["data"]["people"]) == {key["a2"], key["a4"]}
    assert _ids(body["data"]["removed"]) == {key["a3"]}


def test_the_pages_have_sync_examples() -> None:
    assert {page for page, _, _ in _sync_examples()} == {"app-developers.md", "feeds.md"}


STALE = """query($code: String!) { resource(code: $code) { updateFrequency stale
  statistics { lastUpdated lastUpdatedFrom } } }"""


async def test_a_resource_is_stale_while_a_feed_filling_it_is_late(
    hub: TestClient, feeds_token: Callable[[str], str], feeds_engine: AsyncEngine
) -> None:
    """RK-JC-001 (people's basic data) is filled by no packaged feed: unknown until one is
    declared, late while it has never run or last ran longer ago than a week and a half."""
    code, resource = "T-FRESH-WEEKLY", "RK-JC-001"

    def stale() -> Any:
        body = _ask(hub, feeds_token("cdo"), STALE, {"code": resource}).json()
        assert "errors" not in body, body
        return body["data"]["resource"]["stale"]

    assert stale() is None  # no feed fills it: nothing is expected, so nothing is late
    feed = people_feed(code, resource=resource, update_frequency="WEEKLY")
    now = datetime.now(UTC)
    runs = FeedRun.__table__

    async def ran(days_ago: float, status: str = "succeeded") -> None:
        async with feeds_engine.begin() as connection:
            await connection.execute(
                runs.insert().values(
                    feed=code,
                    department_code="public_security",
                    started_by="tester",
                    started_at=now - timedelta(days=days_ago, minutes=5),
                    finished_at=now - timedelta(days=days_ago),
                    status=status,
                    file_sha256="0" * 64,
                    counts={},
                    rejects=[],
                )
            )

    async with feeds_engine.begin() as connection:
        await feed_store.save(connection, feed, by="test", at=now)
    try:
        assert stale() is True  # declared, never run
        await ran(11)
        assert stale() is True  # a week and a half and more ago
        await ran(1, status="failed")
        assert stale() is True  # a failed run delivers nothing
        await ran(10)
        assert stale() is False  # within a week and a half
    finally:
        async with feeds_engine.begin() as connection:
            await connection.execute(delete(FEEDS).where(FEEDS.c.code == code))
            await connection.execute(delete(runs).where(runs.c.feed == code))
    assert stale() is None


@pytest.mark.parametrize(
    ("frequency", "days_ago", "late"),
    [
        ("REAL_TIME", 1 / 24, False),
        ("REAL_TIME", 2 / 24, True),
        ("DAILY", 1.4, False),
        ("DAILY", 1.6, True),
        ("MONTHLY", 46, False),
        ("MONTHLY", 47, True),
        ("YEARLY", 500, False),
        ("IRREGULAR", 5000, False),
    ],
)
def test_a_feed_is_late_after_its_period_and_half_of_it_again(
    frequency: str, days_ago: float, late: bool
) -> None:
    now = datetime(2026, 12, 3, tzinfo=UTC)
    feed = freshness.FeedFreshness("F", frequency, now - timedelta(days=days_ago))
    assert feed.late(now) is late
    assert freshness.stale([feed], now) is late
    assert freshness.FeedFreshness("F", frequency, None).late(now) is (frequency != "IRREGULAR")
    assert freshness.stale([], now) is None


async def test_asking_only_for_removals_is_audited_as_a_read_of_the_types_ids(
    hub: TestClient,
    feeds_token: Callable[[str], str],
    feeds_engine: AsyncEngine,
    grids: tuple[str, str],
    runs: dict[str, Any],
) -> None:
    query = "query($s: DateTime!) { removed(type: PERSON, since: $s) { edges { node { id } } } }"
    response = _ask(hub, feeds_token(f"worker-{grids[0]}"), query, {"s": SINCE})
    assert _ids(response.json()["data"]["removed"]) == {runs["key"]["a3"]}
    async with feeds_engine.connect() as connection:
        entry = (
            await connection.execute(
                select(AuditEntry).where(AuditEntry.request_id == response.headers["X-Request-Id"])
            )
        ).one()
    assert ("Person", "id") in {(r["type"], r["field"]) for r in entry.reads}
    assert entry.outcome == "ok"
