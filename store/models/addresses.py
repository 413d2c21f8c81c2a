"""The standard address base: one standard address per house and per room, and taught aliases."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from store.models.base import Base, GridCode, UTCDateTime


class Address(Base):
    """A house's (``room_code`` null) or a room's standard address, in components and as text.

    ``code`` is the building code or the room code; ``text`` is the canonical text departments
    are asked to write; ``normalised`` is that text normalised and without its administrative
    prefix, which searches compare against.
    """

    __tablename__ = "addresses"
    __table_args__ = (
        Index("ix_addresses_grid_code_code", "grid_code", "code"),
        Index("ix_addresses_house_code_room_code", "house_code", "room_code"),
    )

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    house_code: Mapped[str] = mapped_column(String(24), ForeignKey("houses.code"))
    room_code: Mapped[str | None] = mapped_column(String(32), ForeignKey("rooms.code"))
    grid_code: Mapped[str] = mapped_column(GridCode())
    street: Mapped[str] = mapped_column(String(16))
    community: Mapped[str] = mapped_column(String(16))
    road: Mapped[str] = mapped_column(String(40))
    number: Mapped[str] = mapped_column(String(8))
    estate: Mapped[str] = mapped_column(String(60))
    building: Mapped[str | None] = mapped_column(String(8))
    unit: Mapped[str | None] = mapped_column(String(8))
    floor: Mapped[int | None]
    room: Mapped[str | None] = mapped_column(String(8))
    text: Mapped[str] = mapped_column(String(200), index=True)
    normalised: Mapped[str] = mapped_column(String(200), index=True)


class AddressAlias(Base):
    """A department's spelling that a person said names this house or room: matched exactly."""

    __tablename__ = "address_aliases"

    normalised: Mapped[str] = mapped_column(String(400), primary_key=True)
    code: Mapped[str] = mapped_column(String(32), ForeignKey("addresses.code"), index=True)
    grid_code: Mapped[str] = mapped_column(GridCode(), index=True)
    text: Mapped[str] = mapped_column(String(400))
    taught_by: Mapped[str] = mapped_column(String(128))
    taught_at: Mapped[datetime] = mapped_column(UTCDateTime())
