"""The audit log: one entry per request, hash-chained per writer, with signed checkpoints.

Each hub process writes its own chain (``writer_id``, a fresh id per process start; ``seq`` from 1
with no gaps). An entry's ``hash`` is the SHA-256 of its canonical form, which includes the
previous entry's hash (``prev_hash``); a checkpoint signs a chain's head with an Ed25519 key. The
canonical form and the hashing live in :mod:`audit.record` and :mod:`audit.chain`; these tables
only store what they produce.

``audit_person_reads`` and ``audit_field_reads`` repeat parts of each entry (its ``person_ids``
and ``reads``) as rows, so that "who read person X in the last 30 days" is an index range scan
instead of a scan of millions of JSON documents. They are derived from the entries in the
database, and ``gridhub audit verify`` checks that they still match them: otherwise deleting an
index row would hide an access from an auditor's search while the chain stayed intact. They
have no foreign key to ``audit_entries``: the check would run once per row (a thousand times for
a page of a thousand people) and proves nothing verify does not — a row whose entry is gone is
found by no search, which joins the entries.

``audit_index_marks`` says how far each chain's index rows are written. SQLite writes them in
the entries' own transaction. PostgreSQL writes them right after the entries commit, in a
statement of their own that no request waits for: a row per person returned (a heap tuple and
two B-tree entries each) was the largest part of what the audit log cost a request. If a process
stops in between, the next hub process to start writes what its chain lacks (see
:mod:`audit.writer`); verify leaves a chain's entries past its mark out of the index check and
says how many there are.

On PostgreSQL the entries and both index tables are partitioned by month of ``at``
(:mod:`store.audit_partitions`): their primary keys there end with ``at`` (a partitioned table's
unique keys hold its partition key), and ``(writer_id, seq)`` is an index rather than a unique
constraint — a seq written twice is still found, by ``gridhub audit verify`` ("appears twice").
``audit_retentions`` holds the signed checkpoints retention leaves where it removed a chain's
oldest entries (:mod:`audit.retention`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from store.models.base import Base, UTCDateTime

#: Longest value of each text column of an entry; :mod:`audit.record` shortens longer values
#: (PostgreSQL would refuse them, SQLite would keep them: the back ends must agree).
ENTRY_TEXT_LIMITS: dict[str, int] = {
    "writer_id": 32,
    "request_id": 36,
    "subject": 128,
    "principal_kind": 8,
    "department_code": 32,
    "client_id": 64,
    "client_address": 64,
    "operation_name": 128,
    "operation_type": 16,
    "query_hash": 64,
    "purpose": 255,
    "outcome": 8,
    "error_code": 48,
}
#: Longest person id, resource type and field name the index tables hold.
PERSON_ID_LENGTH = 64
RESOURCE_TYPE_LENGTH = 64
FIELD_NAME_LENGTH = 64
HASH_LENGTH = 64


class AuditEntry(Base):
    """One request: who asked, what for, what they read, how it ended; one link of a chain."""

    __tablename__ = "audit_entries"
    __table_args__ = (
        UniqueConstraint("writer_id", "seq"),
        Index("ix_audit_entries_at", "at"),
        Index("ix_audit_entries_subject_at", "subject", "at"),
        Index("ix_audit_entries_client_id_at", "client_id", "at"),
        Index("ix_audit_entries_department_code_at", "department_code", "at"),
        Index("ix_audit_entries_outcome_at", "outcome", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    writer_id: Mapped[str] = mapped_column(String(ENTRY_TEXT_LIMITS["writer_id"]))
    seq: Mapped[int]
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    request_id: Mapped[str] = mapped_column(String(ENTRY_TEXT_LIMITS["request_id"]))
    subject: Mapped[str | None] = mapped_column(String(ENTRY_TEXT_LIMITS["subject"]))
    principal_kind: Mapped[str | None] = mapped_column(String(ENTRY_TEXT_LIMITS["principal_kind"]))
    department_code: Mapped[str | None] = mapped_column(
        String(ENTRY_TEXT_LIMITS["department_code"])
    )
    roles: Mapped[list[str]] = mapped_column(JSON)
    client_id: Mapped[str | None] = mapped_column(String(ENTRY_TEXT_LIMITS["client_id"]))
    client_address: Mapped[str | None] = mapped_column(String(ENTRY_TEXT_LIMITS["client_address"]))
    operation_name: Mapped[str | None] = mapped_column(String(ENTRY_TEXT_LIMITS["operation_name"]))
    operation_type: Mapped[str | None] = mapped_column(String(ENTRY_TEXT_LIMITS["operation_type"]))
    query_hash: Mapped[str | None] = mapped_column(String(ENTRY_TEXT_LIMITS["query_hash"]))
    variables: Mapped[dict[str, Any]] = mapped_column(JSON)
    purpose: Mapped[str | None] = mapped_column(String(ENTRY_TEXT_LIMITS["purpose"]))
    reads: Mapped[list[dict[str, str]]] = mapped_column(JSON)
    person_ids: Mapped[list[str]] = mapped_column(JSON)
    row_counts: Mapped[dict[str, int]] = mapped_column(JSON)
    grant_ids: Mapped[list[str]] = mapped_column(JSON)
    outcome: Mapped[str] = mapped_column(String(ENTRY_TEXT_LIMITS["outcome"]))
    error_code: Mapped[str | None] = mapped_column(String(ENTRY_TEXT_LIMITS["error_code"]))
    latency_us: Mapped[int]
    prev_hash: Mapped[str] = mapped_column(String(HASH_LENGTH))
    hash: Mapped[str] = mapped_column(String(HASH_LENGTH))


class AuditPersonRead(Base):
    """A personal record an entry returned: the index behind "who read person X?".

    ``at`` repeats the entry's time so the index ``(person_id, at, entry_id)`` answers a person's
    accesses in a time range, newest first, without touching the entries it skips.
    """

    __tablename__ = "audit_person_reads"
    __table_args__ = (
        Index("ix_audit_person_reads_person_id_at_entry_id", "person_id", "at", "entry_id"),
    )

    entry_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    person_id: Mapped[str] = mapped_column(String(PERSON_ID_LENGTH), primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class AuditFieldRead(Base):
    """A field an entry read, with the plan's decision for it: "who read Person.idNumber?"."""

    __tablename__ = "audit_field_reads"
    __table_args__ = (
        Index(
            "ix_audit_field_reads_resource_type_field_at_entry_id",
            "resource_type",
            "field",
            "at",
            "entry_id",
        ),
    )

    entry_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    resource_type: Mapped[str] = mapped_column(String(RESOURCE_TYPE_LENGTH), primary_key=True)
    field: Mapped[str] = mapped_column(String(FIELD_NAME_LENGTH), primary_key=True)
    decision: Mapped[str] = mapped_column(String(8), primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class AuditIndexMark(Base):
    """How far a chain's search-index rows are written: every entry up to ``seq`` has them."""

    __tablename__ = "audit_index_marks"

    writer_id: Mapped[str] = mapped_column(String(ENTRY_TEXT_LIMITS["writer_id"]), primary_key=True)
    seq: Mapped[int]


class AuditCheckpoint(Base):
    """A chain's head signed with the hub's audit key.

    ``number`` counts a writer's checkpoints from 1, so a removed checkpoint leaves a gap;
    ``final`` marks the checkpoint a writer writes when it closes, after which its chain takes
    no more entries (an entry after it was added by someone else).
    """

    __tablename__ = "audit_checkpoints"
    __table_args__ = (
        UniqueConstraint("writer_id", "number"),
        Index("ix_audit_checkpoints_writer_id_seq", "writer_id", "seq"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    writer_id: Mapped[str] = mapped_column(String(ENTRY_TEXT_LIMITS["writer_id"]))
    number: Mapped[int]
    seq: Mapped[int]
    head_hash: Mapped[str] = mapped_column(String(HASH_LENGTH))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    key_id: Mapped[str] = mapped_column(String(64))
    final: Mapped[bool]
    signature: Mapped[str] = mapped_column(String(128))


class AuditRetention(Base):
    """Where retention cut a chain: its entries up to ``seq`` (with head ``head_hash``) were
    exported, verified and removed; signed with the hub's audit key.

    ``checkpoints`` is the number of the chain's last checkpoint at or before ``seq`` (the
    checkpoints themselves stay: the witness holds them), ``before`` the first instant kept,
    ``exports`` the files the removed months went to with their SHA-256. Verification starts
    the chain here (:mod:`audit.verify.database`).
    """

    __tablename__ = "audit_retentions"
    __table_args__ = (Index("ix_audit_retentions_writer_id_seq", "writer_id", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    writer_id: Mapped[str] = mapped_column(String(ENTRY_TEXT_LIMITS["writer_id"]))
    seq: Mapped[int]
    head_hash: Mapped[str] = mapped_column(String(HASH_LENGTH))
    checkpoints: Mapped[int]
    before: Mapped[datetime] = mapped_column(UTCDateTime())
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    exports: Mapped[list[dict[str, str]]] = mapped_column(JSON)
    key_id: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(String(128))
