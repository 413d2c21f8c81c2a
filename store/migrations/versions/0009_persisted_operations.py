"""persisted operations of department apps

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op



revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('persisted_operations',
    sa.Column('subject', sa.String(length=128), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=True),
    sa.Column('document', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=128), nullable=False),
    sa.ForeignKeyConstraint(['subject'], ['principals.subject'], name=op.f('fk_persisted_operations_subject_principals'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('subject', 'sha256', name=op.f('pk_persisted_operations'))
    )


def downgrade() -> None:
    op.drop_table('persisted_operations')
