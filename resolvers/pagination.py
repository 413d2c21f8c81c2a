"""Cursor pagination: opaque cursors that carry the list's name and the last key seen.

Keyset, not offset: a page costs the same wherever it is in the list, and rows added meanwhile
do not shift the pages. The list's name in the cursor stops a cursor of one list (houses) from
being replayed on another whose keys happen to look alike (entities).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

import orjson

from resolvers.resources import Resource
from store.errors import BadUserInput
from store.models.base import MAX_KEY

_VERSION = "c1"


def encode_cursor(resource: Resource, key: str | int) -> str:
    raw = orjson.dumps([_VERSION, resource.name, key])
    return base64.urlsafe_b64encode(raw).decode("ascii")


def decode_cursor(cursor: str, resource: Resource) -> str | int:
    """The key in a cursor made by :func:`encode_cursor` for this list; anything else is refused."""
    try:
        decoded: Any = orjson.loads(base64.urlsafe_b64decode(cursor.encode("ascii")))
    except (binascii.Error, UnicodeError, ValueError):
        raise BadUserInput(f"{cursor!r} is not a valid cursor") from None
    if (
        not isinstance(decoded, list)
        or len(decoded) != 3
        or decoded[0] != _VERSION
        or decoded[1] != resource.name
        or type(decoded[2]) is not resource.key_type
    ):
        raise BadUserInput(f"{cursor!r} is not a valid cursor for this list")
    key = decoded[2]
    if (key < 0 or key > MAX_KEY) if isinstance(key, int) else "\x00" in key:
        # no row has such a key, and the database would refuse it as a parameter
        raise BadUserInput(f"{cursor!r} is not a valid cursor for this list")
    return key


@dataclass(frozen=True, slots=True)
class PageArgs:
    """Checked ``first``/``after``: hashable, so DataLoaders can group requests by them."""

    first: int
    after: str | int | None


def page_args(
    first: int | None, after: str | None, resource: Resource, *, default: int, cap: int
) -> PageArgs:
    if first is None:
        first = default
    if first < 0:
        raise BadUserInput("`first` must not be negative")
    if first > cap:
        raise BadUserInput(f"`first` may be at most {cap}", maximum=cap)
    return PageArgs(first, None if after is None else decode_cursor(after, resource))
