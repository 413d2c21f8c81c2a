"""A catalogue resource's definition, and the rules every definition must keep.

A definition is what a data officer writes — in a catalogue file or through the API — and what
each version records: code, name, summary, owning department, the GraphQL type, the fields
(name and description), the sharing attribute with its condition, the update frequency. It
never holds a tier or a mask: those are read from each field's one declaration
(:func:`policies.fields.declaration`), so the catalogue can not drift from what the access plans
enforce.

The same checks run for files and for the API, and report every problem at once (a data
officer fixing a file should not have to run sync once per mistake).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

from catalog.columns import STORED
from policies.fields import FIELDS, Tier, declaration
from store.errors import BadUserInput
from store.models.catalog import CODE_LENGTH, DESCRIPTION_LENGTH, NAME_LENGTH


class Sharing(enum.StrEnum):
    """The sharing attribute (共享属性) of a resource."""

    UNCONDITIONAL = "unconditional"  # 无条件共享: granted on request
    CONDITIONAL = "conditional"  # 有条件共享: granted after review, on the stated condition
    NOT_SHARED = "not_shared"  # 不予共享: refused, on the stated legal basis


class UpdateFrequency(enum.StrEnum):
    """How often the owning department refreshes the data (更新周期)."""

    REAL_TIME = "real_time"
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    YEARLY = "yearly"
    IRREGULAR = "irregular"


class Origin(enum.StrEnum):
    """Where a resource is kept: a catalogue file (changed only there) or the API."""

    FILE = "file"
    API = "api"


#: ``RK-JC-001``: upper-case letters and digits in two or more groups joined by hyphens.
CODE_PATTERN = re.compile(r"[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)+")
#: The highest tier an unconditional resource may hold: sensitive data is never shared
#: without a review.
UNCONDITIONAL_MAX_TIER = Tier.INTERNAL


@dataclass(frozen=True, slots=True)
class FieldEntry:
    """A field of the resource's type, and what it means in the owner's words."""

    name: str
    description: str
    #: The department authoritative for the field's values ("one data, one source"), when it
    #: is not the resource's owner; a feed of another department can not overwrite them.
    authority: str | None = None


def _clean(text: str | None) -> str:
    return (text or "").strip()


@dataclass(frozen=True, slots=True)
class Definition:
    """A resource as a data officer defines it; strings are stripped, an empty condition is
    None, so two definitions that read the same compare equal."""

    code: str
    name: str
    summary: str
    department: str
    graphql_type: str
    fields: tuple[FieldEntry, ...]
    sharing: Sharing
    sharing_condition: str | None
    update_frequency: UpdateFrequency

    def __post_init__(self) -> None:
        for name in ("code", "name", "summary", "department", "graphql_type"):
            object.__setattr__(self, name, _clean(getattr(self, name)))
        object.__setattr__(self, "sharing_condition", _clean(self.sharing_condition) or None)
        object.__setattr__(
            self,
            "fields",
            tuple(
                FieldEntry(_clean(f.name), _clean(f.description), _clean(f.authority) or None)
                for f in self.fields
            ),
        )

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    def snapshot(self) -> dict[str, Any]:
        """The definition as JSON, in the API's names and enum spellings (a version's body)."""
        return {
            "code": self.code,
            "name": self.name,
            "summary": self.summary,
            "department": self.department,
            "graphqlType": self.graphql_type,
            "fields": [_field_snapshot(f) for f in self.fields],
            "sharing": self.sharing.name,
            "sharingCondition": self.sharing_condition,
            "updateFrequency": self.update_frequency.name,
        }


def _field_snapshot(entry: FieldEntry) -> dict[str, str]:
    """A field in a version's body; ``authority`` only where one is named (older versions have
    none, and read the same)."""
    found = {"name": entry.name, "description": entry.description}
    if entry.authority is not None:
        found["authority"] = entry.authority
    return found


def field_tiers(type_name: str, field_name: str) -> frozenset[Tier]:
    """Every tier a field's values can have: its own, and those of its values (care tags run
    from internal to core)."""
    spec = declaration(type_name, field_name)
    return frozenset({spec.tier, *spec.value_tiers.values()})


def highest_tier(type_name: str, field_names: Iterable[str]) -> Tier:
    """The classification of a set of fields as a whole: that of its most sensitive value."""
    return max(
        (tier for name in field_names for tier in field_tiers(type_name, name)),
        default=Tier.PUBLIC,
    )


def cataloguable_types() -> tuple[str, ...]:
    """GraphQL types a resource can map to: the declared ones that are stored."""
    return tuple(sorted(name for name in FIELDS if name in STORED))


def _field_problems(definition: Definition) -> list[str]:
    type_name = definition.graphql_type
    if type_name not in FIELDS or type_name not in STORED:
        return [
            f"`{type_name}` is not a type the catalogue can hold; choose one of "
            + ", ".join(cataloguable_types())
        ]
    problems = []
    if not definition.fields:
        problems.append("a resource lists at least one field")
    seen: set[str] = set()
    for entry in definition.fields:
        if entry.name in seen:
            problems.append(f"field `{entry.name}` is listed twice")
        seen.add(entry.name)
        if entry.name not in FIELDS[type_name]:
            problems.append(f"{type_name} has no field `{entry.name}`")
        elif entry.name not in STORED[type_name].items:
            problems.append(
                f"{type_name}.{entry.name} is a list of other rows, not a data item: "
                "it is catalogued with its own resource"
            )
        if not entry.description:
            problems.append(f"field `{entry.name}` needs a description")
        elif len(entry.description) > DESCRIPTION_LENGTH:
            problems.append(
                f"the description of `{entry.name}` is longer than {DESCRIPTION_LENGTH} characters"
            )
    return problems


def _sharing_problems(definition: Definition) -> list[str]:
    problems = []
    condition = definition.sharing_condition
    if definition.sharing is Sharing.CONDITIONAL and condition is None:
        problems.append("a conditional resource states its sharing condition in words")
    elif definition.sharing is Sharing.NOT_SHARED and condition is None:
        problems.append("a resource that is not shared states the legal basis as its condition")
    elif definition.sharing is Sharing.UNCONDITIONAL and condition is not None:
        problems.append("an unconditional resource has no sharing condition")
    if definition.sharing is Sharing.UNCONDITIONAL and definition.graphql_type in STORED:
        type_name = definition.graphql_type
        too_high = [
            f"{name} (tier {max(field_tiers(type_name, name))})"
            for name in definition.field_names
            if name in STORED[type_name].items
            and max(field_tiers(type_name, name)) > UNCONDITIONAL_MAX_TIER
        ]
        if too_high:
            problems.append(
                "an unconditional resource holds only fields of tier "
                f"{int(UNCONDITIONAL_MAX_TIER)} or below; share these conditionally: "
                + ", ".join(too_high)
            )
    return problems


def problems(definition: Definition, departments: Collection[str]) -> list[str]:
    """Everything wrong with ``definition``, given the district's department codes."""
    found = []
    code = definition.code
    if len(code) > CODE_LENGTH or not CODE_PATTERN.fullmatch(code):
        found.append(
            f"code {code!r} is not a resource code: upper-case letters and digits in groups "
            f"joined by hyphens (RK-JC-001), at most {CODE_LENGTH} characters"
        )
    if not definition.name:
        found.append("a resource needs a name")
    elif len(definition.name) > NAME_LENGTH:
        found.append(f"the name is longer than {NAME_LENGTH} characters")
    if not definition.summary:
        found.append("a resource needs a summary")
    if definition.department not in departments:
        found.append(f"there is no department `{definition.department}`")
    for entry in definition.fields:
        if entry.authority is not None and entry.authority not in departments:
            found.append(f"field `{entry.name}`: there is no department `{entry.authority}`")
    return found + _field_problems(definition) + _sharing_problems(definition)


def check(definition: Definition, departments: Collection[str]) -> None:
    """Raise :class:`BadUserInput` listing every problem of ``definition`` (if it has any)."""
    found = problems(definition, departments)
    if found:
        raise BadUserInput(
            f"Resource {definition.code or '(no code)'}: " + "; ".join(found), problems=found
        )
