"""the audit log partitioned by month on PostgreSQL; retention checkpoints

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03

On PostgreSQL ``audit_entries``, ``audit_person_reads`` and ``audit_field_reads`` become tables
partitioned by range of ``at``, a partition per UTC month from the oldest entry's month to three
months ahead, and a default partition each (see :mod:`store.audit_partitions`). The rows are
copied into the new tables: on a large log this migration takes as long as copying it (about a
minute per ten million entries on a quiet server), during which the hub must be stopped.

Everywhere: ``audit_retentions``, the signed checkpoints retention leaves (:mod:`audit.retention`),
and an index on ``entities.established_on``, the time the catalogue's statistics read the
newest of (a ``max`` over an index instead of over every entity).
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from store.audit_partitions import (
    Month,
    create_default_sql,
    create_partition_sql,
    months_ahead,
    months_between,
)

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Each partitioned table: its primary key on PostgreSQL, and its other indexes.
TABLES: dict[str, tuple[tuple[str, ...], dict[str, tuple[str, ...]]]] = {
    "audit_entries": (
        ("id", "at"),
        {
            "ix_audit_entries_at": ("at",),
            "ix_audit_entries_subject_at": ("subject", "at"),
            "ix_audit_entries_client_id_at": ("client_id", "at"),
            "ix_audit_entries_department_code_at": ("department_code", "at"),
            "ix_audit_entries_outcome_at": ("outcome", "at"),
            "ix_audit_entries_writer_id_seq": ("writer_id", "seq"),
        },
    ),
    "audit_person_reads": (
        ("entry_id", "person_id", "at"),
        {"ix_audit_person_reads_person_id_at_entry_id": ("person_id", "at", "entry_id")},
    ),
    "audit_field_reads": (
        ("entry_id", "resource_type", "field", "decision", "at"),
        {
            "ix_audit_field_reads_resource_type_field_at_entry_id": (
                "resource_type",
                "field",
                "at",
                "entry_id",
            )
        },
    ),
}
#: The unpartitioned tables' keys (migration 0003).
PLAIN_KEYS: dict[str, tuple[str, ...]] = {
    "audit_entries": ("id",),
    "audit_person_reads": ("entry_id", "person_id"),
    "audit_field_reads": ("entry_id", "resource_type", "field", "decision"),
}


def _drop_keys_and_indexes(table: str) -> None:
    """The renamed table's key and indexes, whose names the new table takes."""
    op.execute(f"ALTER TABLE {table}_old DROP CONSTRAINT IF EXISTS pk_{table}")
    op.execute(f"ALTER TABLE {table}_old DROP CONSTRAINT IF EXISTS uq_audit_entries_writer_id_seq")
    for index in TABLES[table][1]:
        op.execute(f"DROP INDEX IF EXISTS {index}")


def _partition(months: list[Month]) -> None:
    for table, (key, indexes) in TABLES.items():
        op.execute(f"ALTER TABLE {table} RENAME TO {table}_old")
        if table == "audit_entries":
            op.execute("ALTER SEQUENCE audit_entries_id_seq OWNED BY NONE")
        _drop_keys_and_indexes(table)
        op.execute(
            f"CREATE TABLE {table} (LIKE {table}_old INCLUDING DEFAULTS) PARTITION BY RANGE (at)"
        )
        if table == "audit_entries":
            op.execute("ALTER SEQUENCE audit_entries_id_seq OWNED BY audit_entries.id")
        for month in months:
            op.execute(create_partition_sql(table, month))
        op.execute(create_default_sql(table))
        op.execute(f"INSERT INTO {table} SELECT * FROM {table}_old")
        op.execute(f"DROP TABLE {table}_old")
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT pk_{table} PRIMARY KEY ({', '.join(key)})")
        for index, columns in indexes.items():
            op.execute(f"CREATE INDEX {index} ON {table} ({', '.join(columns)})")
        op.execute(f"ANALYZE {table}")


def _unpartition() -> None:
    for table, (_, indexes) in TABLES.items():
        op.execute(f"ALTER TABLE {table} RENAME TO {table}_old")
        if table == "audit_entries":
            op.execute("ALTER SEQUENCE audit_entries_id_seq OWNED BY NONE")
        op.execute(f"ALTER TABLE {table}_old DROP CONSTRAINT pk_{table}")
        for index in indexes:
            op.execute(f"DROP INDEX IF EXISTS {index}")
        op.execute(f"CREATE TABLE {table} (LIKE {table}_old INCLUDING DEFAULTS)")
        if table == "audit_entries":
            op.execute("ALTER SEQUENCE audit_entries_id_seq OWNED BY audit_entries.id")
        op.execute(f"INSERT INTO {table} SELECT * FROM {table}_old")
        op.execute(f"DROP TABLE {table}_old")
        key = ", ".join(PLAIN_KEYS[table])
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT pk_{table} PRIMARY KEY ({key})")
        for index, columns in indexes.items():
            if index == "ix_audit_entries_writer_id_seq":
                op.execute(
                    "ALTER TABLE audit_entries ADD CONSTRAINT uq_audit_entries_writer_id_seq "
                    "UNIQUE (writer_id, seq)"
                )
            else:
                op.execute(f"CREATE INDEX {index} ON {table} ({', '.join(columns)})")


def upgrade() -> None:
    op.create_table(
        "audit_retentions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("writer_id", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("head_hash", sa.String(length=64), nullable=False),
        sa.Column("checkpoints", sa.Integer(), nullable=False),
        sa.Column("before", sa.DateTime(timezone=True), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("exports", sa.JSON(), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("signature", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_retentions")),
    )
    op.create_index(
        "ix_audit_retentions_writer_id_seq", "audit_retentions", ["writer_id", "seq"]
    )
    op.create_index(op.f("ix_entities_established_on"), "entities", ["established_on"])
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    now = datetime.now(UTC)
    oldest = bind.execute(sa.text("SELECT min(at) FROM audit_entries")).scalar()
    ahead = months_ahead(now)
    first = Month.of(oldest) if oldest is not None and Month.of(oldest) < ahead[0] else ahead[0]
    _partition(months_between(first, ahead[-1]))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _unpartition()
    op.drop_index(op.f("ix_entities_established_on"), table_name="entities")
    op.drop_index("ix_audit_retentions_writer_id_seq", table_name="audit_retentions")
    op.drop_table("audit_retentions")
