"""The audit entry of a feed run: who ran which feed on which file, and what it did.

One entry per run, through the process's audit writer like every other entry: operation type
``system`` from the shell, ``mutation`` for an upload; the feed, the file's SHA-256, the run id
and the counts in its variables, the counts again as row counts.
"""

from __future__ import annotations

import uuid

from audit.record import AuditRecord, Outcome
from feeds.report import RunReport

#: The operation name of a run's entry.
RUN_FEED = "runFeed"


def run_record(
    report: RunReport,
    *,
    subject: str,
    principal_kind: str | None = None,
    department: str | None = None,
    client_id: str | None = None,
    client_address: str | None = None,
    operation_type: str = "system",
    latency_us: int = 0,
    request_id: str | None = None,
) -> AuditRecord:
    failed = report.status == "failed"
    return AuditRecord(
        request_id=request_id or uuid.uuid4().hex,
        outcome=(Outcome.ERROR if failed else Outcome.OK).value,
        latency_us=latency_us,
        subject=subject,
        principal_kind=principal_kind,
        department_code=department or report.department,
        client_id=client_id,
        client_address=client_address,
        operation_name=RUN_FEED,
        operation_type=operation_type,
        variables={
            "feed": report.feed,
            "runId": report.run_id,
            "sha256": report.file_sha256,
            "file": report.file_name,
            "dryRun": report.dry_run,
            "status": report.status,
            "counts": report.counts(),
        },
        row_counts=report.counts(),
        error_code="FEED_RUN_FAILED" if failed else None,
    )
