"""The audit log's search index: the rows behind "who read person X?" and "who read field F?".

``audit_person_reads`` and ``audit_field_reads`` are derived in the database from the entries'
own ``person_ids`` and ``reads`` (one statement per table for a run of a chain's entries), and
``audit_index_marks`` records how far each chain has them (see :mod:`store.models.audit`).

Where they are written differs by back end:

- **SQLite** writes them in the entries' own transaction (:meth:`SearchIndexer.write_in`): it
  has one writer at a time anyway, and a second transaction would cost a second commit.
- **PostgreSQL** writes them right after the entries commit, on a task of their own
  (:meth:`SearchIndexer.committed` hands it the chain's new last seq): a request's answer waits
  for its entry, not for the forty or a thousand index rows of the people it returned. Runs
  committed meanwhile are written together. A failed write is tried again a second later.

If a process stops between an entry's commit and its index rows (a crash, a kill), its chain's
mark stays behind its last entry. Every indexer writes what any chain in the log lacks
(:meth:`SearchIndexer.catch_up`) when it starts and then every :data:`CATCH_UP_SECONDS`; the
rows of a run are inserted with ``ON CONFLICT DO NOTHING`` and a mark only moves forward, so
two processes writing the same run (a running writer and another process catching up) do no
harm. The same repairs a mark someone moved back together with the rows they removed. Until
then, ``gridhub audit verify`` reports the entries past a chain's mark as not yet searchable.

An auditor's search waits for this process's pending index rows first
(:meth:`SearchIndexer.settled`), so a hub answers "who read person X?" with every request it
has itself answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = logging.getLogger(__name__)

_RUN = "e.writer_id = :writer_id AND e.seq BETWEEN :first AND :last"
_INDEX_PEOPLE_SQLITE = text(
    "INSERT INTO audit_person_reads (entry_id, person_id, at)"
    f" SELECT e.id, p.value, e.at FROM audit_entries AS e, json_each(e.person_ids) AS p"
    f" WHERE {_RUN} ON CONFLICT DO NOTHING"
)
_INDEX_FIELDS_SQLITE = text(
    "INSERT INTO audit_field_reads (entry_id, resource_type, field, decision, at)"
    " SELECT e.id, json_extract(r.value, '$.type'), json_extract(r.value, '$.field'),"
    " json_extract(r.value, '$.decision'), e.at"
    f" FROM audit_entries AS e, json_each(e.reads) AS r WHERE {_RUN} ON CONFLICT DO NOTHING"
)
_MARK_SQLITE = text(
    "INSERT INTO audit_index_marks (writer_id, seq) VALUES (:writer_id, :last)"
    " ON CONFLICT (writer_id) DO UPDATE SET seq = max(audit_index_marks.seq, excluded.seq)"
)
#: PostgreSQL: a run's rows and its mark in one autocommitted statement of fixed text.
_INDEX_POSTGRESQL = text(
    f"""WITH run AS (
  SELECT e.id, e.at, e.person_ids, e.reads FROM audit_entries AS e WHERE {_RUN}
), people AS (
  INSERT INTO audit_person_reads (entry_id, person_id, at)
  SELECT e.id, p.value, e.at FROM run AS e
  CROSS JOIN LATERAL json_array_elements_text(e.person_ids) AS p(value)
  ON CONFLICT DO NOTHING
), fields AS (
  INSERT INTO audit_field_reads (entry_id, resource_type, field, decision, at)
  SELECT e.id, r.value ->> 'type', r.value ->> 'field', r.value ->> 'decision', e.at
  FROM run AS e CROSS JOIN LATERAL json_array_elements(e.reads) AS r(value)
  ON CONFLICT DO NOTHING
)
INSERT INTO audit_index_marks (writer_id, seq) VALUES (:writer_id, :last)
ON CONFLICT (writer_id) DO UPDATE SET seq = GREATEST(audit_index_marks.seq, EXCLUDED.seq)"""
)
#: A chain's mark, made before its first entry: a chain whose process stops before its first
#: index rows is then still found behind by :meth:`SearchIndexer.catch_up`.
_REGISTER = text(
    "INSERT INTO audit_index_marks (writer_id, seq) VALUES (:writer_id, 0)"
    " ON CONFLICT (writer_id) DO NOTHING"
)
_BEHIND = text(
    "SELECT m.writer_id, m.seq,"
    " (SELECT max(e.seq) FROM audit_entries AS e WHERE e.writer_id = m.writer_id) AS last"
    " FROM audit_index_marks AS m"
)
#: Seconds before a failed index write is tried again.
RETRY_SECONDS = 1.0
#: Seconds between looks for chains whose index rows are behind.
CATCH_UP_SECONDS = 60.0


class SearchIndexer:
    """Writes the search-index rows of one writer's chain (and of chains left behind)."""

    def __init__(self, engine: AsyncEngine, writer_id: str) -> None:
        self.writer_id = writer_id
        self._engine = engine
        self.deferred = engine.dialect.name == "postgresql"
        self._committed = 0  # the chain's last committed seq
        self._indexed = 0  # the chain's entries up to here have their rows
        self._progress = asyncio.Condition()
        self._wake = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the task that catches up chains left behind and, on PostgreSQL, writes index
        rows after their entries commit."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"audit-index-{self.writer_id}")

    async def register(self, connection: AsyncConnection) -> None:
        """Make this chain's mark (at 0), before its first entry is written."""
        await connection.execute(_REGISTER, {"writer_id": self.writer_id})

    async def write_in(
        self,
        connection: AsyncConnection,
        first: int,
        last: int,
        *,
        people: bool = True,
        fields: bool = True,
    ) -> None:
        """SQLite: the rows of this chain's entries ``first..last`` and its mark, in the
        caller's transaction (the entries' own). ``people`` and ``fields`` say whether any of
        the entries names a person or a field read: the writer knows, and a statement that
        would insert nothing is not run (most requests return nobody; ``{ __typename }``
        reads no field)."""
        await _write_sqlite(connection, self.writer_id, first, last, people=people, fields=fields)

    def committed(self, seq: int) -> None:
        """The chain's entries up to ``seq`` are committed: on SQLite with their rows (written
        in the same transaction); on PostgreSQL their rows are to be written now."""
        self._committed = max(self._committed, seq)
        if not self.deferred:
            self._indexed = self._committed
        else:
            self._wake.set()

    async def settled(self) -> None:
        """Return once every entry this process had committed when called has its index
        rows (at once on SQLite); callers bound the wait with :func:`asyncio.timeout`."""
        target = self._committed
        if self._indexed < target:
            async with self._progress:
                await self._progress.wait_for(lambda: self._indexed >= target)

    async def close(self) -> None:
        """Write what is left (one try), then stop."""
        self._closing = True
        self._wake.set()
        task, self._task = self._task, None
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(task)

    async def catch_up(self) -> int:
        """Write the index rows every other chain lacks (its process stopped before writing
        them); return how many chains that was."""
        async with self._engine.connect() as connection:
            behind = [
                (row.writer_id, row.seq, row.last)
                for row in await connection.execute(_BEHIND)
                if row.last is not None and row.last > row.seq and row.writer_id != self.writer_id
            ]
        for writer_id, seq, last in behind:
            log.info(
                "Writing the audit search index of chain %s, #%s..#%s", writer_id, seq + 1, last
            )
            await self._write(writer_id, seq + 1, last)
        return len(behind)

    async def _run(self) -> None:
        next_catch_up = 0.0
        while True:
            if time.monotonic() >= next_catch_up:
                next_catch_up = time.monotonic() + CATCH_UP_SECONDS
                try:
                    await self.catch_up()
                except Exception as error:
                    log.warning("Could not write the search index of chains left behind: %s", error)
            if self._indexed >= self._committed:
                if self._closing:
                    return
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(max(0.0, next_catch_up - time.monotonic())):
                        await self._wake.wait()
                continue
            last = self._committed
            try:
                await self._write(self.writer_id, self._indexed + 1, last)
            except Exception as error:
                log.warning(
                    "Audit search index of chain %s not written up to #%s: %s",
                    self.writer_id,
                    last,
                    error,
                )
                if self._closing:
                    return  # a hub process catching up writes it
                await asyncio.sleep(RETRY_SECONDS)
                continue
            self._indexed = last
            async with self._progress:
                self._progress.notify_all()

    async def _write(self, writer_id: str, first: int, last: int) -> None:
        if not self.deferred:
            async with self._engine.begin() as connection:
                await _write_sqlite(connection, writer_id, first, last)
            return
        run = {"writer_id": writer_id, "first": first, "last": last}
        async with self._engine.connect() as connection:
            connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
            await connection.execute(_INDEX_POSTGRESQL, run)


async def _write_sqlite(
    connection: AsyncConnection,
    writer_id: str,
    first: int,
    last: int,
    *,
    people: bool = True,
    fields: bool = True,
) -> None:
    run = {"writer_id": writer_id, "first": first, "last": last}
    if people:
        await connection.execute(_INDEX_PEOPLE_SQLITE, run)
    if fields:
        await connection.execute(_INDEX_FIELDS_SQLITE, run)
    await connection.execute(_MARK_SQLITE, run)
