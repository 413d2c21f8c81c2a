"""``gridhub catalog sync``: make the database's catalogue hold what the catalogue files say.

All files are read and checked first, then every change is written in one transaction: a
mistake in any file writes nothing. A resource whose file definition equals what the database
holds is left alone (no new version); a new or changed one gets its next version, recorded as
made by whoever ran the sync. A resource a data officer registered through the API and a file
now defines is taken over by the file. Resources that no file defines any more are reported,
not deleted: their history, and the grants made on them, stay.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from catalog import feed_store, store
from catalog.feed_files import FeedDefinition, feed_problems, read_feed_directory
from catalog.files import CatalogFileError, FileResource, packaged_directory, read_directory
from catalog.resources import Origin, problems


@dataclass
class SyncReport:
    """What a sync did, by resource code."""

    created: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    #: Registered through the API before, kept in a file from now on.
    adopted: list[str] = field(default_factory=list)
    #: Kept in a file once, in none now (left as they are).
    missing: list[str] = field(default_factory=list)
    #: Feed declarations, by feed code.
    feeds_created: list[str] = field(default_factory=list)
    feeds_changed: list[str] = field(default_factory=list)
    feeds_unchanged: list[str] = field(default_factory=list)

    @property
    def written(self) -> int:
        """How many versions the sync wrote."""
        return len(self.created) + len(self.changed) + len(self.adopted)


async def sync(
    engine: AsyncEngine,
    resources: Sequence[FileResource],
    *,
    by: str,
    at: datetime | None = None,
    dry_run: bool = False,
    feeds: Sequence[FeedDefinition] = (),
) -> SyncReport:
    """Bring the catalogue in line with ``resources`` in one transaction (rolled back when
    ``dry_run``); :class:`CatalogFileError` lists every problem and nothing is written."""
    at = at or datetime.now(UTC)
    report = SyncReport()
    async with engine.connect() as connection:
        transaction = await connection.begin()
        try:
            departments = await store.department_codes(connection)
            found = [
                f"{resource.source}: {problem}"
                for resource in resources
                for problem in problems(resource.definition, departments)
            ]
            if found:
                raise CatalogFileError(found)
            stored = {
                found.definition.code: found
                for found in await store.search(connection, store.CatalogQuery())
            }
            for resource in resources:
                definition = resource.definition
                current = stored.get(definition.code)
                if current is None:
                    report.created.append(definition.code)
                elif current.origin is Origin.API:
                    report.adopted.append(definition.code)
                elif current.definition == definition and current.source == resource.source:
                    report.unchanged.append(definition.code)
                    continue
                else:
                    report.changed.append(definition.code)
                await store.save(
                    connection,
                    definition,
                    origin=Origin.FILE,
                    source=resource.source,
                    by=by,
                    at=at,
                    replacing=None if current is None else current.version,
                )
            defined = {resource.definition.code for resource in resources}
            report.missing = sorted(
                code
                for code, found in stored.items()
                if found.origin is Origin.FILE and code not in defined
            )
            await _sync_feeds(connection, feeds, departments, report, by=by, at=at)
        except BaseException:
            await transaction.rollback()
            raise
        if dry_run:
            await transaction.rollback()
        else:
            await transaction.commit()
    return report


async def _sync_feeds(
    connection: AsyncConnection,
    feeds: Sequence[FeedDefinition],
    departments: set[str],
    report: SyncReport,
    *,
    by: str,
    at: datetime,
) -> None:
    """Check the feeds against the catalogue just written, then store the new and changed."""
    resources = {
        found.definition.code: (found.definition.department, found.definition.graphql_type)
        for found in await store.search(connection, store.CatalogQuery())
    }
    problems = [p for feed in feeds for p in feed_problems(feed, departments, resources)]
    if problems:
        raise CatalogFileError(problems)
    stored = await feed_store.declarations(connection)
    for feed in feeds:
        current = stored.get(feed.code)
        if current is not None and current == feed:
            report.feeds_unchanged.append(feed.code)
            continue
        (report.feeds_created if current is None else report.feeds_changed).append(feed.code)
        await feed_store.save(connection, feed, by=by, at=at)


async def sync_packaged(engine: AsyncEngine, *, by: str) -> SyncReport:
    """Sync the catalogue files shipped with gridhub (what the demo and the tests hold)."""
    directory = packaged_directory()
    return await sync(
        engine, read_directory(directory), by=by, feeds=read_feed_directory(directory)
    )
