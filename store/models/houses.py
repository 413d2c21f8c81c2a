"""Houses (一楼一码) and their rooms (一房一码)."""

from __future__ import annotations

import enum

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from store.models.base import Base, GridCode
from store.models.provenance import Tracked


class HouseUse(enum.StrEnum):
    RESIDENTIAL = "residential"
    URBAN_VILLAGE = "urban_village"
    COMMERCIAL = "commercial"
    INDUSTRIAL = "industrial"
    PUBLIC_RENTAL = "public_rental"
    OFFICE = "office"


class House(Tracked, Base):
    __tablename__ = "houses"
    __table_args__ = (
        Index("ix_houses_grid_code_code", "grid_code", "code"),
        Index("ix_houses_last_verified", "verified_at", "source_at", "updated_at"),
    )

    code: Mapped[str] = mapped_column(String(24), primary_key=True)
    address: Mapped[str] = mapped_column(String(160))
    use: Mapped[str] = mapped_column(String(16), index=True)
    floors: Mapped[int]
    built_year: Mapped[int | None]
    lon: Mapped[float]
    lat: Mapped[float]
    grid_code: Mapped[str] = mapped_column(GridCode(), ForeignKey("grids.code"))


class Room(Tracked, Base):
    __tablename__ = "rooms"
    __table_args__ = (
        Index("ix_rooms_house_code_code", "house_code", "code"),
        Index("ix_rooms_last_verified", "verified_at", "source_at", "updated_at"),
    )

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    house_code: Mapped[str] = mapped_column(String(24), ForeignKey("houses.code"))
    number: Mapped[str] = mapped_column(String(8))
    floor: Mapped[int]
    area_m2: Mapped[float]
    grid_code: Mapped[str] = mapped_column(GridCode(), index=True)
