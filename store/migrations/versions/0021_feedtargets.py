"""events keep the source system's id (the natural key of event feeds)

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-03

An event that arrives by feed (the 12345 hotline's tickets) is named by the id its own system
gave it; a unique index keeps one event per source id, so a feed's re-run updates, never
duplicates. Events reported through the API have none (NULL, which the index allows many of).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("source_event_id", sa.String(length=64), nullable=True))
    op.create_index("ux_events_source_event_id", "events", ["source_event_id"], unique=True)


def downgrade() -> None:
    op.drop_index("ux_events_source_event_id", table_name="events")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("source_event_id")
