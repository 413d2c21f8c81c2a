"""Reference data: departments and the matter list (事项清单) that routes events to them."""

from __future__ import annotations

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from store.models.base import Base


class Department(Base):
    __tablename__ = "departments"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    short_name: Mapped[str] = mapped_column(String(16))


class Matter(Base):
    """One item of the matter list: an event category, who handles it and how fast."""

    __tablename__ = "matters"

    code: Mapped[str] = mapped_column(String(48), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    #: NULL: no department handles it; its events go to the street's grid centre to dispatch.
    department_code: Mapped[str | None] = mapped_column(String(32), ForeignKey("departments.code"))
    time_limit_hours: Mapped[int]
    level: Mapped[int]
