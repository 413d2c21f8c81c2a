"""SQLAlchemy models, one module per domain; importing this package registers every table."""

from hub.models.areas import CODE_LENGTH, LEVEL_OF_LENGTH, AreaLevel, Grid
from hub.models.base import Base, UTCDateTime
from hub.models.entities import Entity
from hub.models.events import Event
from hub.models.houses import House, Room
from hub.models.people import CareTag, Person, decode_care_tags, encode_care_tags
from hub.models.reference import Department, Matter

__all__ = [
    "CODE_LENGTH",
    "LEVEL_OF_LENGTH",
    "AreaLevel",
    "Base",
    "CareTag",
    "Department",
    "Entity",
    "Event",
    "Grid",
    "House",
    "Matter",
    "Person",
    "Room",
    "UTCDateTime",
    "decode_care_tags",
    "encode_care_tags",
]
