"""The tamper-evident audit log: records, hash chain, signing, writing, reading back, verifying.

- :mod:`audit.record` — :class:`~audit.record.AuditRecord` (what the request layer fills in;
  ``hub.audit_facts`` works out what it says) and the canonical form every hash covers;
- :mod:`audit.chain` — entry hashes and the bytes a checkpoint signs;
- :mod:`audit.keys` — the Ed25519 checkpoint keys: load or create, rotate, public document;
- :mod:`audit.writer` — :class:`~audit.writer.AuditWriter`: group commit, one chain per
  process, :class:`~audit.writer.AuditUnavailable` when an entry can not be made durable;
  :mod:`audit.batch` builds what one transaction writes, :mod:`audit.batch_postgresql` sends
  it to PostgreSQL as one statement;
- :mod:`audit.indexer` — the search-index rows (people and fields read), written from the
  entries, right after them on PostgreSQL, and caught up for chains left behind;
- :mod:`audit.stream`, :mod:`audit.verify`, :mod:`audit.export` — reading the log back in
  chain order, verifying it (database or export) and exporting it, all streaming;
- :mod:`audit.search` — auditors' search and statistics as SQL;
- :mod:`audit.http` — ``GET /audit/public-key``.
"""
