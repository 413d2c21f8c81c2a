"""How a grant appears in the policy: a role ``grant:<id>`` that holds the grant's rules.

The catalogue workflow (:mod:`catalog.grants`) writes each grant as rules of its own role in the
requesting department's domain, linked to the department's app roles; revoking or expiring the
grant removes the role's lines. Naming the role after the grant lets the plan compiler drop a
grant that has run out before the sweep gets to it, and lets the audit recorder name the grant
(not a rule string) in the entry of every request it allowed.
"""

from __future__ import annotations

PREFIX = "grant:"


def grant_role(grant_id: int) -> str:
    """The role holding grant ``grant_id``'s rules (also the grant's id in the API and log)."""
    return f"{PREFIX}{grant_id}"


def grant_id_of(name: str) -> int | None:
    """The grant id behind a role name, or None for a role that is no grant."""
    if not name.startswith(PREFIX):
        return None
    digits = name.removeprefix(PREFIX)
    return int(digits) if digits.isascii() and digits.isdigit() and len(digits) <= 18 else None


def is_grant_role(name: str) -> bool:
    return name.startswith(PREFIX)
