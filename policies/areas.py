"""Area scoping: "everything under area code X" as an index range on ``grid_code``.

Codes are digit strings and a child's code starts with its parent's, so the rows under ``X``
are exactly those with ``X <= grid_code < X + 1`` (incremented as a number of the same width).
A range, unlike ``LIKE 'X%'``, uses a plain B-tree index on both back ends under any collation.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_
from sqlalchemy.sql.elements import ColumnElement as _Column

from store.errors import BadUserInput
from store.models import CODE_LENGTH, LEVEL_OF_LENGTH, AreaLevel


def check_area_code(code: str) -> str:
    """Refuse anything that cannot be an area code, so it never reaches SQL as a pattern."""
    if not code.isascii() or not code.isdigit() or len(code) not in LEVEL_OF_LENGTH:
        lengths = ", ".join(str(n) for n in CODE_LENGTH.values())
        raise BadUserInput(f"{code!r} is not an area code ({lengths} digits)")
    return code


def level_of(code: str) -> AreaLevel:
    return LEVEL_OF_LENGTH[len(check_area_code(code))]


def under_area(column: _Column[str], code: str) -> ColumnElement[bool]:
    """Rows whose grid code lies under ``code`` (the area itself included)."""
    check_area_code(code)
    if len(code) == CODE_LENGTH[AreaLevel.GRID]:
        return column == code
    upper = str(int(code) + 1).zfill(len(code))
    if len(upper) > len(code):  # "999…": nothing sorts after it at that width
        return column >= code
    return and_(column >= code, column < upper)
