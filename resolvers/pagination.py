"""Cursor pagination: opaque cursors that carry the last key seen (keyset, not offset)."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

import orjson

from hub.errors import BadUserInput

_PREFIX = "c1:"


def encode_cursor(key: str | int) -> str:
    return base64.urlsafe_b64encode((_PREFIX + orjson.dumps(key).decode()).encode()).decode()


def decode_cursor(cursor: str, key_type: type[str] | type[int]) -> str | int:
    """Decode a cursor, refusing one that was not made by :func:`encode_cursor` for this list."""
    try:
        raw = base64.urlsafe_b64decode(cursor.encode("ascii")).decode("utf-8")
        if not raw.startswith(_PREFIX):
            raise ValueError(raw)
        key: Any = orjson.loads(raw[len(_PREFIX) :])
    except (binascii.Error, UnicodeError, ValueError):
        raise BadUserInput(f"{cursor!r} is not a valid cursor") from None
    if type(key) is not key_type:
        raise BadUserInput(f"{cursor!r} is not a valid cursor for this list")
    return key  # type: ignore[no-any-return]


@dataclass(frozen=True, slots=True)
class PageArgs:
    """Checked ``first``/``after``: hashable, so DataLoaders can group requests by them."""

    first: int
    after: str | int | None


def page_args(
    first: int | None, after: str | None, key_type: type[str] | type[int], *, default: int, cap: int
) -> PageArgs:
    if first is None:
        first = default
    if first < 0:
        raise BadUserInput("`first` must not be negative")
    if first > cap:
        raise BadUserInput(f"`first` may be at most {cap}", maximum=cap)
    return PageArgs(first, None if after is None else decode_cursor(after, key_type))
