"""SQLAlchemy models, one module per domain; importing this package registers every table."""

from hub.models.access import (
    CasbinRule,
    OAuthClient,
    PolicyVersion,
    Principal,
    PrincipalGrid,
    PrincipalKind,
)
from hub.models.areas import CODE_LENGTH, LEVEL_OF_LENGTH, AreaLevel, Grid
from hub.models.audit import (
    AuditCheckpoint,
    AuditEntry,
    AuditFieldRead,
    AuditIndexMark,
    AuditPersonRead,
)
from hub.models.base import Base, UTCDateTime
from hub.models.catalog import CatalogField, CatalogResource, CatalogVersion
from hub.models.entities import Entity, EntityStatus, EntityType
from hub.models.events import Event, EventSource, EventStatus
from hub.models.grants import AccessRequest, Grant
from hub.models.houses import House, HouseUse, Room
from hub.models.operations import PersistedOperation
from hub.models.people import (
    CareTag,
    Gender,
    Person,
    Registration,
    ResidenceKind,
    decode_care_tags,
    encode_care_tags,
)
from hub.models.reference import Department, Matter
from hub.models.views import View, ViewVersion

__all__ = [
    "CODE_LENGTH",
    "LEVEL_OF_LENGTH",
    "AreaLevel",
    "AccessRequest",
    "AuditCheckpoint",
    "AuditEntry",
    "AuditFieldRead",
    "AuditIndexMark",
    "AuditPersonRead",
    "Base",
    "PersistedOperation",
    "CareTag",
    "CasbinRule",
    "CatalogField",
    "CatalogResource",
    "CatalogVersion",
    "OAuthClient",
    "PolicyVersion",
    "Principal",
    "PrincipalGrid",
    "PrincipalKind",
    "Department",
    "Entity",
    "EntityStatus",
    "EntityType",
    "Event",
    "EventSource",
    "EventStatus",
    "Gender",
    "Grant",
    "Grid",
    "House",
    "HouseUse",
    "Matter",
    "Person",
    "Registration",
    "ResidenceKind",
    "Room",
    "UTCDateTime",
    "View",
    "ViewVersion",
    "decode_care_tags",
    "encode_care_tags",
]
