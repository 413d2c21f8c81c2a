"""Auditors' questions as SQL: search the log newest first, and count it by group.

"Who read person X in the last 30 days?" is answered from ``audit_person_reads`` through its
index ``(person_id, at, entry_id)``: a range scan that returns rows already in the order asked
for, so a page costs the same on a log of millions as on one of thousands. Every other filter
has an index on ``audit_entries`` that starts with it and ends with ``at``; field filters go
through ``audit_field_reads``. Pages are keyset pages on ``(at, id)``, newest first, so page
1000 costs what page 1 costs.

The GraphQL layer turns these rows into its types; nothing here knows about GraphQL.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Date, RowMapping, and_, case, cast, exists, func, or_, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from audit.record import parse_time, render_time
from store.models.audit import AuditEntry, AuditFieldRead, AuditPersonRead
from store.models.base import MAX_KEY

#: The groups :func:`stats` counts by.
GROUPS = ("department", "resource", "outcome", "day")


@dataclass(frozen=True)
class AuditFilter:
    """What to look for; every filter given must hold (``since <= at < until``)."""

    subject: str | None = None
    department_code: str | None = None
    client_id: str | None = None
    person_id: str | None = None
    resource_type: str | None = None
    field: str | None = None
    outcome: str | None = None
    error_code: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    operation_name: str | None = None
    #: Entries that read some field with this decision (``ALLOW``, ``MASK``, ``DENY``).
    decision: str | None = None
    #: Entries whose ``grant_ids`` name this grant or rule (``grant:7``).
    grant_id: str | None = None


@dataclass(frozen=True)
class AuditCursor:
    """A position in the newest-first order: the ``(at, id)`` of the last row of a page."""

    at: datetime
    id: int

    @classmethod
    def of(cls, row: RowMapping) -> AuditCursor:
        return cls(row["at"], row["id"])

    def encode(self) -> str:
        text = f"{render_time(self.at)}|{self.id}"
        return base64.urlsafe_b64encode(text.encode("ascii")).decode("ascii")

    @classmethod
    def decode(cls, text: str) -> AuditCursor:
        """``ValueError`` if ``text`` is not a cursor :meth:`encode` made."""
        try:
            at, _, entry_id = base64.urlsafe_b64decode(text.encode("ascii")).decode().partition("|")
            cursor = cls(parse_time(at), int(entry_id))
            if not 0 <= cursor.id <= MAX_KEY:  # no entry has it; the database would refuse it
                raise ValueError("entry id out of range")
            return cursor
        except (binascii.Error, UnicodeError, ValueError) as error:
            raise ValueError(f"not an audit cursor: {text!r}") from error


def _filtered(connection: AsyncConnection, filter: AuditFilter) -> tuple[Any, Any, Any]:
    """The entries matching ``filter``, and the ``at`` and entry id columns to order them by."""
    entries = AuditEntry.__table__
    at: Any
    entry_id: Any
    if filter.person_id is not None:
        # Driven by the person index: its order is the order asked for.
        query = (
            select(entries)
            .select_from(AuditPersonRead)
            .join(
                entries,
                and_(entries.c.id == AuditPersonRead.entry_id, entries.c.at == AuditPersonRead.at),
            )
            .where(AuditPersonRead.person_id == filter.person_id)
        )
        at, entry_id = AuditPersonRead.at, AuditPersonRead.entry_id
    else:
        query = select(entries)
        at, entry_id = entries.c.at, entries.c.id
    for column, value in (
        (entries.c.subject, filter.subject),
        (entries.c.department_code, filter.department_code),
        (entries.c.client_id, filter.client_id),
        (entries.c.outcome, filter.outcome),
        (entries.c.error_code, filter.error_code),
        (entries.c.operation_name, filter.operation_name),
    ):
        if value is not None:
            query = query.where(column == value)
    if filter.since is not None:
        query = query.where(at >= filter.since)
    if filter.until is not None:
        query = query.where(at < filter.until)
    if filter.resource_type is not None or filter.field is not None or filter.decision is not None:
        read = select(AuditFieldRead.entry_id).where(
            AuditFieldRead.entry_id == entries.c.id, AuditFieldRead.at == entries.c.at
        )
        if filter.resource_type is not None:
            read = read.where(AuditFieldRead.resource_type == filter.resource_type)
        if filter.field is not None:
            read = read.where(AuditFieldRead.field == filter.field)
        if filter.decision is not None:
            read = read.where(AuditFieldRead.decision == filter.decision)
        query = query.where(exists(read))
    if filter.grant_id is not None:
        query = query.where(_names_grant(connection, entries.c.grant_ids, filter.grant_id))
    return query, at, entry_id


def _names_grant(connection: AsyncConnection, grant_ids: Any, grant_id: str) -> Any:
    """Whether an entry's ``grant_ids`` (a JSON list) holds ``grant_id``. Not indexed: the
    other filters (a time range above all) narrow the entries it looks at."""
    if connection.dialect.name == "sqlite":
        items = func.json_each(grant_ids).table_valued("value")
        return exists(select(items.c.value).where(items.c.value == grant_id))
    return cast(grant_ids, JSONB).contains([grant_id])


async def search(
    connection: AsyncConnection,
    filter: AuditFilter,
    first: int,
    after: AuditCursor | None = None,
) -> tuple[list[RowMapping], bool]:
    """Up to ``first`` entries matching ``filter``, newest first, after ``after``; and whether
    there are more. Rows hold every column of ``audit_entries``."""
    if first < 1:
        raise ValueError("first must be at least 1")
    query, at, entry_id = _filtered(connection, filter)
    if after is not None:
        query = query.where(or_(at < after.at, and_(at == after.at, entry_id < after.id)))
    query = query.order_by(at.desc(), entry_id.desc()).limit(first + 1)
    rows = list((await connection.execute(query)).mappings())
    return rows[:first], len(rows) > first


async def count(connection: AsyncConnection, filter: AuditFilter) -> int:
    """How many entries match ``filter``, over every page."""
    query, _, _ = _filtered(connection, filter)
    counted = select(func.count()).select_from(query.subquery())
    return int((await connection.execute(counted)).scalar_one())


def offset_spans(zone: ZoneInfo, since: datetime, until: datetime) -> list[tuple[datetime, int]]:
    """The zone's UTC offsets over ``[since, until)``: (from when, offset in seconds), in order.

    The day of an instant is its UTC time plus the offset in force, so counting by local day
    needs only these few spans (one in a zone without daylight saving), and the database
    only adds seconds: the same arithmetic on both back ends, the zone rules from Python's.
    """

    def offset(at: datetime) -> int:
        delta = at.astimezone(zone).utcoffset()
        assert delta is not None
        return int(delta.total_seconds())

    spans = [(since, offset(since))]
    step = timedelta(hours=6)  # shorter than any two transitions are apart
    at = since
    while at < until:
        following = min(at + step, until)
        if offset(following) != spans[-1][1]:
            # The change is in (low, high]; transitions fall on whole seconds.
            low, high = math.floor(at.timestamp()), math.ceil(following.timestamp())
            while high - low > 1:
                middle = (low + high) // 2
                if offset(datetime.fromtimestamp(middle, UTC)) == spans[-1][1]:
                    low = middle
                else:
                    high = middle
            start = datetime.fromtimestamp(high, UTC)
            spans.append((start, offset(start)))
        at = following
    return spans


def _local_day(connection: AsyncConnection, at: Any, offset: int) -> ColumnElement[Any]:
    if connection.dialect.name == "sqlite":
        # SQLite's date arithmetic rounds to milliseconds (23:59:59.9999 would become the
        # next day): drop the fraction first, the offset is whole seconds anyway.
        return func.date(func.substr(at, 1, 19), f"{offset:+d} seconds")
    return cast(func.timezone("UTC", at) + timedelta(seconds=offset), Date)


async def stats(
    connection: AsyncConnection,
    since: datetime,
    until: datetime,
    group_by: Sequence[str],
    *,
    timezone: str,
) -> list[dict[str, Any]]:
    """How many entries with ``since <= at < until``, per combination of ``group_by``.

    ``department`` (the principal's department code), ``resource`` (a resource type read; an
    entry reading several counts once for each), ``outcome``, ``day`` (in ``timezone``, a
    :class:`~datetime.date`). Each dict has the groups asked for and ``count``; sorted.
    """
    unknown = [name for name in group_by if name not in GROUPS]
    if unknown:
        raise ValueError(f"unknown groups {unknown}; choose from {list(GROUPS)}")
    if since.tzinfo is None or until.tzinfo is None:
        raise ValueError("since and until must be aware datetimes")
    groups = list(dict.fromkeys(group_by))
    entries = AuditEntry.__table__
    columns: list[ColumnElement[Any]] = []
    query = select().select_from(entries)
    for name in groups:
        if name == "department":
            columns.append(entries.c.department_code.label(name))
        elif name == "outcome":
            columns.append(entries.c.outcome.label(name))
        elif name == "resource":
            resources = (
                select(AuditFieldRead.entry_id, AuditFieldRead.at, AuditFieldRead.resource_type)
                .where(AuditFieldRead.at >= since, AuditFieldRead.at < until)
                .distinct()
                .subquery()
            )
            query = query.join(
                resources,
                and_(resources.c.entry_id == entries.c.id, resources.c.at == entries.c.at),
            )
            columns.append(resources.c.resource_type.label(name))
        else:
            spans = offset_spans(ZoneInfo(timezone), since.astimezone(UTC), until.astimezone(UTC))
            day: ColumnElement[Any] = _local_day(connection, entries.c.at, spans[-1][1])
            if len(spans) > 1:
                day = case(
                    *(
                        (entries.c.at < start, _local_day(connection, entries.c.at, offset))
                        for (_, offset), (start, _) in zip(spans, spans[1:], strict=False)
                    ),
                    else_=day,
                )
            columns.append(day.label(name))
    rows = (
        query.add_columns(*columns, entries.c.id)
        .where(entries.c.at >= since, entries.c.at < until)
        .subquery()
    )
    keys = [rows.c[name] for name in groups]
    counted = select(*keys, func.count().label("count")).select_from(rows).group_by(*keys)
    result = []
    for row in (await connection.execute(counted)).mappings():
        item = {name: row[name] for name in groups}
        if "day" in item and isinstance(item["day"], str):
            item["day"] = date.fromisoformat(item["day"])
        item["count"] = row["count"]
        result.append(item)
    result.sort(key=lambda item: tuple((v is None, str(v)) for v in item.values()))
    return result
