"""Access requests and the grants they become.

A department's data officer asks for some fields of a catalogue resource in an area, for a
purpose and a time (``access_requests``); an approved request becomes a grant (``grants``), and
the grant becomes Casbin rules held by the role ``grant:<id>`` (written through the policy
store, in the same transaction as the grant's row). Both rows are kept after the fact: they are
the record of who asked, who reviewed, who decided, and when a grant ended and why.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from store.models.base import Base, GridCode, UTCDateTime
from store.models.catalog import CODE_LENGTH

#: The longest purpose code (as ``X-Access-Purpose`` takes it) and subject stored.
PURPOSE_CODE_LENGTH = 64
SUBJECT_LENGTH = 128


class AccessRequest(Base):
    """One request: what was asked, and each step it went through."""

    __tablename__ = "access_requests"
    __table_args__ = (
        CheckConstraint("state in ('submitted', 'owner_approved', 'granted', 'rejected')", "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    resource_code: Mapped[str] = mapped_column(
        String(CODE_LENGTH), ForeignKey("catalog_resources.code"), index=True
    )
    #: The requesting department: the grant, if any, is its.
    department_code: Mapped[str] = mapped_column(
        String(32), ForeignKey("departments.code"), index=True
    )
    requested_by: Mapped[str] = mapped_column(String(SUBJECT_LENGTH))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: Field names of the resource, in the resource's order.
    fields: Mapped[list[str]] = mapped_column(JSON)
    #: An area code of the district; None: the whole district.
    area: Mapped[str | None] = mapped_column(GridCode(), ForeignKey("grids.code"))
    #: Asked for the masked form of the fields only (a mask rule, not a read rule).
    masked: Mapped[bool]
    purpose_code: Mapped[str] = mapped_column(String(PURPOSE_CODE_LENGTH))
    purpose: Mapped[str] = mapped_column(Text)
    duration_days: Mapped[int]
    state: Mapped[str] = mapped_column(String(16), index=True)
    reviewed_by: Mapped[str | None] = mapped_column(String(SUBJECT_LENGTH))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    review_comment: Mapped[str | None] = mapped_column(Text)
    decided_by: Mapped[str | None] = mapped_column(String(SUBJECT_LENGTH))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decision_comment: Mapped[str | None] = mapped_column(Text)


class Grant(Base):
    """What a request was granted (possibly narrower than asked), and how the grant ended."""

    __tablename__ = "grants"
    __table_args__ = (CheckConstraint("state in ('active', 'expired', 'revoked')", "state"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("access_requests.id"), unique=True)
    resource_code: Mapped[str] = mapped_column(
        String(CODE_LENGTH), ForeignKey("catalog_resources.code"), index=True
    )
    department_code: Mapped[str] = mapped_column(
        String(32), ForeignKey("departments.code"), index=True
    )
    #: The policy resource the rules were written on (``people``), as it was then.
    policy_resource: Mapped[str] = mapped_column(String(32))
    fields: Mapped[list[str]] = mapped_column(JSON)
    area: Mapped[str | None] = mapped_column(GridCode(), ForeignKey("grids.code"))
    masked: Mapped[bool]
    purpose_code: Mapped[str] = mapped_column(String(PURPOSE_CODE_LENGTH))
    #: The roles of the department linked to ``grant:<id>``: who receives it.
    roles: Mapped[list[str]] = mapped_column(JSON)
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    state: Mapped[str] = mapped_column(String(16), index=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Who revoked it; None for an expiry (the hub's own sweep).
    ended_by: Mapped[str | None] = mapped_column(String(SUBJECT_LENGTH))
    end_reason: Mapped[str | None] = mapped_column(Text)
