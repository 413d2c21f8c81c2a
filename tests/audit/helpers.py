"""Helpers the audit tests share: records, tampering by hand, reading the log back."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from audit.record import AuditRecord
from store.models import (
    AuditCheckpoint,
    AuditEntry,
    AuditFieldRead,
    AuditIndexMark,
    AuditPersonRead,
    AuditRetention,
)

_request_ids = itertools.count(1)


async def empty_audit_tables(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        for model in (
            AuditFieldRead,
            AuditPersonRead,
            AuditIndexMark,
            AuditCheckpoint,
            AuditEntry,
            AuditRetention,
        ):
            await connection.execute(delete(model))


def record(number: int | None = None, **fields: Any) -> AuditRecord:
    """A plausible record: a grid worker reading two residents of a house."""
    number = next(_request_ids) if number is None else number
    values: dict[str, Any] = {
        "request_id": f"req-{number:08d}",
        "outcome": "ok",
        "latency_us": 1000 + number,
        "subject": "worker-7",
        "principal_kind": "person",
        "department_code": "grid_office",
        "roles": ["grid_worker"],
        "operation_name": "HouseResidents",
        "operation_type": "query",
        "query_hash": "ab" * 32,
        "variables": {"code": "440306001001001", "first": 2},
        "purpose": "网格巡查",
        "reads": [
            {"type": "Person", "field": "name", "decision": "ALLOW"},
            {"type": "Person", "field": "idNumber", "decision": "MASK"},
        ],
        "person_ids": [f"person-{number % 5}", f"person-{number % 7 + 100}"],
        "row_counts": {"Person": 2, "House": 1},
    }
    values.update(fields)
    return AuditRecord(**values)


def write_text(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(lines), encoding="utf-8")
    return path


async def entries_per_request(
    engine: AsyncEngine, request_ids: list[str]
) -> tuple[dict[str, int], set[str]]:
    """How many entries each request has, and which chains (writer ids) hold them."""
    async with engine.connect() as connection:
        counts = dict(
            (
                await connection.execute(
                    select(AuditEntry.request_id, func.count())
                    .where(AuditEntry.request_id.in_(request_ids))
                    .group_by(AuditEntry.request_id)
                )
            ).all()
        )
        writers = set(
            (
                await connection.scalars(
                    select(AuditEntry.writer_id).where(AuditEntry.request_id.in_(request_ids))
                )
            ).all()
        )
    return counts, writers
