"""Persisted operations: the documents a department app registered, by their SHA-256.

An app whose subject the operator lists in ``GRIDHUB_PERSISTED_ONLY`` runs only these; any app
may send one by its hash instead of its text. The hash is of the document's exact text (UTF-8),
as Apollo's persisted queries and the GraphQL-over-HTTP persisted documents compute it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from store.models.base import Base, UTCDateTime


class PersistedOperation(Base):
    """One registered document of one app."""

    __tablename__ = "persisted_operations"

    subject: Mapped[str] = mapped_column(
        String(128), ForeignKey("principals.subject", ondelete="CASCADE"), primary_key=True
    )
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    #: The operation names the document defines, for people reading `gridhub operations list`.
    name: Mapped[str | None] = mapped_column(String(128))
    document: Mapped[str] = mapped_column(Text())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(128))
