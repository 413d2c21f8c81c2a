"""``POST /feeds/{code}/runs``: a department system sends its export with its app's token; the
hub runs its own department's feed and refuses everything else, each request audited."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.testclient import TestClient

from catalog import feed_store
from demo import District
from hub.app import create_app
from hub.settings import Settings
from store.models import AuditEntry, FeedRun, Person
from tests.feeds.helpers import PEOPLE_HEADER, new_id_number, people_feed, room_addresses

CODE = "T-HTTP-GA"


@pytest.fixture(scope="module")
def hub(feeds_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(feeds_settings)) as client:
        yield client


@pytest.fixture(scope="module")
async def declared(feeds_engine: AsyncEngine) -> str:
    async with feeds_engine.begin() as connection:
        await feed_store.save(connection, people_feed(CODE), by="test", at=datetime.now(UTC))
    return CODE


def _csv(rows: list[list[str]]) -> bytes:
    lines = [",".join(PEOPLE_HEADER), *(",".join(row) for row in rows)]
    return ("\n".join(lines) + "\n").encode("utf-8")


def _post(
    hub: TestClient, token: str | None, body: bytes, media: str = "text/csv", code: str = CODE
) -> object:
    headers = {"Content-Type": media}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return hub.post(f"/feeds/{code}/runs", content=body, headers=headers)


async def _runs(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return len((await connection.execute(select(FeedRun.id).where(FeedRun.feed == CODE))).all())


async def test_the_departments_app_sends_its_export_and_gets_the_run(
    hub: TestClient,
    declared: str,
    feeds_token: Callable[[str], str],
    feeds_engine: AsyncEngine,
    district: District,
) -> None:
    room = room_addresses(district, 1, skip=600)[0]
    resident = new_id_number()
    body = _csv([[resident, "郑洁", "13600136000", "流动", "租住", room["text"]]])
    response = _post(hub, feeds_token("public-security-app"), body, "text/csv; charset=utf-8")
    assert response.status_code == 201, response.text  # type: ignore[attr-defined]
    answer = response.json()  # type: ignore[attr-defined]
    assert answer["status"] == "succeeded"
    assert answer["counts"]["inserted"] == 1
    request_id = response.headers["X-Request-Id"]  # type: ignore[attr-defined]
    async with feeds_engine.connect() as connection:
        person = (
            await connection.execute(select(Person).where(Person.id_number == resident))
        ).one()
        entry = (
            await connection.execute(
                select(AuditEntry.subject, AuditEntry.operation_name, AuditEntry.variables).where(
                    AuditEntry.request_id == request_id
                )
            )
        ).one()
    assert (person.source_feed, person.source_run) == (CODE, answer["runId"])
    assert person.room_code == room["room_code"]
    assert (entry.subject, entry.operation_name) == ("public-security-app", "runFeed")
    assert entry.variables["runId"] == answer["runId"]
    assert len(entry.variables["sha256"]) == 64


@pytest.mark.parametrize(
    ("subject", "media", "size", "status", "code"),
    [
        ("civil-affairs-app", "text/csv", 1, 403, "FORBIDDEN"),  # another department's app
        ("officer-public-security", "text/csv", 1, 403, "FORBIDDEN"),  # a person, not an app
        ("public-security-app", "application/json", 1, 415, "UNSUPPORTED_MEDIA_TYPE"),
        ("public-security-app", "text/csv", 200, 413, "REQUEST_TOO_LARGE"),  # over 4 KiB
    ],
)
async def test_uploads_that_may_not_run_are_refused_and_write_nothing(
    subject: str,
    media: str,
    size: int,
    status: int,
    code: str,
    hub: TestClient,
    declared: str,
    feeds_token: Callable[[str], str],
    feeds_engine: AsyncEngine,
) -> None:
    before = await _runs(feeds_engine)
    rows = [[new_id_number(), "某某", "13600136000", "流动", "租住", "某路1号"]] * size
    response = _post(hub, feeds_token(subject), _csv(rows), media)
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    assert response.json()["errors"][0]["extensions"]["code"] == code  # type: ignore[attr-defined]
    assert await _runs(feeds_engine) == before
    request_id = response.headers["X-Request-Id"]  # type: ignore[attr-defined]
    async with feeds_engine.connect() as connection:
        error_code = await connection.scalar(
            select(AuditEntry.error_code).where(AuditEntry.request_id == request_id)
        )
    assert error_code == code


def test_no_token_and_no_such_feed_are_refused(
    hub: TestClient, declared: str, feeds_token: Callable[[str], str]
) -> None:
    assert _post(hub, None, _csv([])).status_code == 401  # type: ignore[attr-defined]
    missing = _post(hub, feeds_token("public-security-app"), _csv([]), code="NO-SUCH")
    assert missing.status_code == 404  # type: ignore[attr-defined]


def test_a_file_that_can_not_be_read_is_refused_with_the_reason(
    hub: TestClient, declared: str, feeds_token: Callable[[str], str], tmp_path: Path
) -> None:
    response = _post(hub, feeds_token("public-security-app"), b"\n\n")
    assert response.status_code == 422  # type: ignore[attr-defined]
    body = response.json()  # type: ignore[attr-defined]
    assert body["errors"][0]["extensions"]["code"] == "FEED_RUN_FAILED"
    assert "no header" in body["errors"][0]["message"]


RUNS_QUERY = """
query Runs($feed: String!, $first: Int, $after: String) {
  feedRuns(feed: $feed, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { id feed department status startedBy sha256
                   counts { read inserted rejected } rejects { line code reason } } }
  }
}
"""


def _graphql(hub: TestClient, token: str, query: str, variables: dict[str, object]) -> dict:
    response = hub.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {token}"},
    )
    return dict(response.json())


async def test_the_departments_data_officers_and_the_cdo_read_the_feeds_runs_others_do_not(
    hub: TestClient,
    declared: str,
    feeds_token: Callable[[str], str],
    district: District,
) -> None:
    room = room_addresses(district, 1, skip=650)[0]["text"]
    for name in ("冯一", "冯二"):
        body = _csv(
            [
                [new_id_number(), name, "13600136000", "流动", "租住", room],
                ["110101198503150000", name, "13600136000", "流动", "租住", room],
            ]
        )
        assert _post(hub, feeds_token("public-security-app"), body).status_code == 201  # type: ignore[attr-defined]
    for reader in ("officer-public-security", "cdo"):
        first = _graphql(hub, feeds_token(reader), RUNS_QUERY, {"feed": CODE, "first": 1})
        assert "errors" not in first, first
        page = first["data"]["feedRuns"]
        assert page["totalCount"] >= 2
        assert page["pageInfo"]["hasNextPage"] is True
        (newest,) = (edge["node"] for edge in page["edges"])
        assert (newest["feed"], newest["department"], newest["status"]) == (
            CODE,
            "public_security",
            "succeeded",
        )
        assert newest["startedBy"] == "public-security-app"
        assert newest["counts"] == {"read": 2, "inserted": 1, "rejected": 1}
        assert newest["rejects"] == [
            {"line": 3, "code": "invalid_id_number", "reason": newest["rejects"][0]["reason"]}
        ]
        second = _graphql(
            hub,
            feeds_token(reader),
            RUNS_QUERY,
            {"feed": CODE, "first": 1, "after": page["pageInfo"]["endCursor"]},
        )
        (older,) = (edge["node"] for edge in second["data"]["feedRuns"]["edges"])
        assert older["id"] < newest["id"]
        one = _graphql(
            hub,
            feeds_token(reader),
            "query($id: Int!) { feedRun(id: $id) { id sha256 } }",
            {"id": newest["id"]},
        )
        assert one["data"]["feedRun"] == {"id": newest["id"], "sha256": newest["sha256"]}
    for outsider in ("officer-civil-affairs", "public-security-app", "worker-440306001001001"):
        refused = _graphql(hub, feeds_token(outsider), RUNS_QUERY, {"feed": CODE})
        assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN", refused
        assert not refused.get("data")
