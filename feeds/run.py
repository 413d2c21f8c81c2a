"""One run of a feed, end to end: read, check, match, stage, merge, record.

The file is hashed first (the audit entry names it by its SHA-256), then read once as a stream;
good rows are staged in chunks in a temporary table as they come, so memory stays that of a
chunk (and the matcher's index) whatever the file's size. The merge is one transaction under
the feed's lock: it commits whole or not at all. The run's row in ``feed_runs`` is written when
it starts (``running``) and when it ends (``succeeded``, or ``failed`` with the reason); a dry
run merges and rolls back, and leaves no row.
"""

from __future__ import annotations

import hashlib
import itertools
import uuid
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import AsyncEngine

from addresses.matcher import Match, Matcher
from catalog.authority import authorities
from catalog.feed_files import FeedDefinition
from catalog.feed_targets import TARGETS
from feeds import merge as merging
from feeds import targets as rules
from feeds.read import FeedFileError, read_rows
from feeds.report import STORED_REJECTS, RunReport
from feeds.validate import UPSERT, Checked, Reject, RowChecker
from store.errors import GridhubError
from store.models import FeedRun

RUNS = FeedRun.__table__
#: Rows staged per INSERT.
CHUNK = 2_000
#: Match answers remembered within a run (exports repeat addresses).
MATCH_MEMORY = 100_000

Progress = Callable[[int], None]


class FeedRunFailed(GridhubError):
    """The run wrote nothing: the file could not be read or the merge failed."""

    code = "FEED_RUN_FAILED"


async def _no_checkpoint(step: str) -> None:
    return None


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class _Matches:
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


def _candidate_row(
    feed: FeedDefinition, run_id: int, key: str, text: str, found: Match, now: datetime
) -> dict[str, Any]:
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
        "feed": feed.code,
        "run_id": run_id,
        "target": feed.target,
        "row_key": key,
        "raw_address": text[:200],
        "candidates": orjson.dumps(candidates).decode(),
        "grid_code": found.best.grid_code if found.best else None,
        "created_at": now,
        "status": "open",
    }


async def run_feed(
    engine: AsyncEngine,
    feed: FeedDefinition,
    path: Path,
    matcher: Matcher,
    *,
    by: str,
    file_name: str | None = None,
    dry_run: bool = False,
    now: datetime | None = None,
    progress: Progress | None = None,
    checkpoint: Callable[[str], Awaitable[None]] = _no_checkpoint,
) -> RunReport:
    """Run ``feed`` on the file at ``path``; :class:`FeedRunFailed` when nothing was written
    (the run's row says why). ``checkpoint`` is awaited between the merge's steps."""
    now = now or datetime.now(UTC)
    target = TARGETS[feed.target]
    report = RunReport(
        feed=feed.code,
        department=feed.department,
        file_sha256=sha256_of(path),
        file_name=file_name or path.name,
        started_by=by,
        started_at=now,
        dry_run=dry_run,
    )
    if not dry_run:
        async with engine.begin() as connection:
            result = await connection.execute(
                insert(RUNS)
                .values(
                    feed=feed.code,
                    department_code=feed.department,
                    started_by=by,
                    started_at=now,
                    status="running",
                    file_name=report.file_name,
                    file_sha256=report.file_sha256,
                    counts=report.counts(),
                    rejects=[],
                )
                .returning(RUNS.c.id)
            )
            report.run_id = int(result.scalar_one())
    run_id = report.run_id or 0
    try:
        await _run(engine, feed, target, path, matcher, report, run_id, now, progress, checkpoint)
    except BaseException as error:
        report.status = "failed"
        report.error = _reason(error)
        report.finished_at = datetime.now(UTC)
        if not dry_run:
            await _finish(engine, report)
        if isinstance(error, Exception):
            raise FeedRunFailed(
                f"feed {feed.code}: the run wrote nothing: {report.error}", runId=report.run_id
            ) from error
        raise
    report.status = "dry_run" if dry_run else "succeeded"
    report.finished_at = datetime.now(UTC)
    if not dry_run:
        await _finish(engine, report)
    return report


def _reason(error: BaseException) -> str:
    if isinstance(error, FeedFileError):
        return f"the file can not be read: {error}"
    if isinstance(error, GridhubError):
        return str(error)
    # A database error's message may hold values of the rows: name its kind only.
    return f"the merge failed ({type(error).__name__}); nothing was written"


async def _finish(engine: AsyncEngine, report: RunReport) -> None:
    async with engine.begin() as connection:
        await connection.execute(
            update(RUNS)
            .where(RUNS.c.id == report.run_id)
            .values(
                status=report.status,
                finished_at=report.finished_at,
                counts=report.counts(),
                rejects=[r.as_json() for r in report.rejects[:STORED_REJECTS]],
                error=report.error,
            )
        )


async def _run(
    engine: AsyncEngine,
    feed: FeedDefinition,
    target: Any,
    path: Path,
    matcher: Matcher,
    report: RunReport,
    run_id: int,
    now: datetime,
    progress: Progress | None,
    checkpoint: Callable[[str], Awaitable[None]],
) -> None:
    async with engine.connect() as connection:
        context = await rules.prepare(connection, target)
    checker = RowChecker(feed, target, context.known)
    columns = [target.fields[name].column for name in feed.columns if name != target.key]
    if checker.derive:
        columns += [c for c in ("gender", "birth_date") if c not in columns]
    columns += [c for c in target.computed if c not in columns]
    stage = merging.stage_table(target, columns, f"feed_stage_{uuid.uuid4().hex[:12]}")
    matches = _Matches(matcher)
    candidates: list[dict[str, Any]] = []
    kept: list[tuple[int, str]] = []
    async with engine.connect() as connection:
        await merging.create_stage(connection, stage)
        try:
            with ExitStack() as files:
                rows = read_rows(path, feed.format, feed.encoding, files)
                while True:
                    chunk = list(itertools.islice(rows, CHUNK))
                    if not chunk:
                        break
                    staged = []
                    for line, row in chunk:
                        report.read += 1
                        checked = checker.check(line, row)
                        if isinstance(checked, Reject):
                            report.rejects.append(checked)
                            if checked.key is not None and checked.field != target.key:
                                kept.append((line, checked.key))
                            continue
                        staged.append(
                            _staged(
                                target,
                                context,
                                columns,
                                feed,
                                checked,
                                matches,
                                candidates,
                                run_id,
                                now,
                                report,
                            )
                        )
                    if staged:
                        await connection.execute(stage.table.insert(), staged)
                        await connection.commit()
                    if progress is not None:
                        progress(len(chunk))
            report.rejects.extend(await merging.duplicates(connection, stage))
            await merging.keep_rejected_keys(connection, stage, kept)
            await connection.commit()
            report.rejected = len(report.rejects)
            report.rejects.sort(key=lambda r: r.line)
            transaction = await connection.begin()
            try:
                await merging.lock(connection, feed.code)
                found = await authorities(connection, feed.target)
                counts = await merging.merge(
                    connection,
                    stage,
                    feed,
                    found,
                    run_id=run_id,
                    by=report.started_by,
                    now=now,
                    checkpoint=checkpoint,
                )
                await merging.add_candidates(connection, target, run_id, candidates)
                await checkpoint("candidates")
            except BaseException:
                await transaction.rollback()
                raise
            if report.dry_run:
                await transaction.rollback()
            else:
                await transaction.commit()
        finally:
            await merging.drop_stage(connection, stage)
            await connection.commit()
    report.inserted = counts.inserted
    report.updated = counts.updated
    report.unchanged = counts.unchanged
    report.removed = counts.removed
    report.conflicts = counts.conflicts


def _staged(
    target: Any,
    context: rules.RunContext,
    columns: list[str],
    feed: FeedDefinition,
    checked: Checked,
    matches: _Matches,
    candidates: list[dict[str, Any]],
    run_id: int,
    now: datetime,
    report: RunReport,
) -> dict[str, Any]:
    if checked.op == UPSERT:
        rules.complete(target, context, checked, now)
    row = dict.fromkeys(columns) | dict.fromkeys(target.matched_columns) | checked.values
    row["line"] = checked.line
    row["op"] = checked.op
    row["matched"] = False
    if checked.op != UPSERT:
        return row
    text = checked.address
    found = matches(text) if text else None
    placed = rules.place(target, context, checked, found)
    if placed is not None:
        row["matched"] = True
        row.update(placed)
    else:
        report.unmatched += 1
        if text and found is not None:
            candidates.append(_candidate_row(feed, run_id, checked.key, text, found, now))
    return row
