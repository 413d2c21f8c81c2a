"""What a feed run found and could not settle on its own: conflicts and unplaced addresses.

Both are kept for people to resolve: the verification tasks (``tasks/``) are raised from them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from store.models.base import Base, UTCDateTime


class FeedConflict(Base):
    """A department's value that disagrees with the authoritative department's: an observation."""

    __tablename__ = "feed_conflicts"
    id: Mapped[int] = mapped_column(primary_key=True)
    target: Mapped[str] = mapped_column(String(16))
    row_key: Mapped[str] = mapped_column(String(48))
    field: Mapped[str] = mapped_column(String(48))  # GraphQL field name
    grid_code: Mapped[str | None] = mapped_column(String(15), index=True)
    authoritative_department: Mapped[str] = mapped_column(String(32))
    authoritative_value: Mapped[str | None] = mapped_column(Text)
    observed_department: Mapped[str] = mapped_column(String(32))
    observed_value: Mapped[str | None] = mapped_column(Text)
    feed: Mapped[str] = mapped_column(String(48))
    run_id: Mapped[int]
    observed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | resolved
    __table_args__ = (
        Index("ix_feed_conflicts_target_row_key_field", "target", "row_key", "field"),
    )


class AddressCandidate(Base):
    """A row's address the matcher could not place confidently, kept for people to resolve."""

    __tablename__ = "address_candidates"
    id: Mapped[int] = mapped_column(primary_key=True)
    feed: Mapped[str] = mapped_column(String(48))
    run_id: Mapped[int]
    target: Mapped[str] = mapped_column(String(16))
    row_key: Mapped[str] = mapped_column(String(48))
    raw_address: Mapped[str] = mapped_column(String(200))
    candidates: Mapped[str] = mapped_column(
        Text
    )  # JSON list of {house_code, room_code, grid_code, score}
    grid_code: Mapped[str | None] = mapped_column(String(15), index=True)  # best candidate's grid
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | resolved
