"""Filter inputs of the lists; every field narrows the list (they combine with AND)."""

from __future__ import annotations

from datetime import date, datetime

import strawberry

from store.models import (
    CareTag,
    EntityStatus,
    EntityType,
    EventSource,
    EventStatus,
    Gender,
    HouseUse,
    Registration,
    ResidenceKind,
)

AREA = "Rows under this area code, at any level (6, 9, 12 or 15 digits)."


@strawberry.input
class HouseFilter:
    area_code: str | None = strawberry.field(default=None, description=AREA)
    use: HouseUse | None = None
    min_floors: int | None = None
    max_floors: int | None = None
    address_contains: str | None = None
    address_search: str | None = strawberry.field(
        default=None,
        description="The address, normalised, contains this, normalised (`九巷` finds `9巷`; "
        "widths, synonyms and the district/street/community prefix do not matter).",
    )


@strawberry.input
class PersonFilter:
    area_code: str | None = strawberry.field(default=None, description=AREA)
    house_code: str | None = None
    gender: Gender | None = None
    registration: Registration | None = None
    residence_kind: ResidenceKind | None = None
    employer_code: str | None = strawberry.field(
        default=None, description="Credit code of the employer."
    )
    care_tag: CareTag | None = None
    min_age: int | None = strawberry.field(default=None, description="Age in whole years, today.")
    max_age: int | None = strawberry.field(default=None, description="Age in whole years, today.")
    born_from: date | None = strawberry.field(default=None, description="Born on or after.")
    born_to: date | None = strawberry.field(default=None, description="Born on or before.")


@strawberry.input
class EntityFilter:
    area_code: str | None = strawberry.field(default=None, description=AREA)
    house_code: str | None = None
    type: EntityType | None = None
    status: EntityStatus | None = None
    industry: str | None = None
    name_contains: str | None = None


@strawberry.input
class EventFilter:
    area_code: str | None = strawberry.field(default=None, description=AREA)
    house_code: str | None = None
    status: EventStatus | None = None
    open: bool | None = strawberry.field(
        default=None, description="True: not yet resolved or closed; false: resolved or closed."
    )
    overdue: bool | None = strawberry.field(
        default=None,
        description="True: closed after the deadline, or not closed and past it.",
    )
    source: EventSource | None = None
    category_code: str | None = strawberry.field(
        default=None, description="A matter-list code, see `matters`."
    )
    handling_department_code: str | None = None
    reported_from: datetime | None = strawberry.field(
        default=None, description="Reported at or after (with a time zone)."
    )
    reported_before: datetime | None = strawberry.field(
        default=None, description="Reported before (with a time zone)."
    )
    due_before: datetime | None = strawberry.field(
        default=None,
        description="Deadline before (with a time zone): with `handlingDepartmentCode` and "
        "`status`, a department's queue of what falls due first.",
    )
