"""provenance of the shared rows: source, update and verification times, tombstones, history

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03

Rows already here get their update time from the migration (the server default); their source
stays empty: they came from no feed.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SHARED_TABLES = ("people", "houses", "rooms", "entities", "events")


def upgrade() -> None:
    for table in SHARED_TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(
                sa.Column(
                    "updated_at",
                    sa.DateTime(timezone=True),
                    server_default=sa.func.now(),
                    nullable=False,
                )
            )
            batch.add_column(sa.Column("source_department", sa.String(length=32), nullable=True))
            batch.add_column(sa.Column("source_feed", sa.String(length=48), nullable=True))
            batch.add_column(sa.Column("source_run", sa.Integer(), nullable=True))
            batch.add_column(sa.Column("source_at", sa.DateTime(timezone=True), nullable=True))
            batch.add_column(sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True))
        op.create_index(op.f(f"ix_{table}_updated_at"), table, ["updated_at"])
    op.create_table(
        "removed_rows",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("target", sa.String(length=16), nullable=False),
        sa.Column("row_key", sa.String(length=48), nullable=False),
        sa.Column("grid_code", sa.String(length=15), nullable=True),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("removed_by", sa.String(length=16), nullable=False),
        sa.Column("source_ref", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_removed_rows")),
    )
    op.create_index(
        "ix_removed_rows_target_removed_at", "removed_rows", ["target", "removed_at"]
    )
    op.create_table(
        "row_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("target", sa.String(length=16), nullable=False),
        sa.Column("row_key", sa.String(length=48), nullable=False),
        sa.Column("field", sa.String(length=48), nullable=False),
        sa.Column("old_value", sa.Text(), nullable=True),
        sa.Column("new_value", sa.Text(), nullable=True),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("changed_by_kind", sa.String(length=16), nullable=False),
        sa.Column("changed_by", sa.String(length=64), nullable=False),
        sa.Column("source_ref", sa.String(length=64), nullable=True),
        sa.Column("department", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_row_history")),
    )
    op.create_index(
        "ix_row_history_target_row_key_id", "row_history", ["target", "row_key", "id"]
    )


def downgrade() -> None:
    op.drop_table("row_history")
    op.drop_table("removed_rows")
    for table in SHARED_TABLES:
        op.drop_index(op.f(f"ix_{table}_updated_at"), table_name=table)
        with op.batch_alter_table(table) as batch:
            for column in (
                "verified_at",
                "source_at",
                "source_run",
                "source_feed",
                "source_department",
                "updated_at",
            ):
                batch.drop_column(column)
