"""The four answers a plan gives for a field of a row."""

from __future__ import annotations

import enum


class Decision(enum.StrEnum):
    """ALLOW: the value; MASK: its declared masked form; DENY: null and ``FORBIDDEN``;
    PURPOSE_REQUIRED: null and ``PURPOSE_REQUIRED`` (a tier 3+ field without a covered purpose)."""

    ALLOW = "allow"
    MASK = "mask"
    DENY = "deny"
    PURPOSE_REQUIRED = "purpose_required"
