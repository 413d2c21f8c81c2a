"""Duties outside the shared data: reading the audit log, running the catalogue.

These are not field rules on a resource — an auditor reads the log and nothing of the people in
it; a data officer works the catalogue and sees no shared rows — so they are roles, checked by
name on the request's plan (``AccessPlan.roles`` holds inherited roles too: a role that inherits
``auditor`` is an auditor). A grant on ``*`` resources can never open the audit log by accident.
"""

from __future__ import annotations

from typing import Any

from store.errors import Forbidden

AUDITOR = "auditor"
DATA_OFFICER = "data_officer"
CHIEF_DATA_OFFICER = "chief_data_officer"


def has_duty(plan: Any, role: str) -> bool:
    """Whether the plan's principal holds ``role`` (directly or inherited)."""
    return role in getattr(plan, "roles", ())


def principal_with_duty(plan: Any, role: str, what: str) -> Any:
    """The plan's principal if it holds ``role``; else ``Forbidden`` naming ``what`` it wanted
    (the role is named too: it is public in the docs, and tells the caller whom to ask)."""
    principal = getattr(plan, "principal", None)
    if principal is None or not has_duty(plan, role):
        raise Forbidden(f"{what} needs the {role} role")
    return principal
