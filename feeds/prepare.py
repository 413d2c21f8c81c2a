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
from feeds import targets as rules
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


def placed_columns(target: Target, columns: list[str]) -> list[str]:
    """The columns only a placed address sets (those also mapped from the file come first)."""
    return [c for c in target.matched_columns if c not in columns]


def stage_columns(target: Target, columns: list[str]) -> list[str]:
    """The staging table's columns, in the order of a record."""
    return [
        "line",
        "op",
        "matched",
        target.key_column.name,
        *columns,
        *placed_columns(target, columns),
    ]


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
        context: rules.RunContext | None = None,
    ) -> None:
        """``context``: what the target's rows are checked and placed against
        (:func:`feeds.targets.prepare`; none for a target that needs nothing read first)."""
        self.feed = feed
        self.target = target
        self.columns = columns
        self.context = context or rules.RunContext()
        self.placed = placed_columns(target, columns)
        self.checker = RowChecker(feed, target, self.context.known)
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
            if checked.op == UPSERT:
                rules.complete(target, self.context, checked, self.now)
            values = checked.values
            head = (checked.line, checked.op)
            if checked.op != UPSERT:
                body = tuple(values.get(name) for name in columns)
                out.records.append((*head, False, values[key_column], *body, *self._nowhere))
                continue
            text = checked.address
            at = clock()
            found = self.matches(text) if text else None
            placed = rules.place(target, self.context, checked, found)
            matching += clock() - at
            if placed is not None:
                # The placement may set a mapped column too (an event's point follows its house).
                both = values | placed
                body = tuple(both.get(name) for name in columns)
                where = tuple(both.get(name) for name in self.placed)
                out.records.append((*head, True, values[key_column], *body, *where))
                continue
            body = tuple(values.get(name) for name in columns)
            out.unmatched += 1
            if text and found is not None:
                out.candidates.append(self._candidate(checked.key, text, found))
            out.records.append((*head, False, values[key_column], *body, *self._nowhere))
        out.matching = matching
        out.checking = clock() - started - matching
        return out

    @property
    def _nowhere(self) -> tuple[None, ...]:
        return (None,) * len(self.placed)

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
