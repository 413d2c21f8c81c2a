"""The refusals of the event workflow, each with a stable ``extensions.code``.

A wrong role is ``FORBIDDEN`` and bad input ``BAD_USER_INPUT`` (:mod:`store.errors`); what only
events refuse has a code of its own, so an app can tell the reporter what to do about it.
"""

from __future__ import annotations

from store.errors import GridhubError


class OutsideDistrict(GridhubError):
    """The point lies in no grid of the district."""

    code = "OUTSIDE_DISTRICT"


class OutsideArea(GridhubError):
    """The point lies in a grid of the district, but outside the reporter's own area."""

    code = "OUTSIDE_AREA"


class WrongState(GridhubError):
    """The action may not be taken on the event in its present status."""

    code = "WRONG_STATE"
