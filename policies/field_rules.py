"""What the resolvers need from an access plan, and two fixed plans.

The resolvers never decide anything: they ask the request's plan for a row predicate to put in
every statement's WHERE clause and, per row, for the field rules to apply when the row becomes
an object. ``policies`` compiles the real plans the API serves. :class:`OpenPlan` allows
everything: the benchmark's all-allowing baseline, and the resolver tests' plan when permissions
are not what they test. :data:`NOTHING` allows nothing: a context's plan until the principal's
is known, so a context that is never given one shows nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import ColumnElement, false

from policies.decision import Decision
from policies.fields import FIELDS

__all__ = ["NOTHING", "Decision", "FieldRules", "NothingPlan", "OpenPlan", "Plan"]


@dataclass(frozen=True)
class FieldRules:
    """One type's field decisions for the rows of one area (rows of one area share one object).

    ``refused`` lists the fields that are not ALLOW, so that building an object from a row costs
    nothing extra for the (usual) fields a principal may read.
    """

    type_name: str
    decisions: Mapping[str, Decision]
    #: For fields with per-value tiers (care tags): the highest tier of values shown.
    reach: Mapping[str, int] = field(default_factory=dict)
    refused: tuple[tuple[str, Decision], ...] = field(init=False)
    #: What the GraphQL layer derives from the rules once (``schema.guard``'s per-field actions).
    memo: dict[str, object] = field(default_factory=dict, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        refused = tuple(
            (name, self.decisions.get(name, Decision.DENY))
            for name in FIELDS[self.type_name]
            if self.decisions.get(name, Decision.DENY) is not Decision.ALLOW
        )
        object.__setattr__(self, "refused", refused)

    def of(self, field_name: str) -> Decision:
        """Deny by default: a field the plan does not mention is DENY."""
        return self.decisions.get(field_name, Decision.DENY)


class Plan(Protocol):
    def rows(self, resource: str, column: ColumnElement[str] | None) -> ColumnElement[bool] | None:
        """The predicate limiting ``resource``'s rows (None: no limit), on its grid-code column."""

    def rules(self, type_name: str, grid_code: str | None) -> FieldRules:
        """The field rules for a row of ``type_name`` in ``grid_code`` (None: not placed)."""

    def filterable(self, type_name: str, field_name: str, value_tier: int | None = None) -> bool:
        """Whether lists of ``type_name`` may be filtered on ``field_name`` (ALLOW everywhere;
        for a field with per-value tiers, also every value of ``value_tier`` shown)."""

    def needs_purpose(self, type_name: str, field_name: str) -> bool:
        """Whether a filter on ``field_name`` that is not :meth:`filterable` would be with a
        declared purpose the caller's access covers (the refusal is PURPOSE_REQUIRED)."""

    def area_splits(self, resource: str, area: str) -> bool:
        """Whether ``resource``'s rows under ``area`` are some but not all of those the plan
        shows: if not, an area filter reveals nothing and needs no ``gridCode``."""


def _all_allowed() -> dict[str, FieldRules]:
    return {
        type_name: FieldRules(type_name, dict.fromkeys(fields, Decision.ALLOW), {})
        for type_name, fields in FIELDS.items()
    }


class OpenPlan:
    """Everything allowed, no row limit (never the plan of a request to the API)."""

    _RULES = _all_allowed()

    def rows(self, resource: str, column: ColumnElement[str] | None) -> ColumnElement[bool] | None:
        return None

    def rules(self, type_name: str, grid_code: str | None) -> FieldRules:
        return self._RULES[type_name]

    def filterable(self, type_name: str, field_name: str, value_tier: int | None = None) -> bool:
        return True

    def needs_purpose(self, type_name: str, field_name: str) -> bool:
        return False

    def area_splits(self, resource: str, area: str) -> bool:
        return True


class NothingPlan:
    """No row, no field: what a request may see before its principal's plan is known."""

    _RULES = {type_name: FieldRules(type_name, {}, {}) for type_name in FIELDS}

    def rows(self, resource: str, column: ColumnElement[str] | None) -> ColumnElement[bool] | None:
        return false()

    def rules(self, type_name: str, grid_code: str | None) -> FieldRules:
        return self._RULES[type_name]

    def filterable(self, type_name: str, field_name: str, value_tier: int | None = None) -> bool:
        return False

    def needs_purpose(self, type_name: str, field_name: str) -> bool:
        return False

    def area_splits(self, resource: str, area: str) -> bool:
        return False  # no rows to split


NOTHING = NothingPlan()
