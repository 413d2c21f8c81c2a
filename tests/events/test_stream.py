"""Subscriptions over Server-Sent Events, through a real server: a subscriber receives exactly
the changed events its plan shows and its subscription follows, a grant revoked mid-stream
stops delivery, every delivery is an audit entry, bad subscriptions are refused before any
stream starts, and streams end cleanly when the client goes or the server stops."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from catalog import workflow
from demo.grants import CDO, POPULATION, DemoGrant, seed_grants
from demo.principals import DATA_BUREAU
from hub.services import services
from hub.settings import Settings
from policies.store import PolicyStore
from resolvers.ids import to_global_id
from store.models import AuditEntry
from tests.events.streams import (
    Served,
    change,
    forget_events,
    report,
    serve,
    stream_settings,
    subscribe,
)

pytestmark = pytest.mark.e2e

WORKER = "worker-440306001001001"
MY_GRID, NEIGHBOUR = "440306001001001", "440306001001002"
OTHER_STREET = "440306002001001"
DEPARTMENT = """subscription Queue {
  eventsDispatchedToMyDepartment { id status gridCode handlingDepartmentCode reporter }
}"""
TWO_FIELDS = "subscription { eventsInMyGrid { id } eventsDispatchedToMyDepartment { id } }"
GRID = """subscription Mine($grid: String) {
  eventsInMyGrid(gridCode: $grid) { id status gridCode category { code } }
}"""


def gid(key: int) -> str:
    return to_global_id("Event", key)


@pytest.fixture(scope="module")
def served(settings: Settings) -> Iterator[Served]:
    with serve(stream_settings(settings)) as hub:
        yield hub


@pytest.fixture(autouse=True)
async def _forget_events(engine: AsyncEngine) -> AsyncIterator[None]:
    yield
    await forget_events(engine)


async def test_a_department_app_receives_its_departments_events_and_no_others(
    served: Served, engine: AsyncEngine, token_for: Callable[[str], str]
) -> None:
    async with subscribe(served.url, token_for("emergency-app"), DEPARTMENT) as stream:
        assert stream.status == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        await _opened(served)
        ours = await report(engine, MY_GRID, "emergency")
        await report(engine, MY_GRID, "urban_management")  # another department's
        theirs_elsewhere = await report(engine, OTHER_STREET, "emergency")
        found: dict[str, dict] = {}
        while len(found) < 2:
            for event in (await stream.next())["data"]["eventsDispatchedToMyDepartment"]:
                found[event["id"]] = event
        assert set(found) == {gid(ours), gid(theirs_elsewhere)}
        for event in found.values():
            assert event["handlingDepartmentCode"] == "emergency"
            assert event["status"] == "DISPATCHED"
            assert event["reporter"] != "worker-test"  # emergency sees reporters masked
        await change(engine, ours, "handling")
        changed = (await stream.next())["data"]["eventsDispatchedToMyDepartment"]
        assert [(e["id"], e["status"]) for e in changed] == [(gid(ours), "HANDLING")]
        await stream.quiet(0.5)


async def test_a_grid_worker_receives_events_of_its_grid_only(
    served: Served, engine: AsyncEngine, token_for: Callable[[str], str]
) -> None:
    async with subscribe(served.url, token_for(WORKER), GRID) as stream:
        await _opened(served)
        mine = await report(engine, MY_GRID, "urban_management")
        await report(engine, NEIGHBOUR, "urban_management")
        await report(engine, OTHER_STREET, "emergency")
        delivered = (await stream.next())["data"]["eventsInMyGrid"]
        assert [(e["id"], e["gridCode"]) for e in delivered] == [(gid(mine), MY_GRID)]
        assert delivered[0]["category"] == {"code": "fallen_tree"}
        await stream.quiet(1.0)


async def test_street_staff_narrow_their_area_to_one_grid(
    served: Served, engine: AsyncEngine, token_for: Callable[[str], str]
) -> None:
    async with subscribe(
        served.url, token_for("street-440306001"), GRID, {"grid": NEIGHBOUR}
    ) as stream:
        await _opened(served)
        await report(engine, MY_GRID, "emergency")
        there = await report(engine, NEIGHBOUR, "emergency")
        delivered = (await stream.next())["data"]["eventsInMyGrid"]
        assert [e["id"] for e in delivered] == [gid(there)]


async def test_a_grant_revoked_mid_stream_stops_delivery(
    served: Served, engine: AsyncEngine, token_for: Callable[[str], str]
) -> None:
    """The public-security app has no grant on events; granted them, it receives its
    department's; once the grant is revoked it receives nothing more, on the same stream."""
    now = datetime.now(UTC)
    granted = await seed_grants(
        engine, now, 30, (DemoGrant("public_security", "SJ-JC-002", *POPULATION),)
    )
    grant = granted[0].grant
    assert grant is not None
    async with subscribe(served.url, token_for("public-security-app"), DEPARTMENT) as stream:
        await _opened(served)
        before = await report(engine, MY_GRID, "public_security")
        delivered = (await stream.next())["data"]["eventsDispatchedToMyDepartment"]
        assert [e["id"] for e in delivered] == [gid(before)]
        cdo = workflow.Actor(CDO, DATA_BUREAU)
        await workflow.revoke(PolicyStore(engine), cdo, grant.id, "test: revoked", now)
        after = await report(engine, MY_GRID, "public_security")
        await change(engine, before, "handling")
        await stream.quiet(2.0)
        assert not stream.completed.is_set()  # still open: its plan just shows nothing
    del after


async def test_every_delivery_is_an_audited_read(
    served: Served, engine: AsyncEngine, token_for: Callable[[str], str]
) -> None:
    async with subscribe(served.url, token_for(WORKER), GRID) as stream:
        await _opened(served)
        opened = stream.headers["x-request-id"]
        first = await report(engine, MY_GRID, "emergency")
        await stream.next()
        await change(engine, first, "handling")
        await stream.next()
    async with engine.connect() as connection:
        entries = (
            await connection.execute(
                select(AuditEntry)
                .where(AuditEntry.request_id.like(f"{opened}%"))
                .order_by(AuditEntry.request_id)
            )
        ).all()
    assert [e.request_id for e in entries] == [opened, f"{opened}.1", f"{opened}.2"]
    assert {(e.subject, e.operation_type, e.operation_name) for e in entries} == {
        (WORKER, "subscription", "Mine")
    }
    for delivery in entries[1:]:
        assert delivery.outcome in ("ok", "partial")
        assert delivery.row_counts == {"Event": 1}
        read = {(r["type"], r["field"]) for r in delivery.reads}
        assert ("Event", "status") in read
        assert ("Event", "gridCode") in read


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"query": "subscription { eventsInMyGrid { id "}, 400, "GRAPHQL_PARSE_FAILED"),
        ({"query": "subscription { eventsEverywhere { id } }"}, 400, "GRAPHQL_VALIDATION_FAILED"),
        (
            {"query": TWO_FIELDS},
            400,
            "GRAPHQL_VALIDATION_FAILED",
        ),
        ({"query": "{ me { subject } }"}, 400, "NOT_A_SUBSCRIPTION"),
        (
            {"query": GRID, "variables": {"grid": OTHER_STREET}},
            403,
            "FORBIDDEN",
        ),
        ({"query": GRID, "variables": {"grid": "4403x"}}, 400, "BAD_USER_INPUT"),
        ({"query": GRID, "variables": {"grid": 7}}, 400, "BAD_USER_INPUT"),
    ],
    ids=["parse", "unknown-field", "two-fields", "query", "foreign-grid", "bad-code", "bad-type"],
)
async def test_a_bad_subscription_is_refused_before_any_stream(
    served: Served,
    engine: AsyncEngine,
    token_for: Callable[[str], str],
    body: dict,
    status: int,
    code: str,
) -> None:
    async with subscribe(
        served.url, token_for(WORKER), body["query"], body.get("variables")
    ) as stream:
        assert stream.status == status
        assert not stream.headers["content-type"].startswith("text/event-stream")
        answer = await stream.next()
    assert [e["extensions"]["code"] for e in answer["errors"]] == [code]
    assert "Traceback" not in str(answer)
    async with engine.connect() as connection:
        entry = (
            await connection.execute(
                select(AuditEntry).where(AuditEntry.request_id == stream.headers["x-request-id"])
            )
        ).one()
    assert entry.error_code == code


async def test_no_token_is_refused_and_a_subscription_as_json_is_told_to_stream(
    served: Served, token_for: Callable[[str], str]
) -> None:
    async with httpx.AsyncClient() as client:
        anonymous = await client.post(
            f"{served.url}/graphql",
            json={"query": GRID},
            headers={"accept": "text/event-stream"},
        )
        assert anonymous.status_code == 401
        as_json = await client.post(
            f"{served.url}/graphql",
            json={"query": GRID},
            headers={"authorization": f"Bearer {token_for(WORKER)}"},
        )
    assert [e["extensions"]["code"] for e in as_json.json()["errors"]] == ["EVENT_STREAM_REQUIRED"]


async def test_heartbeats_keep_an_idle_stream_and_a_gone_client_ends_it(
    served: Served, token_for: Callable[[str], str]
) -> None:
    before = served.streams
    async with subscribe(served.url, token_for(WORKER), GRID) as stream:
        await _opened(served, before + 1)
        await asyncio.sleep(1.6)  # heartbeats every 0.5 s
        assert stream.heartbeats >= 3
    deadline = time.monotonic() + 5
    while served.streams > before:
        assert time.monotonic() < deadline, "the stream outlived its client"
        await asyncio.sleep(0.05)


async def _opened(served: Served, count: int | None = None) -> None:
    """Wait until the server holds the stream (its subscriber is registered)."""
    deadline = time.monotonic() + 5
    while served.streams < (count or 1):
        assert time.monotonic() < deadline, "the stream did not open"
        await asyncio.sleep(0.02)


async def test_on_postgresql_changes_are_heard_not_polled(
    served: Served, engine: AsyncEngine, backend: str, token_for: Callable[[str], str]
) -> None:
    """On PostgreSQL the trigger's notification carries the change (the feed listens, and
    does not poll while it does); SQLite has none and polls."""
    feed = services(served.app).event_feed
    assert feed.listening is (backend == "postgresql")
    if backend != "postgresql":
        return
    feed.poll_seconds = 60.0  # were it polling, nothing would arrive within the test
    try:
        async with subscribe(served.url, token_for(WORKER), GRID) as stream:
            await _opened(served)
            mine = await report(engine, MY_GRID, "emergency")
            delivered = (await stream.next(within=5))["data"]["eventsInMyGrid"]
            assert [e["id"] for e in delivered] == [gid(mine)]
    finally:
        feed.poll_seconds = 0.1


def _doc_subscriptions() -> list[tuple[str, dict]]:
    """(subject, body) of each shell example of docs/event-stream.md that subscribes."""
    page = Path(__file__).parents[2] / "docs" / "event-stream.md"
    found = []
    for block in re.findall(r"```bash\n(.*?)```", page.read_text(encoding="utf-8"), re.S):
        if "text/event-stream" not in block:
            continue
        subject = re.search(r"--subject (\S+?)\)", block)
        body = re.search(r"-d '(.*?)'", block, re.S)
        assert subject, block
        assert body, block
        found.append((subject.group(1), orjson.loads(body.group(1))))
    assert found, "the page has no subscription example"
    return found


@pytest.mark.parametrize(("subject", "body"), _doc_subscriptions())
async def test_the_docs_subscription_examples_stream(
    served: Served,
    engine: AsyncEngine,
    token_for: Callable[[str], str],
    subject: str,
    body: dict,
) -> None:
    async with subscribe(served.url, token_for(subject), body["query"]) as stream:
        assert stream.status == 200
        await _opened(served)
        reported = await report(engine, MY_GRID, "emergency")
        message = await stream.next()
    assert "errors" not in message, message
    (events,) = message["data"].values()
    assert [e["id"] for e in events] == [gid(reported)]
