"""Areas: the district, its streets, communities and grids, one table with hierarchical codes."""

from __future__ import annotations

import enum

from sqlalchemy import CheckConstraint, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from store.models.base import Base, GridCode


class AreaLevel(enum.StrEnum):
    DISTRICT = "district"
    STREET = "street"
    COMMUNITY = "community"
    GRID = "grid"


#: The length of an area code at each level: each level adds three digits to its parent's code.
CODE_LENGTH: dict[AreaLevel, int] = {
    AreaLevel.DISTRICT: 6,
    AreaLevel.STREET: 9,
    AreaLevel.COMMUNITY: 12,
    AreaLevel.GRID: 15,
}
LEVEL_OF_LENGTH: dict[int, AreaLevel] = {length: level for level, length in CODE_LENGTH.items()}


class Grid(Base):
    """An area at any of the four levels (the API calls them all ``Grid``).

    ``geometry`` is a GeoJSON Polygon in WGS 84 longitude/latitude, kept as text so that both
    back ends store it alike; the bounding box columns let map queries cut by box cheaply.
    """

    __tablename__ = "grids"
    __table_args__ = (
        CheckConstraint("level in ('district', 'street', 'community', 'grid')", name="level"),
    )

    code: Mapped[str] = mapped_column(GridCode(), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    level: Mapped[str] = mapped_column(String(10), index=True)
    parent_code: Mapped[str | None] = mapped_column(
        GridCode(), ForeignKey("grids.code"), index=True
    )
    geometry: Mapped[str] = mapped_column(Text)
    min_lon: Mapped[float]
    min_lat: Mapped[float]
    max_lon: Mapped[float]
    max_lat: Mapped[float]
