"""Helpers of the feed tests: fresh keys, addresses of the district, declarations, exports."""

from __future__ import annotations

import csv
import itertools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from catalog.feed_files import FeedDefinition, parse_feed
from demo import District
from feeds.checksums import (
    credit_code_check_char,
    id_number_check_digit,
    organization_code_check_char,
)

_serial = itertools.count(1)


def new_id_number(born: str = "19850315") -> str:
    """A valid ID number no seeded resident has (area 110101: Beijing, Dongcheng)."""
    sequence = next(_serial) % 1000
    first17 = f"110101{born}{sequence:03d}"
    return first17 + id_number_check_digit(first17)


def new_credit_code() -> str:
    """A valid credit code no seeded entity has."""
    org8 = f"T{next(_serial):07d}"
    body = "91110101" + org8 + organization_code_check_char(org8)
    return body + credit_code_check_char(body)


def room_addresses(district: District, count: int, skip: int = 0) -> list[dict[str, Any]]:
    """Standard room addresses of the district (their canonical texts match exactly)."""
    rooms = [row for row in district.addresses if row["room_code"]]
    return rooms[skip : skip + count]


def people_feed(code: str, **overrides: Any) -> FeedDefinition:
    """A public security residents feed (snapshot, CSV) with Chinese column names."""
    table: dict[str, Any] = {
        "code": code,
        "name": "实有人口导出",
        "department": "public_security",
        "resource": "RK-JC-001",
        "target": "people",
        "key": "idNumber",
        "format": "csv",
        "mode": "snapshot",
        "update_frequency": "DAILY",
        "address": "居住地址",
        "columns": {
            "idNumber": "公民身份号码",
            "name": "姓名",
            "phone": "联系电话",
            "registration": "户籍类别",
            "residenceKind": "居住方式",
        },
        "values": {
            "registration": {"户籍": "LOCAL", "流动": "FLOATING"},
            "residenceKind": {"自有": "OWNER", "租住": "RENTER", "宿舍": "DORMITORY"},
        },
    }
    table.update(overrides)
    return parse_feed(table, code, "tests")


PEOPLE_HEADER = ("公民身份号码", "姓名", "联系电话", "户籍类别", "居住方式", "居住地址")


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> Path:
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path
