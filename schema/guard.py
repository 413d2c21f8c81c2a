"""Applying an access plan's field rules where rows become GraphQL objects.

A refused plain field holds a sentinel instead of its value; the schema's default resolver
(:func:`read_field`) raises the sentinel's error, which graphql-core places at the field's path:
null plus ``FORBIDDEN`` or ``PURPOSE_REQUIRED``. A masked field holds its value wrapped, and is
masked when it is read: a grid worker's person rows carry three masked fields (ID number, phone,
care tags) but a page usually shows one of them, so masking them all up front spent more than
the rest of authorization on a 50-row page. Fields with resolvers (links, lists, computed
values) call :func:`allowed` first.
So a field a principal may read costs one identity check, and authorization never runs per
row per field in Python beyond that.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from typing import Any

from policies.field_rules import Decision, FieldRules
from policies.fields import CARE_TAG_TIERS, FIELDS, Mask
from policies.masking import mask
from resolvers.answer import note_masked
from store.errors import Forbidden, GridhubError, PurposeRequired


class _Refusal:
    """Stands in for a value the caller may not see; raising is left to field resolution."""

    __slots__ = ("error",)

    def __init__(self, error: Callable[[], GridhubError]) -> None:
        self.error = error

    def __repr__(self) -> str:
        return "<refused>"


def _forbidden() -> GridhubError:
    return Forbidden("Not allowed to read this field")


def _purpose() -> GridhubError:
    return PurposeRequired(
        "This field is served only for a declared purpose (X-Access-Purpose) that a grant covers"
    )


DENIED = _Refusal(_forbidden)
NEEDS_PURPOSE = _Refusal(_purpose)


class _Masked:
    """A value shown only in its masked form, masked when (and each time) it is read; reading
    it notes the mask in the request's answer when the masked form hides something (the audit
    entry records the masks applied)."""

    __slots__ = ("key", "rule", "value")

    def __init__(self, key: tuple[str, str], rule: Mask, value: Any) -> None:
        self.key = key
        self.rule = rule
        self.value = value

    def shown(self) -> Any:
        shown = mask(self.rule, self.value)
        if shown != self.value:  # an empty list masks to itself: nothing was hidden
            note_masked(*self.key)
        return shown

    def __repr__(self) -> str:
        return "<masked>"


def read_field(source: Any, python_name: str) -> Any:
    """The schema's default resolver for plain fields: the attribute, its masked form, or the
    refusal's error."""
    value = getattr(source, python_name)
    kind = type(value)
    if kind is _Masked:
        return value.shown()
    if kind is _Refusal:
        raise value.error()
    if kind is _Cut:
        note_masked(*value.key)
        return value.value
    return value


@cache
def python_name(graphql_name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", graphql_name).lower()


def _actions(rules: FieldRules) -> tuple[tuple[str, str, Mask | _Refusal], ...]:
    """Per refused field, its attribute name, its GraphQL name and what to put there: a mask
    rule, or a refusal; worked out once per rules object (one per type and area in a plan)."""
    found = rules.memo.get("guard")
    if found is None:
        found = rules.memo["guard"] = tuple(
            (
                python_name(field_name),
                field_name,
                FIELDS[rules.type_name][field_name].mask
                if decision is Decision.MASK
                else NEEDS_PURPOSE
                if decision is Decision.PURPOSE_REQUIRED
                else DENIED,
            )
            for field_name, decision in rules.refused
        )
    return found  # type: ignore[return-value]


def apply(rules: FieldRules, values: dict[str, Any]) -> dict[str, Any]:
    """Replace, in the keyword arguments of a new object, the values its rules refuse."""
    for key, field_name, action in _actions(rules):
        if key not in values:
            continue  # a field with a resolver: it checks :func:`allowed` itself
        if type(action) is _Refusal:
            values[key] = action
        elif values[key] is not None:
            value = values[key]
            if type(value) is _Cut:  # care tags cut to the reach, and masked on top
                value = value.value
            values[key] = _Masked((rules.type_name, field_name), action, value)  # type: ignore[arg-type]
    return values


class _Cut:
    """A list shown without the items beyond the caller's reach (care tags): noted as masked
    when read, like a masked value."""

    __slots__ = ("key", "value")

    def __init__(self, key: tuple[str, str], value: Any) -> None:
        self.key = key
        self.value = value

    def __repr__(self) -> str:
        return "<cut>"


def visible_care_tags(rules: FieldRules, tags: list[str]) -> Any:
    """Care tags up to the reach of the rules that allow them (core tags need tier 4); a list
    that lost some is shown cut, and noted as masked when it is read."""
    reach = rules.reach.get("careTags")
    if reach is None:
        return tags
    shown = [tag for tag in tags if CARE_TAG_TIERS[tag] <= reach]
    return shown if len(shown) == len(tags) else _Cut((rules.type_name, "careTags"), shown)


def allowed(rules: FieldRules, field_name: str) -> bool:
    """For fields with resolvers: True to resolve, False to answer null (masked: no masked
    form of a link or a computed value), or raise the refusal's error."""
    decision = rules.of(field_name)
    if decision is Decision.ALLOW:
        return True
    if decision is Decision.MASK:
        if FIELDS[rules.type_name][field_name].mask is Mask.NONE:
            return True
        note_masked(rules.type_name, field_name)
        return False
    raise (_purpose() if decision is Decision.PURPOSE_REQUIRED else _forbidden())
