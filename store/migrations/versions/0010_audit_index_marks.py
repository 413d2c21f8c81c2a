"""how far each audit chain's search-index rows are written

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-24

On PostgreSQL the search-index rows of an entry are written right after the entry commits,
not in the same statement (see ``store.models.audit``); ``audit_index_marks`` records how far
each chain has them. Every chain already in the log has all of them: its mark is its last seq.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_index_marks",
        sa.Column("writer_id", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("writer_id", name=op.f("pk_audit_index_marks")),
    )
    op.execute(
        "INSERT INTO audit_index_marks (writer_id, seq)"
        " SELECT writer_id, max(seq) FROM audit_entries GROUP BY writer_id"
    )


def downgrade() -> None:
    op.drop_table("audit_index_marks")
