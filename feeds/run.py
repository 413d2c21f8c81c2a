"""One run of a feed, end to end: read, check, match, stage, merge, record.

The file is hashed first (the audit entry names it by its SHA-256), then read once as a stream;
its rows are checked and placed chunk by chunk (:mod:`feeds.prepare`; a CSV file's on worker
processes, :mod:`feeds.pool`) and the good ones staged in a temporary table as they come
(``COPY`` on PostgreSQL), so memory stays that of a few chunks (and the matcher's index)
whatever the file's size. The merge is one transaction under
the feed's lock: it commits whole or not at all. The run's row in ``feed_runs`` is written when
it starts (``running``) and when it ends (``succeeded``, or ``failed`` with the reason); a dry
run merges and rolls back, and leaves no row.
"""

from __future__ import annotations

import hashlib
import itertools
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import AsyncEngine

from addresses.matcher import Matcher
from catalog.authority import authorities
from catalog.feed_files import FeedDefinition
from catalog.feed_targets import TARGETS
from feeds import merge as merging
from feeds import targets as rules
from feeds.pool import default_workers, prepared_blocks
from feeds.prepare import Prepared, Preparer
from feeds.read import FeedFileError, csv_blocks, read_rows
from feeds.report import STORED_REJECTS, RunReport
from feeds.validate import RowChecker
from store.engine import statement_limit
from store.errors import GridhubError
from store.models import FeedRun

RUNS = FeedRun.__table__
#: Rows prepared and staged at a time.
CHUNK = 5_000
#: Seconds one statement of a run's staging or merge may take (a request's limit is far
#: shorter; a merge over a million rows on a busy server is not a request).
BULK_STATEMENT_SECONDS = 1_800.0

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
    workers: int | None = None,
) -> RunReport:
    """Run ``feed`` on the file at ``path``; :class:`FeedRunFailed` when nothing was written
    (the run's row says why). ``checkpoint`` is awaited between the merge's steps.
    ``workers``: processes preparing a CSV file's rows (default one per core; 0 or 1: this
    process alone); the outcome is the same whatever their number."""
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
        await _run(
            engine,
            feed,
            target,
            path,
            matcher,
            report,
            run_id,
            now,
            progress,
            checkpoint,
            default_workers() if workers is None else workers,
        )
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
    workers: int,
) -> None:
    async with engine.connect() as connection:
        context = await rules.prepare(connection, target)
    columns = [target.fields[name].column for name in feed.columns if name != target.key]
    if RowChecker(feed, target, context.known).derive:
        columns += [c for c in ("gender", "birth_date") if c not in columns]
    columns += [c for c in target.computed if c not in columns]
    stage = merging.stage_table(target, columns, f"feed_stage_{uuid.uuid4().hex[:12]}")
    preparer = Preparer(feed, target, columns, matcher, run_id, now, context)
    candidates: list[dict[str, Any]] = []
    kept: list[tuple[int, str]] = []
    seconds = report.seconds
    clock = time.perf_counter
    async with engine.connect() as connection, statement_limit(connection, BULK_STATEMENT_SECONDS):
        await merging.create_stage(connection, stage)
        await connection.commit()
        try:
            with ExitStack() as files:
                async for chunk in _prepared(feed, path, preparer, files, workers):
                    report.read += chunk.read
                    report.unmatched += chunk.unmatched
                    report.rejects.extend(chunk.rejects)
                    kept.extend(chunk.kept)
                    candidates.extend(chunk.candidates)
                    seconds["check"] += chunk.checking
                    seconds["match"] += chunk.matching
                    started = clock()
                    if chunk.records:
                        await merging.stage_rows(connection, stage, chunk.records)
                        await connection.commit()
                    seconds["stage"] += clock() - started
                    if progress is not None:
                        progress(chunk.read)
            started = clock()
            await merging.index_stage(connection, stage)
            # Duplicates among the staged rows only: a rejected line's kept key is not one.
            report.rejects.extend(await merging.duplicates(connection, stage))
            await merging.keep_rejected_keys(connection, stage, kept)
            await connection.commit()
            seconds["stage"] += clock() - started
            report.rejected = len(report.rejects)
            report.rejects.sort(key=lambda r: r.line)
            started = clock()
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
            seconds["merge"] += clock() - started
        finally:
            await merging.drop_stage(connection, stage)
            await connection.commit()
    report.inserted = counts.inserted
    report.updated = counts.updated
    report.unchanged = counts.unchanged
    report.removed = counts.removed
    report.conflicts = counts.conflicts


async def _prepared(
    feed: FeedDefinition, path: Path, preparer: Preparer, files: ExitStack, workers: int
) -> AsyncIterator[Prepared]:
    """The file's rows, checked and placed, chunk by chunk: a CSV file in blocks on
    ``workers`` processes (when there are two or more), anything else in this process."""
    if feed.format == "csv" and workers >= 2:
        names, blocks = csv_blocks(path, feed.encoding, files, CHUNK)
        async for prepared in prepared_blocks(preparer, names, blocks, workers):
            yield prepared
        return
    rows = read_rows(path, feed.format, feed.encoding, files)
    while True:
        chunk = list(itertools.islice(rows, CHUNK))
        if not chunk:
            return
        yield preparer.prepare(chunk)
