"""House-style masks as SQL expressions: the database masks a value where the field-by-field
path would call ``policies.masking`` on it, character for character the same.

Each mask keeps some leading and trailing characters and replaces the rest with ``*`` one for
one; a value too short to hide anything is hidden whole (``policies.masking._keep``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, String, case, func, literal, null

from policies.fields import Mask
from policies.masking import COMPOUND_SURNAMES, STAR

Expr = ColumnElement[Any]

#: Longer than any value a mask applies to (names, ID numbers, phones).
_STARS = STAR * 256


def _stars(count: Expr) -> Expr:
    return func.substr(literal(_STARS, String), 1, count)


def _keep(value: Expr, head: Expr | int, tail: int) -> Expr:
    length = func.length(value)
    hidden = length - head - tail
    kept_tail: Expr = func.substr(value, length - tail + 1) if tail else literal("", String)
    return case(
        (hidden <= 0, _stars(length)),
        else_=func.substr(value, 1, head).concat(_stars(hidden)).concat(kept_tail),
    )


def _surname_length(value: Expr) -> Expr:
    compound = func.substr(value, 1, 2).in_(sorted(COMPOUND_SURNAMES))
    return case(((func.length(value) > 2) & compound, 2), else_=1)


#: Masks the compiler builds in SQL; a field masked otherwise goes the field-by-field way.
SUPPORTED = frozenset({Mask.NONE, Mask.WITHHOLD, Mask.ID_NUMBER, Mask.PHONE, Mask.NAME})


def masked(rule: Mask, value: Expr) -> Expr:
    """The masked form of the value under ``rule``, in SQL (NULL stays NULL)."""
    if rule is Mask.NONE:
        return value
    if rule is Mask.WITHHOLD:
        return null()
    if rule is Mask.ID_NUMBER:
        return _keep(value, 6, 4)
    if rule is Mask.PHONE:
        return _keep(value, 3, 4)
    if rule is Mask.NAME:
        return _keep(value, _surname_length(value), 0)
    raise ValueError(f"no SQL mask for {rule!r}")
