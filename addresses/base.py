"""The address base in the database: the matcher built from it, aliases taught to it.

Building the in-memory index reads every standard address once (a few seconds for a district of
a million rooms); a process keeps one per database and threshold and builds it on first use.
Aliases are read from the database at each match as well, so one taught through another hub
process matches here too.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from addresses.matcher import Matcher, alias_key
from store.models import Address, AddressAlias

_ADDRESSES = Address.__table__
_ALIASES = AddressAlias.__table__


async def load_matcher(connection: AsyncConnection, threshold: float) -> Matcher:
    """A matcher over every standard address and alias in the database."""
    a = _ADDRESSES.c
    matcher = Matcher(threshold=threshold)
    houses = await connection.stream(
        select(a.code, a.grid_code, a.text).where(a.room_code.is_(None)).order_by(a.code)
    )
    async for code, grid_code, text in houses:
        matcher.add_house(code, grid_code, text)
    rooms = await connection.stream(
        select(a.house_code, a.room, a.code).where(a.room_code.is_not(None))
    )
    async for house_code, room, code in rooms:
        matcher.add_room(house_code, room, code)
    aliases = await connection.execute(
        select(_ALIASES.c.normalised, a.house_code, a.room_code).join(
            _ADDRESSES, _ADDRESSES.c.code == _ALIASES.c.code
        )
    )
    for key, house_code, room_code in aliases:
        matcher.aliases[key] = (house_code, room_code)
    return matcher


class MatcherCache:
    """One matcher per database and threshold, built once (concurrent first callers wait).

    The base is read when the first match needs it; whoever changes the houses of a database
    (a load of new houses) calls :meth:`forget`, and the next match reads it afresh.

    The lock that makes first callers wait belongs to one event loop; a process that runs
    several loops in turn (``asyncio.run`` per command, a test per loop) gets a lock for each,
    so a loop that ended while building cannot leave the next one a lock it may not take."""

    def __init__(self) -> None:
        self._matchers: dict[tuple[str, float], Matcher] = {}
        self._locks: dict[asyncio.AbstractEventLoop, asyncio.Lock] = {}

    def _lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        lock = self._locks.get(loop)
        if lock is None:
            self._locks = {
                known: held for known, held in self._locks.items() if not known.is_closed()
            }
            lock = self._locks[loop] = asyncio.Lock()
        return lock

    async def get(self, engine: AsyncEngine, threshold: float) -> Matcher:
        key = (engine.url.render_as_string(hide_password=True), threshold)
        matcher = self._matchers.get(key)
        if matcher is not None:
            return matcher
        async with self._lock():
            matcher = self._matchers.get(key)
            if matcher is None:
                async with engine.connect() as connection:
                    matcher = await load_matcher(connection, threshold)
                self._matchers[key] = matcher
        return matcher

    def forget(self) -> None:
        """Drop every matcher: the base changed (a load of new houses, say)."""
        self._matchers.clear()

    def taught(self, text: str, house_code: str, room_code: str | None) -> None:
        for matcher in self._matchers.values():
            matcher.teach(text, house_code, room_code)


#: The process's matchers.
MATCHERS = MatcherCache()


async def alias_of(connection: AsyncConnection, text: str) -> tuple[str, str | None] | None:
    """The house and room an alias taught for ``text`` names, if one was."""
    row = (
        await connection.execute(
            select(_ADDRESSES.c.house_code, _ADDRESSES.c.room_code)
            .join(_ALIASES, _ALIASES.c.code == _ADDRESSES.c.code)
            .where(_ALIASES.c.normalised == alias_key(text))
        )
    ).first()
    return None if row is None else (row.house_code, row.room_code)


async def teach_alias(
    connection: AsyncConnection,
    text: str,
    code: str,
    grid_code: str,
    taught_by: str,
    now: datetime,
) -> str:
    """Remember that ``text`` names the address ``code`` (a later teaching of the same text
    replaces it); returns the key it is remembered by."""
    key = alias_key(text)
    values = {
        "normalised": key,
        "code": code,
        "grid_code": grid_code,
        "text": text,
        "taught_by": taught_by,
        "taught_at": now,
    }
    changed = {
        name: values[name] for name in ("code", "grid_code", "text", "taught_by", "taught_at")
    }
    if connection.dialect.name == "postgresql":
        pg = postgresql.insert(_ALIASES).values(values)
        await connection.execute(
            pg.on_conflict_do_update(index_elements=["normalised"], set_=changed)
        )
    else:
        lite = sqlite.insert(_ALIASES).values(values)
        await connection.execute(
            lite.on_conflict_do_update(index_elements=["normalised"], set_=changed)
        )
    return key
