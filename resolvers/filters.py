"""List filters: GraphQL filter inputs frozen into hashable keys, then turned into SQL clauses.

Freezing lets DataLoaders group identical nested requests; building the clauses from the frozen
form keeps one code path for root lists and nested connections.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, or_, select

from addresses.standard import searchable
from policies import row_scope as scoping
from policies.areas import under_area
from policies.field_rules import Plan
from policies.fields import CARE_TAG_TIERS
from resolvers.resources import ENTITIES, HOUSES, Resource
from store.errors import BadUserInput, Forbidden, PurposeRequired
from store.models import Address, encode_care_tags

#: A filter as a sorted tuple of (field, value) pairs with the unset fields left out.
Filter = tuple[tuple[str, Any], ...]
NO_FILTER: Filter = ()


def freeze(filter_input: object | None) -> Filter:
    """Freeze a filter input (a dataclass) into a hashable, order-independent key."""
    if filter_input is None:
        return NO_FILTER
    if not dataclasses.is_dataclass(filter_input):
        raise TypeError(f"a filter input is a dataclass, not {type(filter_input).__name__}")
    pairs = []
    for field in dataclasses.fields(filter_input):
        value = getattr(filter_input, field.name)
        if value is None:
            continue
        if isinstance(value, enum.Enum):
            value = value.value
        pairs.append((field.name, value))
    return tuple(sorted(pairs))


def years_before(day: date, years: int) -> date:
    """The same calendar day ``years`` earlier (29 February falls back to the 28th)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def age_on(birth_date: date, today: date) -> int:
    """Age in whole years; agrees with the ``minAge``/``maxAge`` filters on every day."""
    birthday_passed = (today.month, today.day) >= (birth_date.month, birth_date.day)
    return today.year - birth_date.year - (0 if birthday_passed else 1)


def graphql_name(python_name: str) -> str:
    """A filter field's name as clients write it (``reported_from`` → ``reportedFrom``)."""
    head, *rest = python_name.split("_")
    return head + "".join(part.title() for part in rest)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


#: Builds one clause from the table, the filter value and the request's clock.
Clause = Callable[[Table, Any, datetime], ColumnElement[bool]]


def _equals(column: str) -> Clause:
    return lambda t, v, _: t.c[column] == v


def _at_least(column: str) -> Clause:
    return lambda t, v, _: t.c[column] >= v


def _at_most(column: str) -> Clause:
    return lambda t, v, _: t.c[column] <= v


def _before(column: str) -> Clause:
    return lambda t, v, _: t.c[column] < v


def _contains(column: str) -> Clause:
    return lambda t, v, _: t.c[column].like(f"%{_escape_like(v)}%", escape="\\")


def _address_search(t: Table, text: str, _: datetime) -> ColumnElement[bool]:
    """Houses whose standard address, normalised without its prefix, contains ``text`` so."""
    key = searchable(text)
    if not key:
        raise BadUserInput("`addressSearch` has nothing to search for", field="addressSearch")
    addresses = Address.__table__
    return t.c.code.in_(
        select(addresses.c.house_code).where(
            addresses.c.room_code.is_(None),
            addresses.c.normalised.contains(key, autoescape=True),
        )
    )


def _min_age(t: Table, years: int, now: datetime) -> ColumnElement[bool]:
    if years < 0:
        raise BadUserInput("`minAge` must not be negative")
    return t.c.birth_date <= years_before(now.date(), years)


def _max_age(t: Table, years: int, now: datetime) -> ColumnElement[bool]:
    if years < 0:
        raise BadUserInput("`maxAge` must not be negative")
    return t.c.birth_date > years_before(now.date(), years + 1)


def _care_tag(t: Table, tag: str, _: datetime) -> ColumnElement[bool]:
    return t.c.care_tags.like(f"%{encode_care_tags([tag])}%")


#: Statuses after which an event no longer needs anyone's attention.
FINISHED_STATUSES = ("resolved", "closed")


def _open(t: Table, is_open: bool, _: datetime) -> ColumnElement[bool]:
    finished = t.c.status.in_(FINISHED_STATUSES)
    return ~finished if is_open else finished


def _overdue(t: Table, is_overdue: bool, now: datetime) -> ColumnElement[bool]:
    """The time limit runs until the event is closed (办结): see :func:`is_overdue`."""
    # Both branches are NULL-free, so that NOT(late) holds exactly for the on-time events.
    late = or_(
        and_(t.c.closed_at.is_(None), t.c.deadline < now),
        and_(t.c.closed_at.is_not(None), t.c.closed_at > t.c.deadline),
    )
    return late if is_overdue else ~late


def is_overdue(deadline: datetime, closed_at: datetime | None, now: datetime) -> bool:
    """Closed after its deadline, or not closed and past it (resolved-but-unclosed counts)."""
    return (closed_at or now) > deadline


def _changed_since(t: Table, since: datetime, _: datetime) -> ColumnElement[bool]:
    """Rows changed at or after ``since``, as the keys the ``updated_at`` index finds. Written
    as a range on ``updated_at`` alone, SQLite walks the whole table in key order to spare the
    page's sort: for an app that syncs often (few rows changed) that reads every row to find
    none (``tests/resolvers/test_changed_since.py`` holds both back ends to the index)."""
    (key,) = t.primary_key.columns
    return key.in_(select(key).where(t.c.updated_at >= since))


#: ``changedSince`` on a root list (not a filter field, but checked and frozen like one): rows
#: changed at or after the time, found through the ``updated_at`` index.
CHANGED_SINCE = "changed_since"

_COMMON: dict[str, Clause] = {
    "area_code": lambda t, v, _: under_area(t.c.grid_code, v),
    "house_code": _equals("house_code"),
    CHANGED_SINCE: _changed_since,
}

CLAUSES: dict[str, dict[str, Clause]] = {
    "houses": {
        **_COMMON,
        "use": _equals("use"),
        "min_floors": _at_least("floors"),
        "max_floors": _at_most("floors"),
        "address_contains": _contains("address"),
        "address_search": _address_search,
    },
    "people": {
        **_COMMON,
        "gender": _equals("gender"),
        "registration": _equals("registration"),
        "residence_kind": _equals("residence_kind"),
        "employer_code": _equals("employer_code"),
        "care_tag": _care_tag,
        "min_age": _min_age,
        "max_age": _max_age,
        "born_from": _at_least("birth_date"),
        "born_to": _at_most("birth_date"),
    },
    "entities": {
        **_COMMON,
        "type": _equals("type"),
        "status": _equals("status"),
        "industry": _equals("industry"),
        "name_contains": _contains("name"),
    },
    "events": {
        **_COMMON,
        "status": _equals("status"),
        "source": _equals("source"),
        "category_code": _equals("category_code"),
        "handling_department_code": _equals("handling_department_code"),
        "reported_from": _at_least("reported_at"),
        "reported_before": _before("reported_at"),
        "due_before": _before("deadline"),
        "open": _open,
        "overdue": _overdue,
    },
}


#: The resource's GraphQL type, and the field each filter reads: filtering on a field the plan
#: does not ALLOW would let a masked or denied value be recovered by bisection.
TYPE_OF_RESOURCE = {"houses": "House", "people": "Person", "entities": "Entity", "events": "Event"}
FILTERED_FIELDS: dict[str, dict[str, tuple[str, ...]]] = {
    "houses": {
        "area_code": ("gridCode",),
        "changed_since": ("updatedAt",),
        "use": ("use",),
        "min_floors": ("floors",),
        "max_floors": ("floors",),
        "address_contains": ("address",),
        "address_search": ("address",),
    },
    "people": {
        "area_code": ("gridCode",),
        "changed_since": ("updatedAt",),
        "house_code": ("house",),
        "gender": ("gender",),
        "registration": ("registration",),
        "residence_kind": ("residenceKind",),
        "employer_code": ("employer",),
        "care_tag": ("careTags",),
        # an age boundary moved day by day finds the birthday: ages filter on the birth date
        "min_age": ("birthDate",),
        "max_age": ("birthDate",),
        "born_from": ("birthDate",),
        "born_to": ("birthDate",),
    },
    "entities": {
        "area_code": ("gridCode",),
        "changed_since": ("updatedAt",),
        "house_code": ("house",),
        "type": ("type",),
        "status": ("status",),
        "industry": ("industry",),
        "name_contains": ("name",),
    },
    "events": {
        "area_code": ("gridCode",),
        "changed_since": ("updatedAt",),
        "house_code": ("house",),
        "status": ("status",),
        "open": ("status",),
        "overdue": ("deadline", "closedAt"),
        "source": ("source",),
        "category_code": ("categoryCode",),
        "handling_department_code": ("handlingDepartmentCode",),
        "reported_from": ("reportedAt",),
        "reported_before": ("reportedAt",),
        "due_before": ("deadline",),
    },
}


def with_changed_since(filter_key: Filter, changed_since: datetime | None) -> Filter:
    """The frozen filter with a list's ``changedSince`` argument added (when given)."""
    if changed_since is None:
        return filter_key
    return tuple(sorted((*filter_key, (CHANGED_SINCE, changed_since))))


def checked(plan: Plan, resource: Resource, filter_key: Filter) -> Filter:
    """The filter, if the plan ALLOWs every field it reads everywhere (or, for an area, the
    area keeps all the caller's rows or none of them); else, before any SQL runs,
    PURPOSE_REQUIRED when a covered purpose would allow it and FORBIDDEN otherwise."""
    type_name = TYPE_OF_RESOURCE.get(resource.name)
    for name, value in filter_key:
        value_tier = int(CARE_TAG_TIERS[value]) if name == "care_tag" else None
        for field_name in FILTERED_FIELDS[resource.name][name]:
            if type_name is None or plan.filterable(type_name, field_name, value_tier):
                continue
            if name == "area_code" and not plan.area_splits(resource.name, value):
                continue  # keeps all the caller's rows or none: tells nothing of gridCode
            if plan.needs_purpose(type_name, field_name):
                raise PurposeRequired(
                    f"Filtering on `{field_name}` needs a declared purpose that your access"
                    " covers (X-Access-Purpose)",
                    field=field_name,
                )
            raise Forbidden(f"Not allowed to filter on `{field_name}`", field=field_name)
    return filter_key


#: Filters on a link, and the resource the link points at: such a filter matches only where the
#: caller can see the row linked to, as the link itself answers null where they can not.
LINKED: dict[str, Resource] = {"employer_code": ENTITIES, "house_code": HOUSES}


def clauses(
    resource: Resource, filter_key: Filter, now: datetime, plan: Plan
) -> list[ColumnElement[bool]]:
    """The WHERE clauses of a frozen filter; an unknown filter field is a programming error.

    ``plan`` limits a filter on a link to the linked rows the caller may see: without it,
    ``employerCode`` set to an employer in another grid would confirm which of the caller's
    residents work there, although ``Person.employer`` answers null for them."""
    builders = CLAUSES.get(resource.name, _COMMON)
    result = []
    for name, value in filter_key:
        if isinstance(value, datetime) and value.tzinfo is None:
            raise BadUserInput(
                f"`{graphql_name(name)}` needs a time zone (e.g. 2026-01-01T00:00:00+08:00)",
                field=graphql_name(name),
            )
        result.append(builders[name](resource.table, value, now))
        target = LINKED.get(name)
        if target is not None:
            seen = scoping.row_scope(plan, "filters.linked", target.name, target.area)
            if seen:
                result.append(resource.table.c[name].in_(select(target.key).where(*seen)))
    return result
