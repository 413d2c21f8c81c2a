"""Per-department map views: saved, versioned cuts of the shared data for a map.

``views`` holds each view as it stands now (its layers as one JSON document: a layer is read
and written whole, never queried by its parts); ``view_versions`` keeps the view after every
change — defined, updated, deleted — with who made it and when, so any map a department showed
can be traced to the definition behind it. A version row outlives its view: deleting a view
removes it from ``views`` and adds a ``deleted`` version.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from store.models.base import Base, UTCDateTime

#: Longest view code (``grid-office-patrol``), name, purpose code and subject stored.
VIEW_CODE_LENGTH = 64
VIEW_NAME_LENGTH = 128
PURPOSE_LENGTH = 64
SUBJECT_LENGTH = 128


class View(Base):
    """A view as it stands now."""

    __tablename__ = "views"

    code: Mapped[str] = mapped_column(String(VIEW_CODE_LENGTH), primary_key=True)
    name: Mapped[str] = mapped_column(String(VIEW_NAME_LENGTH))
    department_code: Mapped[str] = mapped_column(
        String(32), ForeignKey("departments.code"), index=True
    )
    description: Mapped[str] = mapped_column(Text)
    #: The purpose its layers are meant to be read under (``X-Access-Purpose``), if any.
    purpose: Mapped[str | None] = mapped_column(String(PURPOSE_LENGTH))
    #: The layers, in drawing order (see ``views.definition``).
    layers: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    version: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(SUBJECT_LENGTH))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_by: Mapped[str] = mapped_column(String(SUBJECT_LENGTH))


class ViewVersion(Base):
    """A view after one change: the whole definition, so any version reads on its own."""

    __tablename__ = "view_versions"
    __table_args__ = (CheckConstraint("change in ('defined', 'updated', 'deleted')", "change"),)

    # No foreign key to ``views``: the history outlives the view.
    view_code: Mapped[str] = mapped_column(String(VIEW_CODE_LENGTH), primary_key=True)
    version: Mapped[int] = mapped_column(primary_key=True)
    change: Mapped[str] = mapped_column(String(8))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    changed_by: Mapped[str] = mapped_column(String(SUBJECT_LENGTH))
    department_code: Mapped[str] = mapped_column(String(32), index=True)
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
