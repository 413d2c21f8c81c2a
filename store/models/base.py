"""The declarative base, shared column types and the naming convention for constraints."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import ClassVar

from sqlalchemy import DateTime, MetaData, String, Table, TypeDecorator
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase

#: The largest integer key (people, events, audit entries): an INTEGER on PostgreSQL. A key
#: from outside (a global id, a cursor) beyond it is refused as bad input before it reaches SQL.
MAX_KEY = 2**31 - 1

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware timestamp on both back ends.

    PostgreSQL keeps the zone; SQLite keeps none, so values are stored in UTC and read back
    as aware UTC datetimes. A naive datetime is refused rather than guessed at.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; attach a time zone")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def GridCode() -> String:  # noqa: N802 - reads like a type in column declarations
    """Area codes: 6 (district), 9 (street), 12 (community) or 15 (grid) digits."""
    return String(15)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    #: Every model here is mapped to one table (SQLAlchemy types it as any ``FromClause``, which
    #: ``insert``, ``update`` and ``delete`` do not take).
    __table__: ClassVar[Table]
