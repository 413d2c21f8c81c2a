"""verification tasks, their history, and each catalogue resource's recheck period

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03

The tasks read the feeds' findings (``feed_conflicts``, ``address_candidates``), which the feeds'
migration (0015) creates.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = sa.text("status IN ('open', 'escalated')")


def upgrade() -> None:
    with op.batch_alter_table("catalog_resources") as batch:
        batch.add_column(sa.Column("recheck_days", sa.Integer(), nullable=True))
    op.create_table(
        "tasks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("target", sa.String(length=16), nullable=False),
        sa.Column("row_key", sa.String(length=48), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("grid_code", sa.String(length=15), nullable=False),
        sa.Column("raised_by", sa.String(length=128), nullable=False),
        sa.Column("why", sa.Text(), nullable=False),
        sa.Column("department", sa.String(length=32), nullable=True),
        sa.Column("source_ref", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("resolved_by", sa.String(length=128), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tasks")),
    )
    op.create_index(
        "uq_tasks_open_target_row_key_reason",
        "tasks",
        ["target", "row_key", "reason"],
        unique=True,
        sqlite_where=OPEN,
        postgresql_where=OPEN,
    )
    op.create_index("ix_tasks_grid_code_status_id", "tasks", ["grid_code", "status", "id"])
    op.create_index(op.f("ix_tasks_due_at"), "tasks", ["due_at"])
    op.create_table(
        "task_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("by", sa.String(length=128), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["task_id"],
            ["tasks.id"],
            name=op.f("fk_task_history_task_id_tasks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_history")),
    )
    op.create_index("ix_task_history_task_id_id", "task_history", ["task_id", "id"])
    op.create_table(
        "corrections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("target", sa.String(length=16), nullable=False),
        sa.Column("row_key", sa.String(length=48), nullable=False),
        sa.Column("grid_code", sa.String(length=15), nullable=False),
        sa.Column("field", sa.String(length=48), nullable=False),
        sa.Column("old_value", sa.Text(), nullable=True),
        sa.Column("new_value", sa.Text(), nullable=True),
        sa.Column("department", sa.String(length=32), nullable=False),
        sa.Column("resource_code", sa.String(length=32), nullable=True),
        sa.Column("proposed_by", sa.String(length=128), nullable=False),
        sa.Column("proposed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("decided_by", sa.String(length=128), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["task_id"], ["tasks.id"], name=op.f("fk_corrections_task_id_tasks")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_corrections")),
    )
    op.create_index(op.f("ix_corrections_task_id"), "corrections", ["task_id"])
    op.create_index(
        "ix_corrections_department_status_id", "corrections", ["department", "status", "id"]
    )
    op.create_index(
        "ix_corrections_department_decided_at", "corrections", ["department", "decided_at"]
    )


def downgrade() -> None:
    op.drop_table("corrections")
    op.drop_table("task_history")
    op.drop_table("tasks")
    with op.batch_alter_table("catalog_resources") as batch:
        batch.drop_column("recheck_days")
