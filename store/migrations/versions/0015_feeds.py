"""department feeds: declarations, runs, conflicts, address candidates, field authority

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("catalog_fields") as batch:
        batch.add_column(
            sa.Column("authoritative_department", sa.String(length=32), nullable=True)
        )
    op.create_table(
        "feeds",
        sa.Column("code", sa.String(length=48), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("department_code", sa.String(length=32), nullable=False),
        sa.Column("resource_code", sa.String(length=32), nullable=False),
        sa.Column("target", sa.String(length=16), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("format", sa.String(length=8), nullable=False),
        sa.Column("update_frequency", sa.String(length=16), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("source", sa.String(length=255), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(
            ["department_code"],
            ["departments.code"],
            name=op.f("fk_feeds_department_code_departments"),
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_feeds")),
    )
    op.create_index(op.f("ix_feeds_department_code"), "feeds", ["department_code"])
    op.create_table(
        "feed_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("feed", sa.String(length=48), nullable=False),
        sa.Column("department_code", sa.String(length=32), nullable=False),
        sa.Column("started_by", sa.String(length=128), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("file_name", sa.String(length=255), nullable=True),
        sa.Column("file_sha256", sa.String(length=64), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("rejects", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feed_runs")),
    )
    op.create_index("ix_feed_runs_feed_id", "feed_runs", ["feed", "id"])
    op.create_table(
        "feed_conflicts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("target", sa.String(length=16), nullable=False),
        sa.Column("row_key", sa.String(length=48), nullable=False),
        sa.Column("field", sa.String(length=48), nullable=False),
        sa.Column("grid_code", sa.String(length=15), nullable=True),
        sa.Column("authoritative_department", sa.String(length=32), nullable=False),
        sa.Column("authoritative_value", sa.Text(), nullable=True),
        sa.Column("observed_department", sa.String(length=32), nullable=False),
        sa.Column("observed_value", sa.Text(), nullable=True),
        sa.Column("feed", sa.String(length=48), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feed_conflicts")),
    )
    op.create_index(op.f("ix_feed_conflicts_grid_code"), "feed_conflicts", ["grid_code"])
    op.create_index(
        "ix_feed_conflicts_target_row_key_field",
        "feed_conflicts",
        ["target", "row_key", "field"],
    )
    op.create_table(
        "address_candidates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("feed", sa.String(length=48), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("target", sa.String(length=16), nullable=False),
        sa.Column("row_key", sa.String(length=48), nullable=False),
        sa.Column("raw_address", sa.String(length=200), nullable=False),
        sa.Column("candidates", sa.Text(), nullable=False),
        sa.Column("grid_code", sa.String(length=15), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_address_candidates")),
    )
    op.create_index(
        op.f("ix_address_candidates_grid_code"), "address_candidates", ["grid_code"]
    )


def downgrade() -> None:
    op.drop_table("address_candidates")
    op.drop_table("feed_conflicts")
    op.drop_table("feed_runs")
    op.drop_table("feeds")
    with op.batch_alter_table("catalog_fields") as batch:
        batch.drop_column("authoritative_department")
