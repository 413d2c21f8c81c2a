"""The refusals of the task and correction workflow, each with a stable ``extensions.code``.

A task or correction the caller may not act on is refused exactly like one that does not
exist, so ids outside the caller's grids or department can not be probed for.
"""

from __future__ import annotations

from store.errors import BadUserInput, Forbidden, GridhubError


class TaskNotFound(GridhubError):
    """No such task among those the caller works (outside their grids reads the same)."""

    code = "TASK_NOT_FOUND"


class TaskClosed(GridhubError):
    """The task is DONE or CANCELLED: nothing more is resolved on it."""

    code = "TASK_CLOSED"


class WriteForbidden(Forbidden):
    """The caller's plan does not let it write the field of this record (``field`` names it)."""

    code = "WRITE_FORBIDDEN"


class CorrectionNotFound(GridhubError):
    """No such correction for the caller's department to decide (another department's reads
    the same)."""

    code = "CORRECTION_NOT_FOUND"


class CorrectionDecided(GridhubError):
    """The correction was accepted or rejected already."""

    code = "CORRECTION_DECIDED"


__all__ = [
    "BadUserInput",
    "CorrectionDecided",
    "CorrectionNotFound",
    "TaskClosed",
    "TaskNotFound",
    "WriteForbidden",
]
