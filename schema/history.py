"""``recordHistory(id)`` and the shared types' ``history``: what changed on a shared record,
field by field, cut by the plan.

Every change to a shared row — a feed run, an accepted correction — is kept in ``row_history``
with its old and new value. A caller reads a record's history only if its plan shows the
record (the row is read through the same loader as ``node(id)``, with the plan's predicate),
and each change only as the plan decides the field there: ALLOW shows the values, MASK shows
them masked as the field itself would be (a field that withholds its masked form shows no
values), and a change to a field the caller may not read is left out.

The same cut serves ``Person.history``, ``House.history``, ``Room.history`` and
``Entity.history`` (and ``Event.changes``: an event's ``history`` is its handling steps), read
for all the records of a page in one statement (``loaders.row_history``); the field itself is
declared (tier 2, withheld when masked), so a caller who may not read a record's history gets
null with the plan's refusal, as for any field. The compiled read path does not build it: a
root field that selects it is answered field by field.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import strawberry
from sqlalchemy import select

from policies.decision import Decision
from policies.field_rules import FieldRules
from policies.fields import FIELDS, Mask
from policies.masking import mask
from resolvers.ids import from_global_id
from schema import guard
from schema.base import Info
from store.errors import BadUserInput
from store.models import RowChange

ROW_HISTORY = RowChange.__table__
#: The node types with a history, their loader, and the target ``row_history`` names them by.
_RECORDS = {
    "Person": ("person", "people"),
    "House": ("house", "houses"),
    "Room": ("room", "rooms"),
    "Entity": ("entity", "entities"),
}
#: The table ``row_history`` names each type's changes by.
TARGET_OF_TYPE = {type_name: target for type_name, (_, target) in _RECORDS.items()}
TARGET_OF_TYPE["Event"] = "events"
#: The most changes one answer holds (newest first).
MOST = 200
HISTORY_TYPES = frozenset({"RecordChange"})


@strawberry.type(
    description="One field of a shared record changed: old and new value, by what, who and when."
)
class RecordChange:
    field: str = strawberry.field(description="The record's GraphQL field.")
    old_value: str | None = strawberry.field(description="Masked or null as your plan shows it.")
    new_value: str | None = strawberry.field(description="Masked or null as your plan shows it.")
    changed_at: datetime
    changed_by_kind: str = strawberry.field(description="`feed`, `correction` or `event`.")
    changed_by: str = strawberry.field(
        description="Who caused it: for a correction, the worker who verified it on site."
    )
    source_ref: str | None = strawberry.field(description="`correction:5`, a feed run.")
    department: str | None = strawberry.field(description="Whose data it is.")


def _shown(rule: Mask, decision: Decision, value: str | None) -> str | None:
    if value is None or decision is Decision.ALLOW:
        return value
    masked = mask(rule, value)
    return masked if isinstance(masked, str) else None


async def resolve_record_history(
    info: Info, id: strawberry.ID, first: int | None = None
) -> list[RecordChange] | None:
    """The record's changes the caller may see, newest first; null if the plan hides it."""
    type_name, key = from_global_id(str(id))
    if type_name not in _RECORDS:
        raise BadUserInput(f"{type_name} records keep no history here", field="id")
    size = check_size(first)
    loader, target = _RECORDS[type_name]
    row = await getattr(info.context.loaders, loader).load(key)
    if row is None:
        return None
    grid = row._mapping["grid_code"]
    decisions = info.context.plan.rules(type_name, grid).decisions
    connection = await info.context.connection()
    changes = await connection.execute(
        select(ROW_HISTORY)
        .where(ROW_HISTORY.c.target == target, ROW_HISTORY.c.row_key == str(key))
        .order_by(ROW_HISTORY.c.id.desc())
        .limit(size)
    )
    return shown_changes(type_name, decisions, changes)


def check_size(first: int | None) -> int:
    size = MOST if first is None else first
    if not 0 <= size <= MOST:
        raise BadUserInput(f"`first` is 0 to {MOST}", field="first")
    return size


async def record_changes(
    info: Info, rules: FieldRules, field_name: str, key: object, first: int | None
) -> list[RecordChange] | None:
    """A shown record's ``history`` (``field_name``): null if the plan does not let the
    caller read it there, else its changes as the plan shows each field, newest first."""
    size = check_size(first)
    if not guard.allowed(rules, field_name):
        return None
    rows = await info.context.loaders.row_history.load((TARGET_OF_TYPE[rules.type_name], str(key)))
    return shown_changes(rules.type_name, rules.decisions, rows)[:size]


def shown_changes(
    type_name: str, decisions: Mapping[str, Decision], changes: Iterable[Any]
) -> list[RecordChange]:
    """The changes as the plan's ``decisions`` (of the record's grid) show their fields."""
    shown: list[RecordChange] = []
    for change in changes:
        spec = FIELDS[type_name].get(change.field)
        decision = decisions.get(change.field, Decision.DENY)
        if spec is None or decision not in (Decision.ALLOW, Decision.MASK):
            continue
        shown.append(
            RecordChange(
                field=change.field,
                old_value=_shown(spec.mask, decision, change.old_value),
                new_value=_shown(spec.mask, decision, change.new_value),
                changed_at=change.changed_at,
                changed_by_kind=change.changed_by_kind,
                changed_by=change.changed_by,
                source_ref=change.source_ref,
                department=change.department,
            )
        )
    return shown
