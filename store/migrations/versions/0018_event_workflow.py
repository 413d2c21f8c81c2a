"""the event workflow: each event's action history, acceptance, resolution, on-time, supervision

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-03

A matter may name no department (its events wait at the street's grid centre), so the matter's
department and the event's handling department become nullable. Events already here keep no
history: their steps were never recorded one by one (the demo writes its events' histories).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("matters") as batch:
        batch.alter_column("department_code", existing_type=sa.String(length=32), nullable=True)
    with op.batch_alter_table("events") as batch:
        batch.alter_column(
            "handling_department_code", existing_type=sa.String(length=32), nullable=True
        )
        batch.add_column(sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("on_time", sa.Boolean(), nullable=True))
        batch.add_column(
            sa.Column(
                "supervision_count", sa.Integer(), server_default=sa.text("0"), nullable=False
            )
        )
        batch.add_column(sa.Column("supervised_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "event_actions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("actor_kind", sa.String(length=16), nullable=False),
        sa.Column("actor_department", sa.String(length=32), nullable=True),
        sa.Column("department_code", sa.String(length=32), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"], ["events.id"], name=op.f("fk_event_actions_event_id_events")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_actions")),
    )
    op.create_index("ix_event_actions_event_id_id", "event_actions", ["event_id", "id"])
    op.create_index(op.f("ix_event_actions_at"), "event_actions", ["at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_event_actions_at"), table_name="event_actions")
    op.drop_index("ix_event_actions_event_id_id", table_name="event_actions")
    op.drop_table("event_actions")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("supervised_at")
        batch.drop_column("supervision_count")
        batch.drop_column("on_time")
        batch.drop_column("resolved_at")
        batch.drop_column("accepted_at")
        batch.drop_column("occurred_at")
        batch.alter_column(
            "handling_department_code", existing_type=sa.String(length=32), nullable=False
        )
    with op.batch_alter_table("matters") as batch:
        batch.alter_column("department_code", existing_type=sa.String(length=32), nullable=False)
