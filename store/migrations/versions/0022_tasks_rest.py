"""corrections of a whole record (findings), and the recheck pass's index

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-03

- ``corrections.kind``: ``field`` (one field found otherwise, as before) or ``finding`` (the
  record was not found, its people moved out or died, the house is vacant: a fact for the
  record's department, with no field, the outcome in ``new_value``); ``field`` may be null.
- ``ix_<table>_last_verified`` on ``(verified_at, source_at, updated_at)`` of people, houses,
  rooms and entities: the recheck pass looks for records whose last known verification
  (``coalesce`` of the three) is older than the period, which it asks as three ranges this
  index serves, instead of reading every row.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("people", "houses", "rooms", "entities")


def upgrade() -> None:
    with op.batch_alter_table("corrections") as batch:
        batch.add_column(
            sa.Column("kind", sa.String(length=16), nullable=False, server_default="field")
        )
        batch.alter_column("field", existing_type=sa.String(length=48), nullable=True)
    for table in TABLES:
        op.create_index(
            f"ix_{table}_last_verified", table, ["verified_at", "source_at", "updated_at"]
        )


def downgrade() -> None:
    for table in TABLES:
        op.drop_index(f"ix_{table}_last_verified", table_name=table)
    op.execute("DELETE FROM corrections WHERE kind = 'finding'")
    with op.batch_alter_table("corrections") as batch:
        batch.alter_column("field", existing_type=sa.String(length=48), nullable=False)
        batch.drop_column("kind")
