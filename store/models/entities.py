"""Legal entities (法人 / 商事主体): companies and individual businesses."""

from __future__ import annotations

import enum
from datetime import date

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from store.models.base import Base, GridCode
from store.models.provenance import Tracked


class EntityType(enum.StrEnum):
    INDIVIDUAL = "individual"
    LIMITED = "limited"
    SOLE_PROPRIETORSHIP = "sole_proprietorship"
    PARTNERSHIP = "partnership"


class EntityStatus(enum.StrEnum):
    ACTIVE = "active"
    ABNORMAL = "abnormal"
    DEREGISTERED = "deregistered"


class Entity(Tracked, Base):
    __tablename__ = "entities"
    __table_args__ = (
        Index("ix_entities_grid_code_credit_code", "grid_code", "credit_code"),
        Index("ix_entities_house_code_credit_code", "house_code", "credit_code"),
        Index("ix_entities_last_verified", "verified_at", "source_at", "updated_at"),
    )

    credit_code: Mapped[str] = mapped_column(String(18), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    type: Mapped[str] = mapped_column(String(24), index=True)
    industry: Mapped[str] = mapped_column(String(32), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    established_on: Mapped[date] = mapped_column(index=True)
    legal_representative_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), index=True)
    registered_address: Mapped[str] = mapped_column(String(160))
    house_code: Mapped[str | None] = mapped_column(String(24), ForeignKey("houses.code"))
    grid_code: Mapped[str] = mapped_column(GridCode(), ForeignKey("grids.code"))
