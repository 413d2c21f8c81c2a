"""The rule language's meaning written out plainly, and a check that an answer holds no row
outside it: shared by the permission property test and the row-scope site probes.

The oracle is written from the rule language's definition, not from the plan compiler, over
the district the session database holds (generation is deterministic).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement

from demo import Profile, generate
from policies.field_rules import Decision, FieldRules, Plan
from policies.fields import FIELDS, RESOURCE_OF_TYPE, Tier
from policies.rules import Act, Rule
from resolvers.ids import from_global_id
from tests.conftest import AS_OF, SEED

#: The district the session database holds, for the strategies and the oracle.
DISTRICT = generate(SEED, Profile.small(), AS_OF)

#: Every placed row of the district by type and key, as the API names them.
ROWS: dict[str, dict[Any, dict[str, Any]]] = {
    "Grid": {g["code"]: g for g in DISTRICT.grids},
    "Person": {p["id"]: p for p in DISTRICT.people},
    "House": {h["code"]: h for h in DISTRICT.houses},
    "Entity": {e["credit_code"]: e for e in DISTRICT.entities},
    "Event": {e["id"]: e for e in DISTRICT.events},
}

#: The reference types: rows of no place, shown whole or not at all.
UNPLACED = {"Department": "departments", "Matter": "matters"}


def grid_of(type_name: str, key: Any) -> str:
    """The grid code a row carries (an area carries its own code)."""
    row = ROWS[type_name][key]
    return str(row["code"] if type_name == "Grid" else row["grid_code"])


class Traced:
    """A plan as it is, except that every object's ``id`` is shown: a tracer for the tests.

    A row outside a plan has every field refused (no rule shows it, or a rule removes it
    whole), so a statement that forgot the row predicate would answer that row with FORBIDDEN
    errors, and a non-null ``id`` refused nulls the list it stands in: the row would leak as a
    changed answer, not as an object an oracle can name. With ids shown, the row shows itself.
    Rows are cut by the real plan's predicates; every other field keeps the real decision.
    """

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self._rules: dict[tuple[str, str | None], FieldRules] = {}

    def rows(self, resource: str, column: ColumnElement[str] | None) -> ColumnElement[bool] | None:
        return self.plan.rows(resource, column)

    def rules(self, type_name: str, grid_code: str | None) -> FieldRules:
        found = self._rules.get((type_name, grid_code))
        if found is None:
            real = self.plan.rules(type_name, grid_code)
            decisions = dict(real.decisions)
            if "id" in FIELDS[type_name]:
                decisions["id"] = Decision.ALLOW
            found = FieldRules(type_name, decisions, real.reach)
            self._rules[(type_name, grid_code)] = found
        return found

    def filterable(self, type_name: str, field_name: str, value_tier: int | None = None) -> bool:
        return self.plan.filterable(type_name, field_name, value_tier)

    def area_splits(self, resource: str, area: str) -> bool:
        return self.plan.area_splits(resource, area)

    def needs_purpose(self, type_name: str, field_name: str) -> bool:
        return self.plan.needs_purpose(type_name, field_name)


@dataclass(frozen=True)
class Drawn:
    rules: tuple[Rule, ...]
    areas: tuple[str, ...]
    purpose: str | None


class Oracle:
    """The rule language's meaning, written out plainly for one principal."""

    def __init__(self, drawn: Drawn) -> None:
        self.drawn = drawn

    def _covers(self, area: str, grid_code: str | None) -> bool:
        if area == "*":
            return True
        if grid_code is None:
            return False
        areas = self.drawn.areas if area == "own" else (area,)
        return any(grid_code.startswith(a) for a in areas)

    def _rules(self, resource: str, grid_code: str | None) -> list[Rule]:
        return [
            r
            for r in self.drawn.rules
            if r.resource in (resource, "*") and self._covers(r.area, grid_code)
        ]

    def visible(self, resource: str, grid_code: str | None) -> bool:
        rules = self._rules(resource, grid_code)
        removed = any(r.act is Act.DENY and r.fields == "*" for r in rules)
        return not removed and any(r.act is not Act.DENY for r in rules)

    def visible_rows(self, resource: str, under: str = "") -> int:
        """How many rows of ``resource`` under the area ``under`` the principal may see."""
        type_name = next(t for t, r in RESOURCE_OF_TYPE.items() if r == resource)
        return sum(
            1
            for key in ROWS[type_name]
            if grid_of(type_name, key).startswith(under)
            and self.visible(resource, grid_of(type_name, key))
        )

    @staticmethod
    def _selects(rule: Rule, type_name: str, field_name: str) -> bool:
        if rule.fields == "*":
            return True
        if rule.fields.startswith("tier:"):
            return FIELDS[type_name][field_name].tier <= int(rule.fields[5:])
        names = rule.fields.split("|")
        return field_name in names or f"{type_name}.{field_name}" in names

    def readable(self, type_name: str, field_name: str, grid_code: str | None) -> bool:
        """Whether the value itself may be shown (ALLOW)."""
        resource = RESOURCE_OF_TYPE[type_name]
        rules = [
            r for r in self._rules(resource, grid_code) if self._selects(r, type_name, field_name)
        ]
        if any(r.act is Act.DENY for r in rules) or not any(r.act is Act.READ for r in rules):
            return False
        return FIELDS[type_name][field_name].tier < Tier.SENSITIVE or self.drawn.purpose is not None


Found = tuple[str, Any, str | None, dict[str, Any]]


def objects(value: Any, grid: str | None = None) -> list[Found]:
    """Every object of an answer as (type, key, grid code, the object): objects with a global
    ``id``, and by ``__typename`` rooms (placed in the grid of the house or person they hang
    from, as a room lies in its house's grid; left out under an object whose id is refused)
    and reference rows (key None, no place)."""
    found: list[Found] = []
    if isinstance(value, dict):
        if value.get("id") is not None:
            type_name, key = from_global_id(value["id"])
            grid = grid_of(type_name, key)
            found.append((type_name, key, grid, value))
        elif "id" in value:  # an object whose id is refused: where its rooms lie is unknown
            grid = None
        elif value.get("__typename") == "Room" and grid is not None:
            found.append(("Room", None, grid, value))
        elif value.get("__typename") in UNPLACED:
            found.append((value["__typename"], None, None, value))
        for item in value.values():
            found.extend(objects(item, grid))
    elif isinstance(value, list):
        for item in value:
            found.extend(objects(item, grid))
    return found


def assert_no_row_outside(oracle: Oracle, body: dict[str, Any]) -> None:
    """No object of the answer is a row the principal may not see."""
    for type_name, key, grid, _ in objects(body.get("data")):
        resource = UNPLACED.get(type_name) or RESOURCE_OF_TYPE[type_name]
        assert oracle.visible(resource, grid), (type_name, key, grid)
