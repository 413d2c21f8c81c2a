"""SQLAlchemy models, one module per domain; importing this package registers every table."""

from store.models.access import (
    CasbinRule,
    OAuthClient,
    PolicyVersion,
    Principal,
    PrincipalGrid,
    PrincipalKind,
)
from store.models.addresses import Address, AddressAlias
from store.models.areas import CODE_LENGTH, LEVEL_OF_LENGTH, AreaLevel, Grid
from store.models.audit import (
    AuditCheckpoint,
    AuditEntry,
    AuditFieldRead,
    AuditIndexMark,
    AuditPersonRead,
    AuditRetention,
)
from store.models.base import Base, UTCDateTime
from store.models.catalog import CatalogField, CatalogResource, CatalogVersion
from store.models.entities import Entity, EntityStatus, EntityType
from store.models.events import Event, EventAction, EventSource, EventStatus
from store.models.feed_findings import AddressCandidate, FeedConflict
from store.models.feeds import FeedDeclaration, FeedRun
from store.models.grants import AccessRequest, Grant
from store.models.houses import House, HouseUse, Room
from store.models.operations import PersistedOperation
from store.models.people import (
    CareTag,
    Gender,
    Person,
    Registration,
    ResidenceKind,
    decode_care_tags,
    encode_care_tags,
)
from store.models.provenance import SHARED_TARGETS, RemovedRow, RowChange, Tracked
from store.models.reference import Department, Matter
from store.models.tasks import (
    OPEN_STATUSES,
    Correction,
    CorrectionKind,
    CorrectionStatus,
    Task,
    TaskKind,
    TaskStatus,
    TaskStep,
)
from store.models.views import View, ViewVersion

__all__ = [
    "AddressCandidate",
    "FeedConflict",
    "FeedDeclaration",
    "FeedRun",
    "OPEN_STATUSES",
    "Correction",
    "CorrectionKind",
    "CorrectionStatus",
    "Task",
    "TaskKind",
    "TaskStatus",
    "TaskStep",
    "SHARED_TARGETS",
    "RemovedRow",
    "RowChange",
    "Tracked",
    "Address",
    "AddressAlias",
    "CODE_LENGTH",
    "LEVEL_OF_LENGTH",
    "AreaLevel",
    "AccessRequest",
    "AuditCheckpoint",
    "AuditEntry",
    "AuditFieldRead",
    "AuditIndexMark",
    "AuditPersonRead",
    "AuditRetention",
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
    "EventAction",
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
