"""The kinds of verification task, the reason key each is raised under, and its time limit.

A task's ``reason`` is what makes raising tasks idempotent: at most one task per record and
reason is open (the database holds that with a partial unique index), so a second run of the
generator, or a department asking twice, finds the open task and adds nothing.
"""

from __future__ import annotations

from datetime import timedelta
from types import MappingProxyType

from store.models import TaskKind

#: How long a worker has for a task of each kind, from when it is raised. Conflicts block the
#: departments' data, so they come first; a recheck is routine.
DUE_AFTER = MappingProxyType(
    {
        TaskKind.CONFLICT: timedelta(days=7),
        TaskKind.UNPLACED_ADDRESS: timedelta(days=14),
        TaskKind.RECHECK: timedelta(days=30),
        TaskKind.REQUEST: timedelta(days=7),
    }
)

#: Who raised the tasks the hub finds on its own (stale records).
HUB = "hub"


def conflict_reason(field: str) -> str:
    """One open task per disagreeing field of a record, however many departments disagree."""
    return f"conflict:{field}"


UNPLACED_REASON = "unplaced_address"
RECHECK_REASON = "recheck"


def request_reason(department: str) -> str:
    """One open request per record and asking department."""
    return f"request:{department}"
