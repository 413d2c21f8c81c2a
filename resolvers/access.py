"""What the resolvers need from an access plan, and the open plan the API runs on today.

The resolvers never decide anything: they ask the request's plan for a row predicate to put in
every statement's WHERE clause and, per row, for the field rules to apply when the row becomes
an object. ``policies`` compiles real plans; :class:`OpenPlan` allows everything and is what the
API serves until requests carry a principal (and the benchmark's all-allowing baseline after).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import ColumnElement

from catalog.fields import FIELDS
from policies.decision import Decision

__all__ = ["Decision", "FieldRules", "OpenPlan", "Plan"]


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
    def rows(self, resource: str, column: ColumnElement[str]) -> ColumnElement[bool] | None:
        """The predicate limiting ``resource``'s rows (None: no limit), on its grid-code column."""

    def rules(self, type_name: str, grid_code: str | None) -> FieldRules:
        """The field rules for a row of ``type_name`` in ``grid_code`` (None: not placed)."""

    def filterable(self, type_name: str, field_name: str) -> bool:
        """Whether lists of ``type_name`` may be filtered on ``field_name`` (ALLOW everywhere)."""


def _all_allowed() -> dict[str, FieldRules]:
    return {
        type_name: FieldRules(type_name, dict.fromkeys(fields, Decision.ALLOW), {})
        for type_name, fields in FIELDS.items()
    }


class OpenPlan:
    """Everything allowed, no row limit: no principal is asked for yet."""

    _RULES = _all_allowed()

    def rows(self, resource: str, column: ColumnElement[str]) -> ColumnElement[bool] | None:
        return None

    def rules(self, type_name: str, grid_code: str | None) -> FieldRules:
        return self._RULES[type_name]

    def filterable(self, type_name: str, field_name: str) -> bool:
        return True
