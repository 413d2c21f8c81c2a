"""Events (事件): incidents and hazards reported in the district, and their handling."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from store.models.base import Base, GridCode, UTCDateTime
from store.models.provenance import Tracked


class EventSource(enum.StrEnum):
    GRID_PATROL = "grid_patrol"
    CITIZEN_APP = "citizen_app"
    HOTLINE_12345 = "hotline_12345"
    IOT_SENSOR = "iot_sensor"
    VIDEO_AI = "video_ai"
    DEPARTMENT_REFERRAL = "department_referral"


class EventStatus(enum.StrEnum):
    REPORTED = "reported"
    ACCEPTED = "accepted"
    DISPATCHED = "dispatched"
    HANDLING = "handling"
    RESOLVED = "resolved"
    CLOSED = "closed"
    RETURNED = "returned"


class Event(Tracked, Base):
    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_grid_code_id", "grid_code", "id"),
        Index("ix_events_house_code_id", "house_code", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(24), index=True)
    category_code: Mapped[str] = mapped_column(String(48), ForeignKey("matters.code"), index=True)
    description: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), index=True)
    reporter: Mapped[str] = mapped_column(String(64))
    lon: Mapped[float]
    lat: Mapped[float]
    house_code: Mapped[str | None] = mapped_column(String(24), ForeignKey("houses.code"))
    grid_code: Mapped[str] = mapped_column(GridCode(), ForeignKey("grids.code"))
    handling_department_code: Mapped[str] = mapped_column(
        String(32), ForeignKey("departments.code"), index=True
    )
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    deadline: Mapped[datetime] = mapped_column(UTCDateTime())
