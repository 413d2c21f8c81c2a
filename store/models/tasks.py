"""Verification tasks (核查任务) and the corrections grid workers send back.

A task asks the worker of one grid to check one shared record on site: a value two departments
disagree on, an address the matcher could not place, a record not verified for longer than its
resource's recheck period, or a department's explicit request. ``reason`` says which check it
is; at most one task per record and reason is open at a time (a partial unique index), so
raising tasks again changes nothing. Every step of a task is a row of ``task_history``.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from store.models.base import Base, GridCode, UTCDateTime


class TaskKind(enum.StrEnum):
    CONFLICT = "conflict"
    UNPLACED_ADDRESS = "unplaced_address"
    RECHECK = "recheck"
    REQUEST = "request"


class TaskStatus(enum.StrEnum):
    OPEN = "open"
    DONE = "done"
    ESCALATED = "escalated"
    CANCELLED = "cancelled"


#: The statuses a task still waits in: one task per record and reason among them.
OPEN_STATUSES = (TaskStatus.OPEN.value, TaskStatus.ESCALATED.value)
_OPEN_WHERE = text("status IN ('open', 'escalated')")


class Task(Base):
    """One thing to check about one shared record, in the grid where the record is."""

    __tablename__ = "tasks"
    __table_args__ = (
        Index(
            "uq_tasks_open_target_row_key_reason",
            "target",
            "row_key",
            "reason",
            unique=True,
            sqlite_where=_OPEN_WHERE,
            postgresql_where=_OPEN_WHERE,
        ),
        Index("ix_tasks_grid_code_status_id", "grid_code", "status", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(24))
    #: The record: a shared table (``store.models.provenance.SHARED_TARGETS``) and its key.
    target: Mapped[str] = mapped_column(String(16))
    row_key: Mapped[str] = mapped_column(String(48))
    #: What is to be checked, as a key: ``conflict:phone``, ``unplaced_address``, ``recheck``,
    #: ``request:housing``. One open task per (target, row_key, reason).
    reason: Mapped[str] = mapped_column(String(64))
    grid_code: Mapped[str] = mapped_column(GridCode())
    #: Who raised it (a feed ``feed:<code>``, the hub's sweep ``hub``, a principal's subject)
    #: and why, in words the worker reads.
    raised_by: Mapped[str] = mapped_column(String(128))
    why: Mapped[str] = mapped_column(Text)
    #: The department that raised it (a request), else the authoritative one (a conflict).
    department: Mapped[str | None] = mapped_column(String(32))
    #: The finding it came from: ``feed_conflicts:<id>``, ``address_candidates:<id>``.
    source_ref: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    due_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    status: Mapped[str] = mapped_column(String(16), default=TaskStatus.OPEN.value)
    #: How the worker resolved it (``confirmed``, ``corrected``, ``not_found`` …), by whom, when.
    outcome: Mapped[str | None] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)
    resolved_by: Mapped[str | None] = mapped_column(String(128))
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class TaskStep(Base):
    """One step of a task's life: raised, resolved, escalated, cancelled, returned."""

    __tablename__ = "task_history"
    __table_args__ = (Index("ix_task_history_task_id_id", "task_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    by: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(16))
    #: The task's status after the step.
    status: Mapped[str] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)


class CorrectionStatus(enum.StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


class CorrectionKind(enum.StrEnum):
    #: One field found otherwise: accepted, the shared row takes the value.
    FIELD = "field"
    #: A fact about the whole record (not found, moved out, deceased, vacant): accepted, the
    #: department takes it into its own system; the shared row is left to its feed.
    FINDING = "finding"


class Correction(Base):
    """One field of one record as a worker found it on site, or a finding about the whole
    record: for the department to accept or reject (the task goes back)."""

    __tablename__ = "corrections"
    __table_args__ = (
        Index("ix_corrections_department_status_id", "department", "status", "id"),
        Index("ix_corrections_department_decided_at", "department", "decided_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id"), index=True)
    target: Mapped[str] = mapped_column(String(16))
    row_key: Mapped[str] = mapped_column(String(48))
    grid_code: Mapped[str] = mapped_column(GridCode())
    kind: Mapped[str] = mapped_column(
        String(16), default=CorrectionKind.FIELD.value, server_default=CorrectionKind.FIELD.value
    )
    #: The GraphQL field name, its value when proposed and the value found on site (text;
    #: JSON for non-strings), as ``row_history`` keeps values. A finding has no field; its
    #: ``new_value`` is the outcome (``moved_out``).
    field: Mapped[str | None] = mapped_column(String(48))
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)
    #: The authoritative department: its data officer and apps decide.
    department: Mapped[str] = mapped_column(String(32))
    #: The catalogue resource that holds the field (what ``corrections(filter: {resource})``
    #: selects by).
    resource_code: Mapped[str | None] = mapped_column(String(32))
    proposed_by: Mapped[str] = mapped_column(String(128))
    proposed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(16), default=CorrectionStatus.PENDING.value)
    decided_by: Mapped[str | None] = mapped_column(String(128))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reason: Mapped[str | None] = mapped_column(Text)
