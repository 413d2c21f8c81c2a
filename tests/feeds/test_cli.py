"""``gridhub catalog sync`` picks feeds up from the catalogue files; ``gridhub ingest`` runs one
on an export, writes its report, and records the run in the audit log."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from catalog.files import packaged_directory
from cli.main import app
from demo import District
from hub.settings import Settings
from store.engine import create_engine
from store.models import AuditEntry, FeedDeclaration, Person
from tests.feeds.helpers import PEOPLE_HEADER, new_id_number, room_addresses, write_csv

runner = CliRunner()

FEED_FILE = """
[[feed]]
code = "{code}"
name = "居住登记导出"
department = "public_security"
resource = "RK-JZ-004"
target = "people"
key = "idNumber"
format = "csv"
mode = "snapshot"
update_frequency = "DAILY"
address = "居住地址"

[feed.columns]
idNumber = "公民身份号码"
name = "姓名"
phone = "联系电话"
registration = "户籍类别"
residenceKind = "居住方式"
{extra}

[feed.values.registration]
"户籍" = "LOCAL"
"流动" = "FLOATING"

[feed.values.residenceKind]
"自有" = "OWNER"
"租住" = "RENTER"
"""


def _catalogue(tmp_path: Path, code: str, extra: str = "") -> Path:
    folder = tmp_path / "catalogue"
    folder.mkdir(parents=True)
    for entry in packaged_directory().iterdir():
        if entry.name.endswith(".toml"):
            shutil.copyfile(str(entry), folder / entry.name)
    (folder / "zz_feeds.toml").write_text(
        FEED_FILE.format(code=code, extra=extra), encoding="utf-8"
    )
    return folder


def _query(url: str, statement: Any) -> list[Any]:
    async def read() -> list[Any]:
        engine = create_engine(Settings(database_url=url))
        try:
            async with engine.connect() as connection:
                return list((await connection.execute(statement)).all())
        finally:
            await engine.dispose()

    return asyncio.run(read())


def test_catalog_sync_stores_the_feeds_of_the_files_and_reports_their_mistakes(
    tmp_path: Path, feeds_url: str
) -> None:
    folder = _catalogue(tmp_path, "T-SYNC-FEED")
    synced = runner.invoke(
        app, ["catalog", "sync", "--dir", str(folder), "--database-url", feeds_url]
    )
    assert synced.exit_code == 0, synced.output
    assert "feed created: T-SYNC-FEED" in synced.stdout
    (stored,) = _query(
        feeds_url, select(FeedDeclaration).where(FeedDeclaration.code == "T-SYNC-FEED")
    )
    assert (stored.department_code, stored.target, stored.mode, stored.source) == (
        "public_security",
        "people",
        "snapshot",
        "zz_feeds.toml",
    )
    again = runner.invoke(
        app, ["catalog", "sync", "--dir", str(folder), "--database-url", feeds_url]
    )
    assert "feed" not in again.stdout.replace("feeds", "")  # nothing created or changed

    broken = _catalogue(tmp_path / "broken", "T-SYNC-BROKEN", extra='shoeSize = "鞋码"')
    refused = runner.invoke(
        app, ["catalog", "sync", "--dir", str(broken), "--database-url", feeds_url]
    )
    assert refused.exit_code == 2
    assert "Person has no field `shoeSize`" in refused.output
    assert not _query(
        feeds_url, select(FeedDeclaration).where(FeedDeclaration.code == "T-SYNC-BROKEN")
    )


@pytest.fixture
def audit_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    keys = tmp_path / "audit-keys"
    monkeypatch.setenv("GRIDHUB_AUDIT_KEY_DIR", str(keys))
    return keys


def test_ingest_runs_a_feed_file_writes_its_report_and_audits_the_run(
    tmp_path: Path, feeds_url: str, district: District, audit_keys: Path
) -> None:
    folder = _catalogue(tmp_path, "T-INGEST")
    declaration = folder / "zz_feeds.toml"
    rooms = room_addresses(district, 2, skip=500)
    ids = [new_id_number() for _ in rooms]
    data = write_csv(
        tmp_path / "居住登记.csv",
        PEOPLE_HEADER,
        [
            [ids[0], "周杰", "13700137000", "户籍", "自有", rooms[0]["text"]],
            [ids[1], "吴敏", "13700137001", "流动", "租住", rooms[1]["text"]],
            ["110101198503150000", "坏号", "13700137002", "流动", "租住", rooms[1]["text"]],
        ],
    )
    out = tmp_path / "report.json"
    dry = runner.invoke(
        app,
        ["ingest", "--feed", str(declaration), str(data), "--dry-run"]
        + ["--database-url", feeds_url],
    )
    assert dry.exit_code == 0, dry.output
    assert not _query(feeds_url, select(Person.id).where(Person.id_number.in_(ids)))

    result = runner.invoke(
        app,
        ["ingest", "--feed", str(declaration), str(data), "--report", str(out), "--by", "ops"]
        + ["--database-url", feeds_url],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["counts"]["inserted"] == 2
    assert report["counts"]["rejected"] == 1
    assert report["rejects"][0]["line"] == 4
    assert report["rejects"][0]["code"] == "invalid_id_number"
    assert report["status"] == "succeeded"
    assert "line 4: invalid_id_number" in result.output
    assert len(_query(feeds_url, select(Person.id).where(Person.id_number.in_(ids)))) == 2

    (entry,) = _query(
        feeds_url,
        select(AuditEntry.subject, AuditEntry.operation_name, AuditEntry.variables).where(
            AuditEntry.operation_name == "runFeed", AuditEntry.subject == "ops"
        ),
    )
    assert entry.variables["feed"] == "T-INGEST"
    assert entry.variables["sha256"] == report["sha256"]
    assert entry.variables["runId"] == report["runId"]
    assert entry.variables["counts"]["inserted"] == 2


def test_ingest_of_an_unknown_feed_or_an_unreadable_file_writes_nothing_and_exits_2(
    tmp_path: Path, feeds_url: str, audit_keys: Path
) -> None:
    data = write_csv(tmp_path / "x.csv", PEOPLE_HEADER, [])
    unknown = runner.invoke(
        app, ["ingest", "--feed", "NO-SUCH-FEED", str(data), "--database-url", feeds_url]
    )
    assert unknown.exit_code == 2
    assert "no feed 'NO-SUCH-FEED'" in unknown.output
    folder = _catalogue(tmp_path, "T-INGEST-BAD")
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    failed = runner.invoke(
        app,
        ["ingest", "--feed", str(folder / "zz_feeds.toml"), str(empty)]
        + ["--database-url", feeds_url],
    )
    assert failed.exit_code == 2
    assert "the file can not be read" in failed.output
