"""Who may ask: principals, the grids they are assigned to, OAuth clients, and Casbin's rules.

Identity comes from a token; what a principal may see comes from the Casbin rules (``casbin_rule``,
written only through the policy store). These tables hold the facts a rule refers to: a
principal's kind and department, the grids that ``own`` means for them, a client's hashed secret.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from store.models.base import Base, GridCode, UTCDateTime


class PrincipalKind(enum.StrEnum):
    PERSON = "person"
    CLIENT = "client"


class Principal(Base):
    """A person (from an identity provider, or minted by the hub) or an OAuth client."""

    __tablename__ = "principals"

    subject: Mapped[str] = mapped_column(String(128), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    name: Mapped[str] = mapped_column(String(64))
    department_code: Mapped[str | None] = mapped_column(
        String(32), ForeignKey("departments.code"), index=True
    )
    #: When the principal was created: a token issued earlier was issued to an earlier principal
    #: of the same subject, since removed, and is refused. NULL for principals created before
    #: the hub kept this (they refuse no token for it).
    created_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime(), default=lambda: datetime.now(UTC)
    )


class PrincipalGrid(Base):
    """An assignment of a principal to an area: what the area ``own`` stands for."""

    __tablename__ = "principal_grids"

    subject: Mapped[str] = mapped_column(
        String(128), ForeignKey("principals.subject", ondelete="CASCADE"), primary_key=True
    )
    grid_code: Mapped[str] = mapped_column(GridCode(), ForeignKey("grids.code"), primary_key=True)


class OAuthClient(Base):
    """A department app: client id, a scrypt hash of its secret, and the principal it acts as."""

    __tablename__ = "oauth_clients"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    secret_hash: Mapped[str] = mapped_column(String(255))
    subject: Mapped[str] = mapped_column(
        String(128), ForeignKey("principals.subject", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


#: The longest value of a policy line: a grant's ``resource/field|field|...`` names every field
#: of a resource (a whole event resource took 239 characters; 255 left no room to grow).
RULE_VALUE_LENGTH = 2000


class CasbinRule(Base):
    """Casbin's policy lines, in the layout its SQLAlchemy adapters read and write."""

    __tablename__ = "casbin_rule"
    __table_args__ = (Index("ix_casbin_rule_ptype_v0", "ptype", "v0"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    ptype: Mapped[str] = mapped_column(String(255))
    v0: Mapped[str | None] = mapped_column(String(RULE_VALUE_LENGTH))
    v1: Mapped[str | None] = mapped_column(String(RULE_VALUE_LENGTH))
    v2: Mapped[str | None] = mapped_column(String(RULE_VALUE_LENGTH))
    v3: Mapped[str | None] = mapped_column(String(RULE_VALUE_LENGTH))
    v4: Mapped[str | None] = mapped_column(String(RULE_VALUE_LENGTH))
    v5: Mapped[str | None] = mapped_column(String(RULE_VALUE_LENGTH))


class PolicyVersion(Base):
    """One row whose counter every policy change bumps: each process compares it per request,
    so a change made anywhere (the CLI, another worker) takes effect on the next request."""

    __tablename__ = "policy_version"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(default=0)
