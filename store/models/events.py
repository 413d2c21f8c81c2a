"""Events (事件): incidents and hazards reported in the district, and their handling."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, text
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
        Index("ux_events_source_event_id", "source_event_id", unique=True),
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
    #: NULL while a report whose matter names no department waits at the street's grid centre.
    handling_department_code: Mapped[str | None] = mapped_column(
        String(32), ForeignKey("departments.code"), index=True
    )
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    deadline: Mapped[datetime] = mapped_column(UTCDateTime())
    #: When it happened, as the reporter says (the time limit runs from the report).
    occurred_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: When the handling department last accepted it, and last resolved it.
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Closed by its deadline (set at closing; NULL while not closed).
    on_time: Mapped[bool | None] = mapped_column(Boolean)
    #: Supervision (督办): how often, and when last.
    supervision_count: Mapped[int] = mapped_column(Integer, server_default=text("0"), default=0)
    supervised_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: The id the source system gave an event that came by feed (the 12345 hotline's ticket
    #: number): the natural key of event feeds. NULL for events reported through the API.
    source_event_id: Mapped[str | None] = mapped_column(String(64))


class EventAction(Base):
    """One step of an event's handling (``events.states.Action``): who, when, from and to which
    status, and the note (a return's reason, a result, a supervision note). Replayed from the
    first, the steps end in the event's status."""

    __tablename__ = "event_actions"
    __table_args__ = (Index("ix_event_actions_event_id_id", "event_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id"))
    action: Mapped[str] = mapped_column(String(16))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    #: The principal's subject ("hub" for the hub's own routing) and kind, and its department.
    actor: Mapped[str] = mapped_column(String(64))
    actor_kind: Mapped[str] = mapped_column(String(16))
    actor_department: Mapped[str | None] = mapped_column(String(32))
    #: The department a dispatch sent it to.
    department_code: Mapped[str | None] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


#: The columns the event workflow fills as its steps happen (events.actions); a loaded event
#: (the demo's, an import) leaves them to their defaults.
WORKFLOW_COLUMNS = frozenset(
    {"occurred_at", "accepted_at", "resolved_at", "on_time", "supervision_count", "supervised_at"}
)

#: The columns a generated event leaves empty: the workflow's, and the source system's id (only
#: events that came by feed have one).
NOT_GENERATED = WORKFLOW_COLUMNS | {"source_event_id"}
