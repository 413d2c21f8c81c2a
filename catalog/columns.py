"""Where each field a catalogue resource may list is stored: its table and column(s).

A catalogue field is a data item (数据项): a value each row holds. So a resource lists fields
of its GraphQL type that are stored in a column of the type's table — plain values, links
(``Person.house`` is ``people.house_code``) and values computed from one column (``Person.age``
from ``birth_date``). Lists of other rows (``House.residents``) are not data items: they are
rows of another resource, catalogued there. Types that are not stored (``GridStats``) have no
resource.

Statistics read this map to measure completeness; the definitions read it to refuse a field
that is not a data item. Tiers and masks are not here: they are the fields' declaration in
:mod:`policies.fields`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from sqlalchemy import Column, Table

from store.models import Base, Department, Entity, Event, Grid, House, Matter, Person, Room


@dataclass(frozen=True, slots=True)
class StoredType:
    """A GraphQL type's table, the column(s) behind each data item, and its time columns."""

    table: Table
    #: GraphQL field → the columns that hold it (a value is there when all of them are).
    items: Mapping[str, tuple[Column[Any], ...]]
    #: Data items whose newest value says when the rows last changed (empty: the rows carry
    #: no time of change, so the last update is unknown).
    changed_at: tuple[str, ...] = ()

    def column(self, field: str) -> Column[Any]:
        """The one column of a single-column data item (time columns are)."""
        (found,) = self.items[field]
        return found


def _stored(
    model: type[Base], items: Mapping[str, str | tuple[str, ...]], changed_at: tuple[str, ...] = ()
) -> StoredType:
    table = model.__table__
    return StoredType(
        table,
        MappingProxyType(
            {
                field: tuple(
                    table.c[name] for name in ((columns,) if isinstance(columns, str) else columns)
                )
                for field, columns in items.items()
            }
        ),
        changed_at,
    )


#: GraphQL type → how it is stored; a type not here can not be catalogued.
STORED: Mapping[str, StoredType] = MappingProxyType(
    {
        "Grid": _stored(
            Grid,
            {
                "id": "code",
                "code": "code",
                "name": "name",
                "level": "level",
                "geometry": "geometry",
                "parent": "parent_code",
            },
        ),
        "House": _stored(
            House,
            {
                "id": "code",
                "code": "code",
                "address": "address",
                "use": "use",
                "floors": "floors",
                "builtYear": "built_year",
                "gridCode": "grid_code",
                "location": ("lon", "lat"),
                "grid": "grid_code",
                "updatedAt": "updated_at",
                "sources": "source_feed",
            },
            changed_at=("updatedAt",),
        ),
        "Room": _stored(
            Room,
            {
                "code": "code",
                "number": "number",
                "floor": "floor",
                "areaM2": "area_m2",
                "updatedAt": "updated_at",
                "sources": "source_feed",
            },
            changed_at=("updatedAt",),
        ),
        "Person": _stored(
            Person,
            {
                "id": "id",
                "name": "name",
                "idNumber": "id_number",
                "phone": "phone",
                "gender": "gender",
                "birthDate": "birth_date",
                "age": "birth_date",
                "registration": "registration",
                "residenceKind": "residence_kind",
                "careTags": "care_tags",
                "gridCode": "grid_code",
                "grid": "grid_code",
                "house": "house_code",
                "room": "room_code",
                "employer": "employer_code",
                "updatedAt": "updated_at",
                "sources": "source_feed",
            },
            changed_at=("updatedAt",),
        ),
        "Entity": _stored(
            Entity,
            {
                "id": "credit_code",
                "creditCode": "credit_code",
                "name": "name",
                "type": "type",
                "industry": "industry",
                "status": "status",
                "establishedOn": "established_on",
                "registeredAddress": "registered_address",
                "gridCode": "grid_code",
                "grid": "grid_code",
                "house": "house_code",
                "legalRepresentative": "legal_representative_id",
                "updatedAt": "updated_at",
                "sources": "source_feed",
            },
            changed_at=("establishedOn", "updatedAt"),
        ),
        "Event": _stored(
            Event,
            {
                "id": "id",
                "source": "source",
                "categoryCode": "category_code",
                "category": "category_code",
                "description": "description",
                "status": "status",
                "reporter": "reporter",
                "gridCode": "grid_code",
                "grid": "grid_code",
                "house": "house_code",
                "location": ("lon", "lat"),
                "handlingDepartmentCode": "handling_department_code",
                "handlingDepartment": "handling_department_code",
                "reportedAt": "reported_at",
                "dispatchedAt": "dispatched_at",
                "closedAt": "closed_at",
                "deadline": "deadline",
                "overdue": "deadline",
                "occurredAt": "occurred_at",
                "acceptedAt": "accepted_at",
                "resolvedAt": "resolved_at",
                "onTime": "on_time",
                "supervisions": "supervision_count",
                "updatedAt": "updated_at",
                "sources": "source_feed",
            },
            changed_at=("reportedAt", "dispatchedAt", "closedAt", "updatedAt"),
        ),
        "Matter": _stored(
            Matter,
            {
                "code": "code",
                "name": "name",
                "departmentCode": "department_code",
                "department": "department_code",
                "timeLimitHours": "time_limit_hours",
                "level": "level",
            },
        ),
        "Department": _stored(
            Department, {"code": "code", "name": "name", "shortName": "short_name"}
        ),
    }
)
