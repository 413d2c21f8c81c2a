"""gridhub address match: CSV and XLSX in, the match appended, bad rows reported, a summary."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook, load_workbook
from typer.testing import CliRunner

from cli.main import app
from demo import District

runner = CliRunner()


def rooms(district: District, count: int) -> list[dict[str, Any]]:
    return [row for row in district.addresses if row["room_code"] and row["building"]][:count]


def spelled(row: dict[str, Any]) -> str:
    """A department's spelling: city prefix, 幢 for 栋, floor and room with 房."""
    building = row["building"].replace("栋", "幢")
    room = f"{row['floor']}楼{row['room']}房"
    return f"深圳市{row['road']}{row['number']}号{row['estate']}{building}{room}"


def test_a_csv_export_gets_its_matches_appended(
    tmp_path: Path, database_url: str, district: District
) -> None:
    source = tmp_path / "export.csv"
    wanted = rooms(district, 6)
    with source.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["编号", "地址"])
        for i, row in enumerate(wanted):
            writer.writerow([i, row["text"] if i % 2 else spelled(row)])
        writer.writerow([90, ""])
        writer.writerow([91, "路" * 300])
        writer.writerow([92, "火星基地一号"])
    with source.open("ab") as handle:
        handle.write(b"93,\xff\xfe\xfa\n")
    target = tmp_path / "matched.csv"
    result = runner.invoke(
        app,
        ["address", "match", str(source), "--column", "地址", "-o", str(target)]
        + ["--database-url", database_url],
    )
    assert result.exit_code == 0, result.output
    with target.open(encoding="utf-8-sig", newline="") as handle:
        out = list(csv.DictReader(handle))
    assert len(out) == len(wanted) + 4
    for row, matched in zip(wanted, out, strict=False):
        assert matched["house_code"] == row["house_code"]
        assert matched["room_code"] == row["code"]
        assert matched["standard_address"] == row["text"]
        assert matched["method"] in ("exact", "components")
        assert float(matched["confidence"]) >= 0.9
    problems = {r["编号"]: (r["method"], r["problem"]) for r in out[len(wanted) :]}
    assert problems == {
        "90": ("bad", "empty"),
        "91": ("bad", "longer than 200 characters"),
        "92": ("unmatched", ""),
        "93": ("bad", "undecodable characters"),
    }
    assert "components" in result.output
    assert "bad" in result.output


def test_an_xlsx_export_and_an_area(tmp_path: Path, database_url: str, district: District) -> None:
    wanted = rooms(district, 3)
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["地址", "备注"])
    for row in wanted:
        sheet.append([spelled(row), "ok"])
    source = tmp_path / "export.xlsx"
    book.save(source)
    target = tmp_path / "matched.xlsx"
    elsewhere = "440306002"  # the rows are in street 001: outside this area nothing matches
    assert all(not row["grid_code"].startswith(elsewhere) for row in wanted)
    for area, expect_codes in ((None, True), (elsewhere, False)):
        args = ["address", "match", str(source), "--column", "地址", "-o", str(target)]
        args += ["--database-url", database_url] + (["--area", area] if area else [])
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        sheet = load_workbook(target, read_only=True).worksheets[0]
        header, *rows = [list(r) for r in sheet.iter_rows(values_only=True)]
        assert header[:3] == ["地址", "备注", "house_code"]
        codes = [r[header.index("room_code")] for r in rows]
        if expect_codes:
            assert codes == [row["code"] for row in wanted]
        else:
            assert not any(codes)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--column", "nope"], "no column 'nope'"),
        (["--column", "地址", "--area", "12x"], "not an area code"),
    ],
)
def test_mistakes_are_refused_clearly(
    tmp_path: Path, database_url: str, args: list[str], message: str
) -> None:
    source = tmp_path / "in.csv"
    source.write_text("地址\n新安六路1号\n", encoding="utf-8")
    result = runner.invoke(
        app,
        ["address", "match", str(source), "-o", str(tmp_path / "o.csv"), *args]
        + ["--database-url", database_url],
    )
    assert result.exit_code == 2
    assert message in result.output
