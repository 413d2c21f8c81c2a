"""SQLite: updated_at's default to the microsecond, in the text form the hub writes

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-03

SQLite compares times as text. Its ``CURRENT_TIMESTAMP`` writes whole seconds
(``2026-12-03 19:40:01``), while the hub writes microseconds (``2026-12-03 19:40:01.123000``):
a row stamped by the default sorted before a time later in the same second, and an app asking
for changes since that time (``changedSince``) or an event stream polling ``updated_at`` would
miss it. The default becomes the hub's form (``store.models.provenance.utc_now``), and the
values the old default wrote gain their zero fraction, which keeps their order. PostgreSQL
keeps ``now()`` (a timestamp, to the microsecond): nothing to do there.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SHARED_TABLES = ("people", "houses", "rooms", "entities", "events")
SQLITE_NOW = "(strftime('%Y-%m-%d %H:%M:%f000', 'now'))"


def _default(value: str) -> None:
    for table in SHARED_TABLES:
        with op.batch_alter_table(table) as batch:
            batch.alter_column(
                "updated_at",
                existing_type=sa.DateTime(timezone=True),
                existing_nullable=False,
                server_default=sa.text(value),
            )


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    _default(SQLITE_NOW)
    for table in SHARED_TABLES:
        op.execute(
            f"UPDATE {table} SET updated_at = updated_at || '.000000'"  # noqa: S608
            " WHERE length(updated_at) = 19"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    _default("(CURRENT_TIMESTAMP)")
