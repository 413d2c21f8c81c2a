"""The one way a plan's row predicate enters a statement: :func:`row_scope`, called by name.

A plan's row predicate is all that stands between a caller and the rows outside their areas,
and a statement that forgets it leaks without any other sign: the answer still looks right.
So every statement that reads shared rows takes its predicate from :func:`row_scope`, and
names itself there (``site``, a string literal such as ``"loaders.grouped"``). The name is what
lets the tests hold every site to account: they find every call by reading the code, and for
each named site they remove that one predicate and require a permission probe to notice (see
``tests/permissions/test_row_scope_sites.py``). A statement that calls ``Plan.rows`` directly
instead is refused by the same test.

Callers reach it as ``row_scope.row_scope(...)`` (an attribute of this module at call time),
never through a name bound at import, so that a test can replace it for one site.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement

from policies.field_rules import Plan


def row_scope(
    plan: Plan, site: str, resource: str, column: ColumnElement[str] | None
) -> list[ColumnElement[bool]]:
    """The plan's predicate on ``resource``'s rows as WHERE clauses (none when it sets no
    limit); ``column`` is the rows' grid-code column (None: rows that belong to no place)."""
    predicate = plan.rows(resource, column)
    return [] if predicate is None else [predicate]
