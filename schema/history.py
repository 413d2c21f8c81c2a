"""``recordHistory(id)``: what changed on a shared record, field by field, cut by the plan.

Every change to a shared row — a feed run, an accepted correction — is kept in ``row_history``
with its old and new value. A caller reads a record's history only if its plan shows the
record (the row is read through the same loader as ``node(id)``, with the plan's predicate),
and each change only as the plan decides the field there: ALLOW shows the values, MASK shows
them masked as the field itself would be (a field that withholds its masked form shows no
values), and a change to a field the caller may not read is left out.
"""

from __future__ import annotations

from datetime import datetime

import strawberry
from sqlalchemy import select

from policies.decision import Decision
from policies.fields import FIELDS, Mask
from policies.masking import mask
from resolvers.ids import from_global_id
from schema.base import Info
from store.errors import BadUserInput
from store.models import RowChange

ROW_HISTORY = RowChange.__table__
#: The node types with a history, their loader, and the target ``row_history`` names them by.
_RECORDS = {
    "Person": ("person", "people"),
    "House": ("house", "houses"),
    "Entity": ("entity", "entities"),
}
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
    size = MOST if first is None else first
    if not 0 <= size <= MOST:
        raise BadUserInput(f"`first` is 0 to {MOST}", field="first")
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
