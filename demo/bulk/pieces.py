"""Rows on their way from a worker to the database: in each table's column order, as ``COPY``
text for PostgreSQL or as column dicts for SQLAlchemy.

Times travel as whole seconds since the epoch (what the event draws keep) and become text or
aware datetimes here; everything else is already its column's Python type.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Table

from store.models import Address, Entity, Event, House, Person, Room
from store.models.base import UTCDateTime

#: The tables a streamed district fills in bulk, parents first.
BULK_TABLES: dict[str, Table] = {
    model.__tablename__: model.__table__ for model in (House, Room, Address, Person, Entity, Event)
}
COLUMNS: dict[str, tuple[str, ...]] = {
    name: tuple(column.name for column in table.columns) for name, table in BULK_TABLES.items()
}
#: Per table, the positions of the columns whose values are seconds since the epoch.
EPOCH_COLUMNS: dict[str, frozenset[int]] = {
    name: frozenset(
        i for i, column in enumerate(table.columns) if isinstance(column.type, UTCDateTime)
    )
    for name, table in BULK_TABLES.items()
}

Row = tuple[Any, ...]
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_DAYS: dict[int, str] = {}


def as_tuples(table: str, rows: Sequence[dict[str, Any]] | Sequence[Row]) -> list[Row]:
    """Rows as tuples in the table's column order (tuples are taken to be so already)."""
    if rows and isinstance(rows[0], dict):
        columns = COLUMNS[table]
        return [tuple(row[column] for column in columns) for row in rows]  # type: ignore[call-overload]
    return list(rows)  # type: ignore[arg-type]


def _timestamp(seconds: int) -> str:
    day, rest = divmod(seconds, 86_400)
    text = _DAYS.get(day)
    if text is None:
        text = _DAYS[day] = datetime.fromtimestamp(day * 86_400, UTC).date().isoformat()
    return f"{text} {rest // 3600:02d}:{rest % 3600 // 60:02d}:{rest % 60:02d}+00"


def _text(value: Any) -> str:
    kind = type(value)
    if kind is str:
        return value.translate(_ESCAPES)  # type: ignore[no-any-return]
    if value is None:
        return "\\N"
    if kind is date:
        return value.isoformat()  # type: ignore[no-any-return]
    return str(value) if kind is int else repr(value)


def _epoch_text(value: Any) -> str:
    return "\\N" if value is None else _timestamp(value)


def copy_text(table: str, rows: list[Row]) -> bytes:
    """The rows in PostgreSQL's ``COPY … FROM STDIN`` text format, one line each."""
    epochs = EPOCH_COLUMNS[table]
    formats: list[Callable[[Any], str]] = [
        _epoch_text if i in epochs else _text for i in range(len(COLUMNS[table]))
    ]
    lines = ["\t".join([f(v) for f, v in zip(formats, row, strict=True)]) for row in rows]
    lines.append("")
    return "\n".join(lines).encode()


def as_dicts(table: str, rows: list[Row]) -> list[dict[str, Any]]:
    """The rows as column dicts for an SQLAlchemy insert, times as aware datetimes."""
    columns = COLUMNS[table]
    epochs = EPOCH_COLUMNS[table]
    out = []
    for row in rows:
        values = dict(zip(columns, row, strict=True))
        for i in epochs:
            if row[i] is not None:
                values[columns[i]] = datetime.fromtimestamp(row[i], UTC)
        out.append(values)
    return out
