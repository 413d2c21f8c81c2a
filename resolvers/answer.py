"""What one response actually holds, noted while it is built, for its audit entry.

An entry must name the decisions the plan *applied* and the people the response *returned*,
not what the document could have touched: a count (``people { totalCount }``) returns nobody, a
grid worker's statistics of their own grid are masked nowhere, although the plan masks the same
field in other areas. So the facts are noted where they happen:

- the executor notes every object of a recorded type that is completed into the response, with
  the fields selected on it (one set insertion per object, the selection worked out once);
- the guard notes each value it actually shows masked (a masked form, a masked link answered
  null, care tags cut to the caller's reach) — through :data:`ANSWER`, since a default resolver
  sees no context;
- refused fields are the errors ``FORBIDDEN`` / ``PURPOSE_REQUIRED`` at their paths, which the
  executor keeps with the field nodes they were raised at.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

#: The answer being built by the running request (set around its execution).
ANSWER: ContextVar[Answer | None] = ContextVar("gridhub_answer", default=None)


class Selection:
    """The (type, field) pairs selected on objects completed through one field group; hashed by
    identity, so noting one more object of it costs one set insertion."""

    __slots__ = ("fields",)

    def __init__(self, fields: frozenset[tuple[str, str]]) -> None:
        self.fields = fields


class Answer:
    """The facts of one response, filled while it is built."""

    __slots__ = ("masked", "refused_nodes", "selections")

    def __init__(self) -> None:
        self.selections: set[Selection] = set()
        #: (type, field) of values the guard showed masked.
        self.masked: set[tuple[str, str]] = set()
        #: Field nodes where a field was refused (FORBIDDEN, PURPOSE_REQUIRED).
        self.refused_nodes: list[Any] = []

    def fields(self) -> set[tuple[str, str]]:
        """Every (type, field) that appears in the response on some object."""
        found: set[tuple[str, str]] = set()
        for selection in self.selections:
            found |= selection.fields
        return found


def note_masked(type_name: str, field_name: str) -> None:
    """The guard showed a value of ``type_name.field_name`` masked."""
    answer = ANSWER.get()
    if answer is not None:
        answer.masked.add((type_name, field_name))
