"""the audit log's search-index rows without a foreign key to their entry

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23

The key was checked once per index row (a thousand times for a page of a thousand people) and
guards nothing ``gridhub audit verify`` does not: see ``store.models.audit``.
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEYS = (
    ("audit_person_reads", "fk_audit_person_reads_entry_id_audit_entries"),
    ("audit_field_reads", "fk_audit_field_reads_entry_id_audit_entries"),
)


def upgrade() -> None:
    for table, key in KEYS:
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(key, type_="foreignkey")


def downgrade() -> None:
    for table, key in KEYS:
        with op.batch_alter_table(table) as batch:
            batch.create_foreign_key(key, "audit_entries", ["entry_id"], ["id"])
