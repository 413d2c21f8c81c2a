"""Provenance of the shared rows: who last set a row, when, and what every change replaced.

"One data, one source" (DESIGN.md, "How data flows") needs every shared row (people, houses,
rooms, entities, events) to say which department's feed and run last set it and when, when it
last changed (the apps' change feeds read ``updated_at``) and when a grid worker last verified
it on site. Rows a snapshot feed no longer carries, and rows removed otherwise, leave a
tombstone in ``removed_rows`` so an app that syncs incrementally can drop its copy; every change
to a shared field, by a feed run, an accepted correction or an event's handling, is kept in
``row_history`` with the old and new value.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql.functions import FunctionElement

from store.models.base import Base, UTCDateTime

#: The shared row types a feed can fill, and the name ``row_history`` / ``removed_rows`` give
#: them (the table name).
SHARED_TARGETS = ("people", "houses", "rooms", "entities", "events")


class utc_now(FunctionElement[datetime]):  # noqa: N801 - a SQL function, named like one
    """The time now as ``updated_at``'s default: PostgreSQL's ``now()``; on SQLite the UTC time
    in the text form the hub writes itself, to the microsecond (``2026-12-03 19:40:01.123000``).

    SQLite's ``CURRENT_TIMESTAMP`` keeps whole seconds, and SQLite compares these times as text,
    so a row stamped by the default at 10:00:00.7 would sort before 10:00:00.5 written by the
    hub: an app asking for changes since then would miss it.
    """

    type = UTCDateTime()
    inherit_cache = True


@compiles(utc_now)
def _now(element: utc_now, compiler: Any, **kw: Any) -> str:
    return "now()"


#: On SQLite, the time as SQLAlchemy writes it (``%f`` is seconds with milliseconds).
SQLITE_NOW = "(strftime('%Y-%m-%d %H:%M:%f000', 'now'))"


@compiles(utc_now, "sqlite")
def _sqlite_now(element: utc_now, compiler: Any, **kw: Any) -> str:
    return SQLITE_NOW


class Tracked:
    """Columns every shared row carries; the models of SHARED_TARGETS mix this in.

    ``updated_at`` defaults to the insert time in the database, so bulk loads (the demo's
    COPY, a feed's merge) need not set it; writers that change a row set it themselves.
    """

    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), server_default=utc_now(), index=True
    )
    #: The department, feed code and run that last set the row, and when that run received it.
    source_department: Mapped[str | None] = mapped_column(String(32))
    source_feed: Mapped[str | None] = mapped_column(String(48))
    source_run: Mapped[int | None] = mapped_column(Integer)
    source_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: When a grid worker last confirmed the row on site (an accepted verification).
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class RemovedRow(Base):
    """A tombstone: a shared row that is gone, reachable by id for change feeds."""

    __tablename__ = "removed_rows"
    __table_args__ = (Index("ix_removed_rows_target_removed_at", "target", "removed_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: One of SHARED_TARGETS.
    target: Mapped[str] = mapped_column(String(16))
    #: The row's key as text (a person's or event's id, a house, room or credit code).
    row_key: Mapped[str] = mapped_column(String(48))
    #: The row's grid when it was removed, so the tombstone is cut by area like the row was.
    grid_code: Mapped[str | None] = mapped_column(String(15))
    removed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: What removed it: "feed" (a snapshot run did not carry it, or a delta run deleted it),
    #: "correction", "event"; and the feed code/run or the correction/event id.
    removed_by: Mapped[str] = mapped_column(String(16))
    source_ref: Mapped[str | None] = mapped_column(String(64))


class RowChange(Base):
    """One field of one shared row changed: old and new value, by what and when."""

    __tablename__ = "row_history"
    __table_args__ = (Index("ix_row_history_target_row_key_id", "target", "row_key", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    target: Mapped[str] = mapped_column(String(16))
    row_key: Mapped[str] = mapped_column(String(48))
    #: The GraphQL field name of the shared type (e.g. ``phone``), so the plan's decision on
    #: that field also cuts (masks, refuses) its history.
    field: Mapped[str] = mapped_column(String(48))
    #: Values as text (JSON for non-strings); NULL when the field was empty.
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: "feed", "correction" or "event", and the principal's subject who caused it.
    changed_by_kind: Mapped[str] = mapped_column(String(16))
    changed_by: Mapped[str] = mapped_column(String(64))
    #: The feed run id, correction id or event action id.
    source_ref: Mapped[str | None] = mapped_column(String(64))
    #: The department whose data this is (the run's department; the authoritative department
    #: for a correction).
    department: Mapped[str | None] = mapped_column(String(32))
