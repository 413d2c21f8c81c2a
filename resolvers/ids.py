"""Relay global ids: ``base64("TypeName:key")``, the form Relay clients expect."""

from __future__ import annotations

import base64
import binascii

from store.errors import BadUserInput
from store.models.base import MAX_KEY

#: Node types whose key is an integer; the others are keyed by a code string.
INTEGER_KEYED = frozenset({"Person", "Event"})
NODE_TYPES = frozenset({"Grid", "House", "Person", "Entity", "Event"})


def to_global_id(type_name: str, key: str | int) -> str:
    return base64.b64encode(f"{type_name}:{key}".encode()).decode("ascii")


def from_global_id(global_id: str, expected: str | None = None) -> tuple[str, str | int]:
    """Decode a global id, refusing anything that is not one of the hub's node ids."""
    try:
        raw = base64.b64decode(global_id.encode("ascii"), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError):
        raise BadUserInput(f"{global_id!r} is not a valid id") from None
    type_name, sep, key = raw.partition(":")
    # PostgreSQL text holds no NUL: such a key can name no row, and would fail in the driver.
    if not sep or type_name not in NODE_TYPES or not key or "\x00" in key:
        raise BadUserInput(f"{global_id!r} is not a valid id")
    if expected is not None and type_name != expected:
        raise BadUserInput(f"{global_id!r} is not the id of a {expected}")
    if type_name in INTEGER_KEYED:
        if not key.isascii() or not key.isdigit() or len(key) > 18 or int(key) > MAX_KEY:
            raise BadUserInput(f"{global_id!r} is not a valid id")
        return type_name, int(key)
    return type_name, key
