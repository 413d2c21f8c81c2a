"""The audit log at scale: "who read person X in the last 30 days" over millions of entries.

    python benchmarks/audit_log.py [--database-url URL] [--entries 10000000] [--queries 300]

Builds (or reuses) a PostgreSQL database of its own (default ``gridhub_bench_audit``), migrated
(so the log is partitioned by month, migration 0017), and fills it with ``--entries`` entries
spread evenly over the last 180 days in eight chains, made by ``INSERT … SELECT
generate_series`` in batches of a million, with the search-index rows of the people each entry
returned (``--people-per-entry`` on average, drawn from ``--people`` people; one entry in a
hundred reads one of a thousand "hot" people, so some people are read thousands of times). The
entries' hashes are not a real chain (the benchmark times searches, not verification), and
field-read rows are left out (the person search does not read them). Indexes are built after
loading, then ``VACUUM ANALYZE``.

It then times, on one connection, exactly the statements the ``auditLog`` field runs
(:func:`audit.search.search` for a page of 20, newest first, and :func:`audit.search.count` for
``totalCount``) with ``personId`` and ``from`` = 30 days ago, for ``--queries`` people drawn at
random (most read a few times in 30 days) and as many hot people, round-robin; and prints p50 and
p99 of each, and the plan of one search (to show which partitions it reads). GraphQL parsing,
the auditor's plan and the audit entry of the search itself are not in the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import text  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine  # noqa: E402

from audit.search import AuditFilter, _filtered, count, search  # noqa: E402
from store.audit_partitions import Month, ensure_months, months_between  # noqa: E402
from store.engine import create_engine, upgrade  # noqa: E402

DEFAULT_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/gridhub_bench_audit"
DAYS = 180
CHAINS = 8
BATCH = 1_000_000
HOT = 1000

ENTRY_INDEXES = {
    "ix_audit_entries_at": "at",
    "ix_audit_entries_subject_at": "subject, at",
    "ix_audit_entries_client_id_at": "client_id, at",
    "ix_audit_entries_department_code_at": "department_code, at",
    "ix_audit_entries_outcome_at": "outcome, at",
    "ix_audit_entries_writer_id_seq": "writer_id, seq",
}
PERSON_INDEX = ("ix_audit_person_reads_person_id_at_entry_id", "person_id, at, entry_id")


class _Settings:
    def __init__(self, url: str) -> None:
        self.database_url = url
        self.database_connect_timeout = 10.0
        self.database_statement_timeout = 3600.0


async def _create_database(url: str) -> None:
    import asyncpg

    name = url.rsplit("/", 1)[1]
    admin = url.rsplit("/", 1)[0].replace("postgresql+asyncpg", "postgresql") + "/postgres"
    connection = await asyncpg.connect(admin)
    try:
        found = await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not found:
            await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()


def _entries_sql(people: int, per_entry: int) -> str:
    """One batch of entries, ``g`` from :first to :last; ``at`` spread over DAYS to :now."""
    picks = ", ".join(
        f"(CASE WHEN g % 100 = {k} THEN (g / 100 + {k}) % {HOT} + 1"
        f" ELSE ((g::bigint * {2654435761 + 7919 * k}) % {people}) + 1 END)::text"
        for k in range(per_entry)
    )
    return f"""
WITH entries AS (
INSERT INTO audit_entries (writer_id, seq, at, request_id, subject, principal_kind,
  department_code, roles, client_id, client_address, operation_name, operation_type, query_hash,
  variables, purpose, reads, person_ids, row_counts, grant_ids, outcome, error_code, latency_us,
  prev_hash, hash)
SELECT 'bench' || (g % {CHAINS}), g / {CHAINS} + 1,
  CAST(:now AS timestamptz) - (CAST(:total AS bigint) - g) * (interval '{DAYS} days' / :total),
  md5(g::text), 'worker-' || (g % 1547), 'person', 'grid_office', '["grid_worker"]'::json,
  NULL, '10.0.0.' || (g % 250), 'HouseResidents', 'query', md5('q' || (g % 40)),
  '{{"first": 20}}'::json, NULL,
  '[{{"type":"Person","field":"name","decision":"ALLOW"}}]'::json,
  json_build_array({picks}), '{{"Person": {per_entry}}}'::json, '[]'::json, 'ok', NULL, 1500,
  md5('p' || g) || md5('p' || g), md5(g::text) || md5(g::text)
FROM generate_series(CAST(:first AS bigint), CAST(:last AS bigint)) AS g
RETURNING id, at, person_ids
)
INSERT INTO audit_person_reads (entry_id, person_id, at)
SELECT e.id, p.value, e.at FROM entries AS e
CROSS JOIN LATERAL json_array_elements_text(e.person_ids) AS p(value)
ON CONFLICT DO NOTHING
"""


async def _load(engine: AsyncEngine, entries: int, people: int, per_entry: int) -> None:
    now = datetime.now(UTC)
    async with engine.begin() as connection:
        first = Month.of(now - timedelta(days=DAYS + 1))
        await ensure_months(connection, months_between(first, Month.of(now)))
        await connection.execute(text("TRUNCATE audit_entries, audit_person_reads"))
        for name in (*ENTRY_INDEXES, PERSON_INDEX[0]):
            await connection.execute(text(f"DROP INDEX IF EXISTS {name}"))
    started = time.perf_counter()
    insert = text(_entries_sql(people, per_entry))
    for low in range(1, entries + 1, BATCH):
        high = min(entries, low + BATCH - 1)
        async with engine.begin() as connection:
            bounds = {"first": low, "last": high, "now": now, "total": entries}
            await connection.execute(insert, bounds)
        print(f"  loaded {high:,} entries ({time.perf_counter() - started:.0f} s)", flush=True)
    async with engine.begin() as connection:
        for name, columns in ENTRY_INDEXES.items():
            await connection.execute(text(f"CREATE INDEX {name} ON audit_entries ({columns})"))
        await connection.execute(
            text(f"CREATE INDEX {PERSON_INDEX[0]} ON audit_person_reads ({PERSON_INDEX[1]})")
        )
    print(f"  indexes built ({time.perf_counter() - started:.0f} s)", flush=True)
    async with engine.connect() as connection:
        connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
        await connection.execute(text("VACUUM ANALYZE audit_entries"))
        await connection.execute(text("VACUUM ANALYZE audit_person_reads"))
    print(f"  loaded in {time.perf_counter() - started:.0f} s", flush=True)


def _percentiles(times: list[float]) -> str:
    ordered = sorted(times)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return f"p50 {statistics.median(ordered):6.2f} ms   p99 {p99:6.2f} ms"


async def _time(connection: AsyncConnection, filter: AuditFilter) -> tuple[float, float, int]:
    started = time.perf_counter()
    await search(connection, filter, 20)
    searched = time.perf_counter()
    total = await count(connection, filter)
    counted = time.perf_counter()
    return (searched - started) * 1000, (counted - searched) * 1000, total


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--entries", type=int, default=10_000_000)
    parser.add_argument("--people", type=int, default=4_920_000)
    parser.add_argument("--people-per-entry", type=int, default=2)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--reload", action="store_true", help="Load even if the size matches.")
    args = parser.parse_args()
    await _create_database(args.database_url)
    await asyncio.to_thread(upgrade, args.database_url)
    engine = create_engine(_Settings(args.database_url))
    try:
        async with engine.connect() as connection:
            have = (await connection.execute(text("SELECT count(*) FROM audit_entries"))).scalar()
        if have != args.entries or args.reload:
            print(f"loading {args.entries:,} entries ({have:,} there)", flush=True)
            await _load(engine, args.entries, args.people, args.people_per_entry)
        async with engine.connect() as connection:
            rows = (
                await connection.execute(text("SELECT count(*) FROM audit_person_reads"))
            ).scalar()
            partitions = (
                await connection.execute(
                    text(
                        "SELECT count(*) FROM pg_inherits WHERE inhparent ="
                        " 'audit_entries'::regclass"
                    )
                )
            ).scalar()
            print(
                f"{args.entries:,} entries, {rows:,} person-read rows, "
                f"{partitions} partitions of audit_entries"
            )
            since = datetime.now(UTC) - timedelta(days=30)
            rng = random.Random(20261203)
            sides = {
                "person": [str(rng.randrange(1, args.people + 1)) for _ in range(args.queries)],
                "hot person": [str(rng.randrange(1, HOT + 1)) for _ in range(args.queries)],
            }
            for people in sides.values():  # warm: one of each, off the clock
                await _time(connection, AuditFilter(person_id=people[0], since=since))
            times: dict[str, tuple[list[float], list[float], list[int]]] = {
                side: ([], [], []) for side in sides
            }
            for i in range(args.queries):
                for side, people in sides.items():
                    page, counted, total = await _time(
                        connection, AuditFilter(person_id=people[i], since=since)
                    )
                    times[side][0].append(page)
                    times[side][1].append(counted)
                    times[side][2].append(total)
            for side, (pages, counts, totals) in times.items():
                print(
                    f"{side:>10}: {statistics.median(totals):>6.0f} entries in 30 days (median)"
                    f"\n  auditLog page of 20   {_percentiles(pages)}"
                    f"\n  auditLog totalCount   {_percentiles(counts)}"
                )
            query, _, _ = _filtered(
                connection, AuditFilter(person_id=sides["person"][0], since=since)
            )
            compiled = query.limit(21).compile(
                dialect=connection.dialect, compile_kwargs={"literal_binds": True}
            )
            plan = await connection.execute(
                text(f"EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) {compiled}")
            )
            print("plan of one page (without its ORDER BY):")
            for line in plan.scalars():
                print("  " + line)
    finally:
        await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
