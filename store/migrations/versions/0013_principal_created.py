"""when each principal was created

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03

A token issued before its principal was created was issued to an earlier principal of the same
subject, since removed: the request refuses it. Principals already here get no time (NULL): when
they were created is not known, and refusing every live token on upgrade would log everyone out.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("principals", sa.Column("created_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("principals") as batch:
        batch.drop_column("created_at")
