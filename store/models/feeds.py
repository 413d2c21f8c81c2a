"""Department feeds: their declarations (synced from the catalogue files) and their runs.

A feed is declared in a catalogue file (``[[feed]]``) and ``gridhub catalog sync`` keeps its
current declaration here, whole, as JSON (the feed engine reads it back); each run of a feed is
one ``feed_runs`` row with its counts and the per-row reasons of its rejects, so a data officer
can read what a run did long after it ran.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from store.models.base import Base, UTCDateTime


class FeedDeclaration(Base):
    """A feed as its catalogue file declares it now."""

    __tablename__ = "feeds"

    code: Mapped[str] = mapped_column(String(48), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    department_code: Mapped[str] = mapped_column(
        String(32), ForeignKey("departments.code"), index=True
    )
    #: The catalogue resource the feed fills.
    resource_code: Mapped[str] = mapped_column(String(32))
    #: One of store.models.provenance.SHARED_TARGETS.
    target: Mapped[str] = mapped_column(String(16))
    #: ``snapshot`` or ``delta``.
    mode: Mapped[str] = mapped_column(String(16))
    format: Mapped[str] = mapped_column(String(8))
    update_frequency: Mapped[str] = mapped_column(String(16))
    #: The whole declaration as the file wrote it (columns, value maps, key, address column).
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    source: Mapped[str | None] = mapped_column(String(255))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_by: Mapped[str] = mapped_column(String(128))


class FeedRun(Base):
    """One run of a feed: who ran it on which file, what it did, how it ended."""

    __tablename__ = "feed_runs"
    __table_args__ = (Index("ix_feed_runs_feed_id", "feed", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    feed: Mapped[str] = mapped_column(String(48))
    department_code: Mapped[str] = mapped_column(String(32))
    #: The subject who started it (a department app, a data officer, a login on the shell).
    started_by: Mapped[str] = mapped_column(String(128))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: running | succeeded | failed | dry_run
    status: Mapped[str] = mapped_column(String(16))
    file_name: Mapped[str | None] = mapped_column(String(255))
    file_sha256: Mapped[str] = mapped_column(String(64))
    #: read, inserted, updated, unchanged, removed, rejected, unmatched, conflicts.
    counts: Mapped[dict[str, int]] = mapped_column(JSON)
    #: The first rejects, each {line, key, field, reason}; ``counts["rejected"]`` says how many.
    rejects: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    #: Why a failed run failed (nothing of it was written).
    error: Mapped[str | None] = mapped_column(Text)
