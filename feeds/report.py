"""What a run did: its counts, its rejects with their reasons, how it ended."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from feeds.validate import Reject

#: The counts of a run, in the order reports show them.
COUNTS = (
    "read",
    "inserted",
    "updated",
    "unchanged",
    "removed",
    "rejected",
    "unmatched",
    "conflicts",
)
#: A run's phases: reading and checking rows, placing their addresses (both summed over the
#: processes that prepare rows, so they can exceed the run's wall clock), staging them (and
#: finding duplicate keys), and the merge's transaction.
PHASES = ("check", "match", "stage", "merge")
#: Rejects kept in the run's row in the database (all of them go to ``--report``).
STORED_REJECTS = 1_000


@dataclass
class RunReport:
    """One run's outcome. ``unmatched`` counts rows whose address the matcher did not place
    (kept as candidates); those that were new are not inserted until it is placed."""

    feed: str
    department: str
    file_sha256: str
    file_name: str | None
    started_by: str
    started_at: datetime
    dry_run: bool = False
    run_id: int | None = None
    status: str = "running"
    finished_at: datetime | None = None
    read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    rejected: int = 0
    unmatched: int = 0
    conflicts: int = 0
    rejects: list[Reject] = field(default_factory=list)
    error: str | None = None
    #: Where the run's time went, by phase (see :data:`PHASES`).
    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(PHASES, 0.0))

    def counts(self) -> dict[str, int]:
        return {name: int(getattr(self, name)) for name in COUNTS}

    def as_json(self) -> dict[str, Any]:
        return {
            "runId": self.run_id,
            "feed": self.feed,
            "department": self.department,
            "status": self.status,
            "dryRun": self.dry_run,
            "file": self.file_name,
            "sha256": self.file_sha256,
            "startedBy": self.started_by,
            "startedAt": self.started_at.isoformat(),
            "finishedAt": None if self.finished_at is None else self.finished_at.isoformat(),
            "counts": self.counts(),
            "rejects": [reject.as_json() for reject in self.rejects],
            "error": self.error,
            "seconds": {name: round(value, 3) for name, value in self.seconds.items()},
        }
