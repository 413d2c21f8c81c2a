"""``gridhub audit retain`` and ``gridhub audit partitions`` from the command line: exit codes,
what they print, and ``gridhub audit verify`` still passing after the months are gone."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from typer.testing import CliRunner

from audit.keys import AuditKeys
from audit.writer import AuditWriter
from cli.audit import audit_app
from hub.settings import Settings
from store.audit_partitions import Month
from store.engine import create_engine
from tests.audit.helpers import record

runner = CliRunner()


def _build_log(settings: Settings, months: list[Month], per_month: int = 12) -> None:
    async def build() -> None:
        engine = create_engine(settings)
        at = months[0].start

        def clock() -> datetime:
            nonlocal at
            at += timedelta(milliseconds=1)
            return at

        try:
            keys = AuditKeys.load_or_create(settings.audit_key_dir)
            writer = AuditWriter(engine, keys, settings, clock=clock)
            await writer.start()
            for month in months:
                at = max(at, month.start + timedelta(days=1))
                for _ in range(per_month):
                    await writer.record(record())
            await writer.close()
        finally:
            await engine.dispose()

    asyncio.run(build())


def _options(settings: Settings) -> list[str]:
    return ["--database-url", settings.database_url, "--key-dir", str(settings.audit_key_dir)]


def test_retain_exports_removes_and_the_log_still_verifies(
    audit_settings: Settings, tmp_path: Path
) -> None:
    _build_log(audit_settings, [Month(2026, 8), Month(2026, 9), Month(2026, 10)])
    result = runner.invoke(
        audit_app,
        ["retain", "--before", "2026-10", "--export-dir", str(tmp_path), *_options(audit_settings)],
    )
    assert result.exit_code == 0, result.output
    assert "2026-08: 12 entries exported" in result.stdout
    assert "2026-09: 12 entries exported" in result.stdout
    assert "removed 24 entries before 2026-10 from 1 chains" in result.stdout

    verified = runner.invoke(audit_app, ["verify", "-q", *_options(audit_settings)])
    assert verified.exit_code == 0, verified.output
    assert verified.stdout.startswith("INTACT")
    assert "12 entries" in verified.stdout
    assert "after its retention checkpoint" in verified.stdout
    assert "audit-2026-08.jsonl, audit-2026-09.jsonl" in verified.stdout

    public = tmp_path / "public.json"
    printed = runner.invoke(
        audit_app, ["public-key", "--key-dir", str(audit_settings.audit_key_dir)]
    )
    public.write_text(printed.stdout, encoding="utf-8")
    assert json.loads(public.read_text())["keys"]
    for month in ("2026-08", "2026-09"):
        offline = runner.invoke(
            audit_app,
            [
                "verify",
                "-q",
                "--file",
                str(tmp_path / f"audit-{month}.jsonl"),
                "--public-key",
                str(public),
            ],
        )
        assert offline.exit_code == 0, offline.output

    again = runner.invoke(
        audit_app,
        ["retain", "--before", "2026-10", "--export-dir", str(tmp_path), *_options(audit_settings)],
    )
    assert again.exit_code == 0, again.output
    assert "nothing before 2026-10" in again.stdout


def test_retain_refuses_the_current_month_and_bad_months(
    audit_settings: Settings, tmp_path: Path
) -> None:
    current = Month.of(datetime.now(UTC))
    _build_log(audit_settings, [current])
    refused = runner.invoke(
        audit_app,
        [
            "retain",
            "--before",
            str(current.next()),
            "--export-dir",
            str(tmp_path),
            *_options(audit_settings),
        ],
    )
    assert refused.exit_code == 1
    assert "current month" in refused.output
    for bad in ("2026-13", "last month", "2026-1"):
        result = runner.invoke(
            audit_app,
            ["retain", "--before", bad, "--export-dir", str(tmp_path), *_options(audit_settings)],
        )
        assert result.exit_code == 2, result.output
        assert "--before" in result.output
    assert not (tmp_path / f"audit-{current}.jsonl").exists()
    verified = runner.invoke(audit_app, ["verify", "-q", *_options(audit_settings)])
    assert verified.exit_code == 0
    assert "12 entries" in verified.stdout


def test_partitions_says_what_there_is(audit_settings: Settings, backend: str) -> None:
    result = runner.invoke(
        audit_app,
        ["partitions", "--ahead", "5", "--database-url", audit_settings.database_url],
    )
    assert result.exit_code == 0, result.output
    if backend == "sqlite":
        assert "not partitioned" in result.stdout
    else:
        last = Month.of(datetime.now(UTC))
        for _ in range(5):
            last = last.next()
        assert f".. {last} (" in result.stdout


def _documented_retain_lines() -> list[re.Pattern[str]]:
    """The output docs/operators.md shows for ``gridhub audit retain``, as patterns: numbers,
    paths and hashes stand for any."""
    text = (Path(__file__).parents[2] / "docs" / "operators.md").read_text(encoding="utf-8")
    block = text[text.index("gridhub audit retain --before") :].split("```", 1)[0]
    patterns = []
    for line in block.splitlines()[1:]:
        if not line.startswith("# ") or line.startswith("#   sha256"):
            continue
        shown = re.escape(line.removeprefix("# "))
        shown = re.sub(r"/srv/audit\\-archive/", r".*/", shown)
        shown = re.sub(r"\d+", r"\\d+", shown)
        patterns.append(re.compile(shown))
    return patterns


def test_the_documented_output_is_what_retain_prints(
    audit_settings: Settings, tmp_path: Path
) -> None:
    patterns = _documented_retain_lines()
    assert len(patterns) == 3
    _build_log(audit_settings, [Month(2026, 4), Month(2026, 5), Month(2026, 6)])
    result = runner.invoke(
        audit_app,
        ["retain", "--before", "2026-06", "--export-dir", str(tmp_path), *_options(audit_settings)],
    )
    assert result.exit_code == 0, result.output
    printed = [line for line in result.stdout.splitlines() if not line.startswith("  sha256")]
    assert len(printed) == len(patterns)
    for pattern, line in zip(patterns, printed, strict=True):
        assert pattern.fullmatch(line), (pattern.pattern, line)
