"""The per-row work of a run: check a row, place its address, shape it for the stage.

This is the part of a run that costs by the row in Python, so it is kept free of the database
and of the event loop: :class:`Preparer` turns a chunk of read rows into a :class:`Prepared`
chunk (staging records in the stage's column order, rejects, kept keys, unplaced addresses)
and can do so in a worker process (:mod:`feeds.pool`) as well as in the run's own. It times
its two steps (reading and checking; matching) so a run can say where its time went.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from addresses.matcher import Match, Matcher
from catalog.feed_files import FeedDefinition
from catalog.feed_targets import Target
from feeds.read import Row
from feeds.validate import UPSERT, Reject, RowChecker

#: Match answers remembered within a run (exports repeat addresses).
MATCH_MEMORY = 100_000


class Matches:
    """The matcher's answers for a run, the repeated ones from memory."""

    def __init__(self, matcher: Matcher) -> None:
        self.matcher = matcher
        self.seen: dict[str, Match] = {}

    def __call__(self, text: str) -> Match:
        found = self.seen.get(text)
        if found is None:
            found = self.matcher.match(text)
            if len(self.seen) >= MATCH_MEMORY:
                self.seen.pop(next(iter(self.seen)))
            self.seen[text] = found
        return found


@dataclass
class Prepared:
    """One chunk of a file, checked and placed."""

    read: int = 0
    #: Staging records, in :func:`stage_columns` order.
    records: list[tuple[Any, ...]] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    #: ``(line, key)`` of rejected rows whose key was readable (a snapshot keeps their rows).
    kept: list[tuple[int, str]] = field(default_factory=list)
    candidates: list[dict[str, Any]] = field(default_factory=list)
    unmatched: int = 0
    #: Seconds spent reading and checking, and placing addresses.
    checking: float = 0.0
    matching: float = 0.0


def stage_columns(target: Target, columns: list[str]) -> list[str]:
    """The staging table's columns, in the order of a record."""
    placed = [target.house_column, target.grid_column]
    if target.room_column is not None:
        placed.insert(1, target.room_column)
    return ["line", "op", "matched", target.key_column.name, *columns, *placed]


class Preparer:
    """Prepares the rows of one run (the feed's columns looked up once)."""

    def __init__(
        self,
        feed: FeedDefinition,
        target: Target,
        columns: list[str],
        matcher: Matcher,
        run_id: int,
        now: datetime,
    ) -> None:
        self.feed = feed
        self.target = target
        self.columns = columns
        self.checker = RowChecker(feed, target)
        self.matches = Matches(matcher)
        self.run_id = run_id
        self.now = now
        self.key_column = target.key_column.name

    def prepare(self, rows: Iterable[Row]) -> Prepared:
        """Check and place ``rows``; reading them (they may be parsed lazily) counts as
        checking."""
        out = Prepared()
        clock = time.perf_counter
        started = clock()
        matching = 0.0
        target = self.target
        key_field = target.key
        columns = self.columns
        key_column = self.key_column
        for line, row in rows:
            out.read += 1
            checked = self.checker.check(line, row)
            if isinstance(checked, Reject):
                out.rejects.append(checked)
                if checked.key is not None and checked.field != key_field:
                    out.kept.append((line, checked.key))
                continue
            values = checked.values
            head = (checked.line, checked.op)
            body = tuple(values.get(name) for name in columns)
            if checked.op != UPSERT:
                out.records.append((*head, False, values[key_column], *body, *self._nowhere))
                continue
            text = checked.address
            at = clock()
            found = self.matches(text) if text else None
            matching += clock() - at
            if found is not None and found.accepted and found.best is not None:
                best = found.best
                placed: tuple[Any, ...] = (
                    (best.house_code, best.grid_code)
                    if target.room_column is None
                    else (best.house_code, best.room_code, best.grid_code)
                )
                out.records.append((*head, True, values[key_column], *body, *placed))
                continue
            out.unmatched += 1
            if text and found is not None:
                out.candidates.append(self._candidate(checked.key, text, found))
            out.records.append((*head, False, values[key_column], *body, *self._nowhere))
        out.matching = matching
        out.checking = clock() - started - matching
        return out

    @property
    def _nowhere(self) -> tuple[None, ...]:
        return (None, None) if self.target.room_column is None else (None, None, None)

    def _candidate(self, key: str, text: str, found: Match) -> dict[str, Any]:
        candidates = [
            {
                "house_code": c.house_code,
                "room_code": c.room_code,
                "grid_code": c.grid_code,
                "score": round(c.confidence, 4),
            }
            for c in found.candidates
        ]
        return {
            "feed": self.feed.code,
            "run_id": self.run_id,
            "target": self.target.name,
            "row_key": key,
            "raw_address": text[:200],
            "candidates": orjson.dumps(candidates).decode(),
            "grid_code": found.best.grid_code if found.best else None,
            "created_at": self.now,
            "status": "open",
        }
