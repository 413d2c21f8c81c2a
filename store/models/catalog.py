"""The data-resource catalogue (数据资源目录): resources, their fields, and every version of each.

A resource's current definition lives in ``catalog_resources`` and ``catalog_fields`` (so the
catalogue can be filtered in SQL); ``catalog_versions`` keeps what each resource looked like
after every change, who made it and how (a catalogue file through ``gridhub catalog sync``, or a
data officer through the API). Tiers and masks are not stored anywhere here: they belong to the
fields' one declaration (``policies.fields``), and the catalogue reads them from there.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from store.models.base import Base, UTCDateTime

#: Longest resource code (``RK-JC-001``), name, field description and file name stored.
CODE_LENGTH = 32
NAME_LENGTH = 128
DESCRIPTION_LENGTH = 255
SOURCE_LENGTH = 255


class CatalogResource(Base):
    """One shared data set as it stands now: what it is, who owns it, how it is shared."""

    __tablename__ = "catalog_resources"
    __table_args__ = (
        CheckConstraint("sharing in ('unconditional', 'conditional', 'not_shared')", "sharing"),
        CheckConstraint("origin in ('file', 'api')", "origin"),
    )

    code: Mapped[str] = mapped_column(String(CODE_LENGTH), primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    summary: Mapped[str] = mapped_column(Text)
    department_code: Mapped[str] = mapped_column(
        String(32), ForeignKey("departments.code"), index=True
    )
    graphql_type: Mapped[str] = mapped_column(String(32), index=True)
    sharing: Mapped[str] = mapped_column(String(16), index=True)
    #: The condition in words (conditional), or the legal basis (not shared).
    sharing_condition: Mapped[str | None] = mapped_column(Text)
    update_frequency: Mapped[str] = mapped_column(String(16))
    #: ``file``: kept in a catalogue file and changed only there; ``api``: registered by a
    #: data officer through GraphQL.
    origin: Mapped[str] = mapped_column(String(8))
    #: The catalogue file it was synced from (``resources/housing.toml``); None for ``api``.
    source: Mapped[str | None] = mapped_column(String(SOURCE_LENGTH))
    version: Mapped[int]
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_by: Mapped[str] = mapped_column(String(128))
    #: How many days a record of the resource stays verified: a record not verified on site
    #: (nor set by a feed) for longer becomes a RECHECK task in its grid. None: never. A
    #: setting (``gridhub tasks recheck``), not part of the definition: syncs leave it alone.
    recheck_days: Mapped[int | None] = mapped_column(default=None)


class CatalogField(Base):
    """A field of a resource: a field of its GraphQL type, with what it means in words."""

    __tablename__ = "catalog_fields"

    resource_code: Mapped[str] = mapped_column(
        String(CODE_LENGTH),
        ForeignKey("catalog_resources.code", ondelete="CASCADE"),
        primary_key=True,
    )
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    position: Mapped[int]
    description: Mapped[str] = mapped_column(String(DESCRIPTION_LENGTH))
    #: The department whose feed is authoritative for this field ("one data, one source");
    #: NULL means the resource's owning department.
    authoritative_department: Mapped[str | None] = mapped_column(String(32))


class CatalogVersion(Base):
    """A resource after one change: the whole definition, so any version reads on its own."""

    __tablename__ = "catalog_versions"

    # No cascade: a resource's history outlives any attempt to delete the resource.
    resource_code: Mapped[str] = mapped_column(
        String(CODE_LENGTH), ForeignKey("catalog_resources.code"), primary_key=True
    )
    version: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: A principal's subject (api), or who ran ``gridhub catalog sync`` (file).
    changed_by: Mapped[str] = mapped_column(String(128))
    origin: Mapped[str] = mapped_column(String(8))
    source: Mapped[str | None] = mapped_column(String(SOURCE_LENGTH))
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
