"""The GraphQL enums: the domain's vocabularies from ``store.models``, exposed as they are.

Rows carry the stored values (``"residential"``); GraphQL shows the names (``RESIDENTIAL``).
"""

from __future__ import annotations

import strawberry

from events.states import Action as EventAction
from store.models import (
    AreaLevel,
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

for _enum in (
    AreaLevel,
    CareTag,
    EntityStatus,
    EntityType,
    EventSource,
    EventStatus,
    Gender,
    HouseUse,
    Registration,
    ResidenceKind,
):
    strawberry.enum(_enum)
strawberry.enum(EventAction, name="EventAction", description="A step of an event's handling.")

__all__ = [
    "AreaLevel",
    "CareTag",
    "EntityStatus",
    "EntityType",
    "EventAction",
    "EventSource",
    "EventStatus",
    "Gender",
    "HouseUse",
    "Registration",
    "ResidenceKind",
]
