"""People (实有人口): everyone who lives in the district, registered here or not."""

from __future__ import annotations

import enum
from datetime import date

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from store.models.base import Base, GridCode
from store.models.provenance import Tracked


class Gender(enum.StrEnum):
    MALE = "male"
    FEMALE = "female"


class Registration(enum.StrEnum):
    """户籍 (registered here) or 流动 (living here, registered elsewhere)."""

    LOCAL = "local"
    FLOATING = "floating"


class ResidenceKind(enum.StrEnum):
    OWNER = "owner"
    RENTER = "renter"
    DORMITORY = "dormitory"


class CareTag(enum.StrEnum):
    """Care tags, from the least to the most sensitive (their tiers live with the field rules)."""

    ELDERLY_70 = "elderly_70"
    ELDERLY_80 = "elderly_80"
    ELDERLY_ALONE = "elderly_alone"
    DISABLED = "disabled"
    LOW_INCOME = "low_income"
    LEFT_BEHIND_CHILD = "left_behind_child"
    KEY_PERSON = "key_person"
    COMMUNITY_CORRECTION = "community_correction"
    SEVERE_MENTAL_DISORDER = "severe_mental_disorder"


def encode_care_tags(tags: list[str] | tuple[str, ...]) -> str:
    """Store tags as ``,a,b,``: one portable column that ``LIKE '%,a,%'`` can filter on."""
    return "," + ",".join(sorted(tags)) + "," if tags else ""


def decode_care_tags(value: str | None) -> list[str]:
    return [tag for tag in (value or "").split(",") if tag]


class Person(Tracked, Base):
    __tablename__ = "people"
    __table_args__ = (
        Index("ix_people_grid_code_id", "grid_code", "id"),
        Index("ix_people_house_code_id", "house_code", "id"),
        Index("ix_people_last_verified", "verified_at", "source_at", "updated_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(32))
    id_number: Mapped[str] = mapped_column(String(18), unique=True)
    phone: Mapped[str | None] = mapped_column(String(16))
    gender: Mapped[str] = mapped_column(String(8))
    birth_date: Mapped[date] = mapped_column(index=True)
    registration: Mapped[str] = mapped_column(String(16), index=True)
    residence_kind: Mapped[str] = mapped_column(String(16))
    house_code: Mapped[str | None] = mapped_column(String(24), ForeignKey("houses.code"))
    room_code: Mapped[str | None] = mapped_column(String(32), ForeignKey("rooms.code"))
    # No foreign key: people and entities refer to each other (employer, legal representative),
    # and one of the two links has to stay unenforced for rows to be loadable in bulk.
    employer_code: Mapped[str | None] = mapped_column(String(18), index=True)
    care_tags: Mapped[str] = mapped_column(String(200), default="")
    grid_code: Mapped[str] = mapped_column(GridCode(), ForeignKey("grids.code"))
