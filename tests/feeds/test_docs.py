"""docs/feeds.md stays true: its declaration is the packaged one, its export runs through
``gridhub ingest`` with the counts and reject the page shows, and its ``feedRuns`` query answers
the page's principal."""

from __future__ import annotations

import asyncio
import json
import tomllib
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from markdown_it import MarkdownIt
from sqlalchemy import select
from starlette.testclient import TestClient
from typer.testing import CliRunner

from catalog.feed_files import parse_feed, read_feed_directory
from catalog.files import packaged_directory
from cli.main import app
from demo import District
from hub.app import create_app
from hub.settings import Settings
from store.engine import create_engine
from store.models import Event
from tests.feeds.helpers import new_id_number, room_addresses

PAGE = Path(__file__).parents[2] / "docs" / "feeds.md"


def _blocks(info: str) -> list[str]:
    tokens = MarkdownIt().parse(PAGE.read_text(encoding="utf-8"))
    return [t.content for t in tokens if t.type == "fence" and t.info.strip() == info]


def test_the_pages_declaration_is_the_packaged_feed() -> None:
    (declaration,) = _blocks("toml")
    (table,) = tomllib.loads(declaration)["feed"]
    documented = parse_feed(table, "docs/feeds.md")
    packaged = {f.code: f for f in read_feed_directory(packaged_directory())}[documented.code]
    assert documented.columns == packaged.columns
    assert (documented.target, documented.mode, documented.address) == (
        packaged.target,
        packaged.mode,
        packaged.address,
    )
    for field, spellings in documented.values.items():
        assert spellings.items() <= packaged.values[field].items()


@pytest.fixture
def audit_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRIDHUB_AUDIT_KEY_DIR", str(tmp_path / "audit-keys"))


@pytest.fixture(scope="module")
def hub(feeds_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(feeds_settings)) as client:
        yield client


def test_the_pages_export_gives_the_pages_report_and_feed_runs_shows_it(
    tmp_path: Path,
    feeds_url: str,
    district: District,
    audit_keys: None,
    hub: TestClient,
    feeds_token: Callable[[str], str],
) -> None:
    (export,) = _blocks("csv")
    rooms = iter(room_addresses(district, 2, skip=700))
    text = export.replace("<an ID number>", new_id_number(), 1)
    text = text.replace("<another ID number>", new_id_number(), 1)
    while "<a room's standard address>" in text:
        text = text.replace("<a room's standard address>", next(rooms)["text"], 1)
    data = tmp_path / "居住登记.csv"
    data.write_text(text, encoding="utf-8")
    out = tmp_path / "run.json"
    result = CliRunner().invoke(
        app,
        ["ingest", "--feed", "GA-RK-FEED", str(data), "--report", str(out)]
        + ["--database-url", feeds_url],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text(encoding="utf-8"))
    shown = json.loads(_blocks("json")[0])
    assert report["status"] == shown["status"]
    assert report["counts"] == shown["counts"]
    assert [
        {key: reject[key] for key in ("line", "field", "code")} for reject in report["rejects"]
    ] == shown["rejects"]
    assert set(report["seconds"]) == set(shown["seconds"])
    assert all(seconds >= 0 for seconds in report["seconds"].values())

    (query,) = _blocks("graphql feeds")
    subject = query.splitlines()[0].removeprefix("# as:").strip()
    response = hub.post(
        "/graphql",
        json={"query": query},
        headers={"Authorization": f"Bearer {feeds_token(subject)}"},
    )
    body = response.json()
    assert "errors" not in body, body
    newest = body["data"]["feedRuns"]["edges"][0]["node"]
    assert newest["id"] == report["runId"]
    assert newest["counts"] == report["counts"]


def test_the_pages_hotline_declaration_is_the_packaged_feed() -> None:
    (declaration,) = _blocks("toml hotline")
    (table,) = tomllib.loads(declaration)["feed"]
    documented = parse_feed(table, "docs/feeds.md")
    packaged = {f.code: f for f in read_feed_directory(packaged_directory())}[documented.code]
    assert documented.as_json() | {"values": {}} == packaged.as_json() | {"values": {}}
    for field, spellings in documented.values.items():
        assert spellings.items() <= packaged.values[field].items()


@pytest.mark.parametrize("feed", ["SJ-12345-FEED", "FW-CZ-FEED"])
def test_the_pages_exports_of_houses_rooms_and_events_give_the_pages_reports(
    feed: str,
    tmp_path: Path,
    feeds_url: str,
    district: District,
    audit_keys: None,
) -> None:
    (export,) = _blocks(f"csv {feed}")
    buildings = iter([a for a in district.addresses if a["room_code"] is None][60:])
    text = export
    for placeholder in ("<a new room code>", "<another new room code>"):
        text = text.replace(placeholder, f"DOC{new_id_number()[-8:]}")
    while "<a building's standard address>" in text:
        text = text.replace("<a building's standard address>", next(buildings)["text"], 1)
    data = tmp_path / "export.csv"
    data.write_text(text, encoding="utf-8")
    out = tmp_path / "run.json"
    result = CliRunner().invoke(
        app,
        ["ingest", "--feed", feed, str(data), "--report", str(out), "--database-url", feeds_url],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text(encoding="utf-8"))
    shown = json.loads(_blocks(f"json {feed}")[0])
    assert report["status"] == shown["status"]
    assert report["counts"] == shown["counts"]
    assert [
        {key: reject[key] for key in ("line", "field", "code")} for reject in report["rejects"]
    ] == shown["rejects"]
    if feed == "SJ-12345-FEED":
        event = asyncio.run(_event(feeds_url, "GD2026110500001"))
        assert (event.status, event.handling_department_code) == ("dispatched", "ecology")
        assert event.deadline - event.reported_at == timedelta(hours=48)


async def _event(url: str, ticket: str) -> Any:
    engine = create_engine(Settings(database_url=url))
    try:
        async with engine.connect() as connection:
            return (
                await connection.execute(select(Event).where(Event.source_event_id == ticket))
            ).one()
    finally:
        await engine.dispose()
