"""``gridhub audit``: verify (exit 0, 1, 2), export, offline verification, public key, rotation.

The commands run their own event loop, so these tests are synchronous and build their logs
through an engine of their own.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from sqlalchemy import update
from typer.testing import CliRunner

from audit.keys import AuditKeys
from audit.writer import AuditWriter
from cli.audit import audit_app, parse_when
from hub.settings import Settings
from store.engine import create_engine
from store.models import AuditEntry
from tests.audit.helpers import record

runner = CliRunner()


def _build_log(settings: Settings, entries: int = 25, tamper_seq: int | None = None) -> str:
    async def build() -> str:
        engine = create_engine(settings)
        try:
            keys = AuditKeys.load_or_create(settings.audit_key_dir)
            writer = AuditWriter(engine, keys, settings)
            await writer.start()
            for _ in range(entries):
                await writer.record(record())
            await writer.close()
            if tamper_seq is not None:
                async with engine.begin() as connection:
                    await connection.execute(
                        update(AuditEntry)
                        .where(AuditEntry.seq == tamper_seq)
                        .values(purpose="改过的")
                    )
            return writer.writer_id
        finally:
            await engine.dispose()

    return asyncio.run(build())


def _options(settings: Settings) -> list[str]:
    return ["--database-url", settings.database_url, "--key-dir", str(settings.audit_key_dir)]


def test_public_key_prints_the_document_and_rotate_adds_a_key(tmp_path: Path) -> None:
    key_dir = tmp_path / "audit-keys"
    printed = runner.invoke(audit_app, ["public-key", "--key-dir", str(key_dir)])
    assert printed.exit_code == 0, printed.output
    (first,) = json.loads(printed.stdout)["keys"]
    rotated = runner.invoke(audit_app, ["keys", "rotate", "--key-dir", str(key_dir)])
    assert rotated.exit_code == 0, rotated.output
    new_kid = rotated.stdout.strip()
    after = json.loads(runner.invoke(audit_app, ["public-key", "--key-dir", str(key_dir)]).stdout)
    assert [key["kid"] for key in after["keys"]] == [new_kid, first["kid"]]


def test_verify_exits_0_for_an_intact_log(audit_settings: Settings) -> None:
    writer_id = _build_log(audit_settings)
    result = runner.invoke(audit_app, ["verify", *_options(audit_settings)])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("INTACT")
    # 3 checkpoints and the genesis checkpoint that opens the chain.
    assert "25 entries and 4 checkpoints in 1 chain (1 sealed) checked" in result.stdout
    only = runner.invoke(
        audit_app, ["verify", "-q", "--writer", writer_id, *_options(audit_settings)]
    )
    assert only.exit_code == 0, only.output


def test_verify_exits_1_and_names_the_entry_when_tampered(audit_settings: Settings) -> None:
    writer_id = _build_log(audit_settings, tamper_seq=14)
    result = runner.invoke(audit_app, ["verify", *_options(audit_settings)])
    assert result.exit_code == 1, result.output
    assert result.stdout.startswith("TAMPERED (changed)")
    assert f"entry #14 of chain {writer_id} was changed" in result.stdout
    later = runner.invoke(audit_app, ["verify", "--from", "21", *_options(audit_settings)])
    assert later.exit_code == 0, later.output  # from checkpoint 2 (#20) on, nothing changed
    assert "checked from #21" in later.stdout


@pytest.mark.usefixtures("audit_keys")  # only the database is missing, not the keys
def test_verify_exits_2_when_it_can_not_check(audit_settings: Settings, tmp_path: Path) -> None:
    """Each way verify can not check exits 2."""
    no_keys = runner.invoke(
        audit_app,
        ["verify", "--database-url", audit_settings.database_url, "--key-dir", str(tmp_path)],
    )
    assert no_keys.exit_code == 2
    assert "no audit keys" in no_keys.output
    bad_document = tmp_path / "key.json"
    bad_document.write_text("{}", encoding="utf-8")
    bad = runner.invoke(
        audit_app, ["verify", "--public-key", str(bad_document), *_options(audit_settings)]
    )
    assert bad.exit_code == 2
    assert "can not read the public key document" in bad.output
    file_alone = runner.invoke(audit_app, ["verify", "--file", str(bad_document)])
    assert file_alone.exit_code == 2
    assert "--public-key" in file_alone.output
    no_table = runner.invoke(
        audit_app,
        [
            "verify",
            "--database-url",
            f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}",
            "--key-dir",
            str(audit_settings.audit_key_dir),
        ],
    )
    assert no_table.exit_code == 2
    assert "can not read the audit log" in no_table.output


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_an_export_verifies_offline_with_the_public_key_alone(
    audit_settings: Settings, tmp_path: Path, fmt: str
) -> None:
    _build_log(audit_settings)
    key_file = tmp_path / "audit-public-key.json"
    printed = runner.invoke(
        audit_app, ["public-key", "--key-dir", str(audit_settings.audit_key_dir)]
    )
    key_file.write_text(printed.stdout, encoding="utf-8")
    export_file = tmp_path / f"audit.{fmt}"
    exported = runner.invoke(
        audit_app,
        [
            "export",
            "--from",
            "2020-01-01",
            "--to",
            "2100-01-01T00:00:00Z",
            "--format",
            fmt,
            "-o",
            str(export_file),
            "--database-url",
            audit_settings.database_url,
        ],
    )
    assert exported.exit_code == 0, exported.output
    assert "exported 25 entries and 3 checkpoints of 1 chain" in exported.output
    offline = ["verify", "--file", str(export_file), "--public-key", str(key_file)]
    result = runner.invoke(audit_app, offline)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("INTACT")
    lines = export_file.read_text(encoding="utf-8").splitlines(keepends=True)
    del lines[5]  # an entry
    export_file.write_text("".join(lines), encoding="utf-8")
    tampered = runner.invoke(audit_app, offline)
    assert tampered.exit_code == 1, tampered.output
    assert "was removed" in tampered.stdout


def test_export_to_standard_output(audit_settings: Settings) -> None:
    _build_log(audit_settings, entries=3)
    result = runner.invoke(
        audit_app, ["export", "--database-url", audit_settings.database_url, "--to", "2100-01-01"]
    )
    assert result.exit_code == 0, result.output
    records = [json.loads(line)["record"] for line in result.stdout.splitlines()]
    assert records == ["header", "entry", "entry", "entry", "checkpoint", "end"]


def test_times_without_an_offset_are_the_districts() -> None:
    assert parse_when("2026-11-01", "Asia/Shanghai").isoformat() == "2026-11-01T00:00:00+08:00"
    assert parse_when("2026-11-01T08:00Z", "Asia/Shanghai").isoformat() == (
        "2026-11-01T08:00:00+00:00"
    )
    bad = runner.invoke(audit_app, ["export", "--from", "yesterday"])
    assert bad.exit_code == 2
    assert "give a date" in bad.output
