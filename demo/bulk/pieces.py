"""Rows on their way from a worker to the database: in each table's column order, as ``COPY``
text for PostgreSQL or as column dicts for SQLAlchemy.

Times travel as whole seconds since the epoch (what the event draws keep) and become text or
aware datetimes here; everything else is already its column's Python type.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

from sqlalchemy import Table

from store.models import Address, Entity, Event, House, Person, Room, Tracked
from store.models.base import UTCDateTime
from store.models.events import NOT_GENERATED

#: The tables a streamed district fills in bulk, parents first.
BULK_TABLES: dict[str, Table] = {
    model.__tablename__: model.__table__ for model in (House, Room, Address, Person, Entity, Event)
}
#: The provenance columns a generated row leaves to the database (``updated_at``'s default) or
#: empty (no feed set it, nobody verified it): store.models.provenance.Tracked.
PROVENANCE = frozenset(name for name in vars(Tracked) if not name.startswith("_"))
#: The columns a generated row fills, in table order; other columns take their defaults.
COLUMNS: dict[str, tuple[str, ...]] = {
    name: tuple(
        column.name
        for column in table.columns
        if column.name not in PROVENANCE and not (name == "events" and column.name in NOT_GENERATED)
    )
    for name, table in BULK_TABLES.items()
}
#: Per table, the positions of the columns whose values are seconds since the epoch.
EPOCH_COLUMNS: dict[str, frozenset[int]] = {
    name: frozenset(
        i
        for i, column in enumerate(COLUMNS[name])
        if isinstance(BULK_TABLES[name].c[column].type, UTCDateTime)
    )
    for name in BULK_TABLES
}

Row = tuple[Any, ...]
#: What ``COPY`` reads as NULL: a fast row is formatted with ``str.format``, which writes None so.
#: A text that is really "None" is written escaped (``\\None``), which is not the NULL marker.
NULL = "None"
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_DAYS: dict[int, str] = {}
_TEMPLATES: dict[str, str] = {
    name: "\t".join(["{}"] * len(columns)) for name, columns in COLUMNS.items()
}
_GETTERS = {name: itemgetter(*columns) for name, columns in COLUMNS.items()}


def as_tuples(table: str, rows: Sequence[dict[str, Any]] | Sequence[Row]) -> list[Row]:
    """Rows as tuples in the table's column order (tuples are taken to be so already)."""
    if rows and isinstance(rows[0], dict):
        get = _GETTERS[table]
        return [get(row) for row in rows]
    return list(rows)  # type: ignore[arg-type]


#: " HH:MM:SS+00" of every second of a day.
_CLOCK = [f" {s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}+00" for s in range(86_400)]


def _timestamp(seconds: int) -> str:
    day, rest = divmod(seconds, 86_400)
    text = _DAYS.get(day)
    if text is None:
        text = _DAYS[day] = datetime.fromtimestamp(day * 86_400, UTC).date().isoformat()
    return text + _CLOCK[rest]


def _careful(row: Sequence[Any]) -> str:
    """One line, each text escaped; for the rare row the fast line would get wrong."""
    fields = []
    for value in row:
        if value is None:
            fields.append(NULL)
        elif isinstance(value, str):
            fields.append("\\None" if value == NULL else value.translate(_ESCAPES))
        else:
            fields.append(format(value))
    return "\t".join(fields)


def copy_text(table: str, rows: list[Row]) -> bytes:
    """The rows in PostgreSQL's ``COPY … FROM STDIN`` text format (NULL written as
    :data:`NULL`), one line each.

    Each line is made by one ``str.format`` (texts as they are, numbers and dates in the forms
    PostgreSQL reads) and then checked: a line with more tabs than columns, a line break, a
    backslash or a "None" that is not a NULL is made again field by field, escaped.
    """
    template = _TEMPLATES[table]
    tabs = template.count("\t")
    epochs = sorted(EPOCH_COLUMNS[table])
    lines = []
    for row in rows:
        if epochs:
            values = list(row)
            for i in epochs:
                if values[i] is not None:
                    values[i] = _timestamp(values[i])
            row = tuple(values)
        line = template.format(*row)
        if (
            line.count("\t") != tabs
            or "\n" in line
            or "\r" in line
            or "\\" in line
            or line.count(NULL) != row.count(None)
        ):
            line = _careful(row)
        lines.append(line)
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
