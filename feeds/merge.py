"""The staging table and the one set-based merge of a run, in one transaction.

The run's good rows are staged in a temporary table of the connection (the target's columns,
plus the row's line, operation and whether its address was placed). The merge then runs a
handful of statements over the whole stage, never one per row: conflicts, the rows that change
(found once), their history and update, the insert of new ones, the rows removed (found once),
their tombstones and deletes, all in
one transaction that holds the feed's lock, so a failure at any point leaves the old state and
two runs of one feed never interleave.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    ColumnElement,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    case,
    cast,
    delete,
    exists,
    false,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    true,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.schema import CreateIndex, CreateTable, DropTable

from catalog.feed_files import FeedDefinition
from catalog.feed_targets import INSERT_DEFAULTS, Target
from feeds import targets as rules
from feeds.validate import DELETE, DUPLICATE_KEY, KEEP, UPSERT, Reject
from store.models import AddressCandidate, FeedConflict, RemovedRow, RowChange

CONFLICTS = FeedConflict.__table__
HISTORY = RowChange.__table__
REMOVED = RemovedRow.__table__
CANDIDATES = AddressCandidate.__table__

#: The hub field names of the columns the matched address fills.
MATCHED_FIELDS = {
    "house_code": "house",
    "room_code": "room",
    "grid_code": "gridCode",
    "lon": "location",
    "lat": "location",
}
#: A fixed first key of the PostgreSQL advisory locks feed runs take (the second is the
#: feed code's hash), so they never collide with another use of advisory locks.
LOCK_NAMESPACE = 17_017

#: Called between the merge's steps with the step's name (tests stop a run there).
Checkpoint = Callable[[str], Awaitable[None]]


@dataclass
class MergeCounts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    conflicts: int = 0
    #: New rows whose address was not placed: not inserted, kept as candidates.
    not_inserted: int = 0


@dataclass
class Stage:
    """A run's temporary staging table."""

    target: Target
    table: Table
    #: Target columns the feed sets (its mapped and derived fields), key excluded.
    columns: list[str] = field(default_factory=list)


def stage_table(target: Target, columns: Sequence[str], name: str) -> Stage:
    """The staging table's definition: line, op, matched, the key, ``columns`` and the
    matched address's columns (in :func:`feeds.prepare.stage_columns` order)."""
    key = target.key_column
    matched = [c for c in target.matched_columns if c not in columns]
    defined: list[Any] = [
        Column("line", Integer, nullable=False),
        Column("op", String(8), nullable=False),
        Column("matched", Boolean, nullable=False),
        Column(key.name, key.type),
    ]
    for name_ in [*columns, *matched]:
        defined.append(Column(name_, target.table.c[name_].type))
    table = Table(name, MetaData(), *defined, prefixes=["TEMPORARY"])
    return Stage(target, table, list(columns))


async def create_stage(connection: AsyncConnection, stage: Stage) -> None:
    """Create the staging table, without its index: the rows go in first (see
    :func:`index_stage`)."""
    await connection.execute(CreateTable(stage.table))


async def stage_rows(
    connection: AsyncConnection, stage: Stage, records: list[tuple[Any, ...]]
) -> None:
    """Add prepared records (the stage's columns, in order) to the stage: PostgreSQL's
    ``COPY`` (binary, through asyncpg; values pass through their column types' bind processors
    first, as a statement's would), else one ``INSERT`` executed for every record (which
    processes them itself)."""
    if not records:
        return
    names = [column.name for column in stage.table.columns]
    dialect = connection.dialect
    if dialect.name == "postgresql":
        # COPY bypasses the statement: the column types' processors are applied here.
        processors = [
            (i, processor)
            for i, column in enumerate(stage.table.columns)
            if (processor := column.type.bind_processor(dialect)) is not None
        ]
        if processors:
            records = [_processed(record, processors) for record in records]
        raw = await connection.get_raw_connection()
        driver: Any = raw.driver_connection
        await driver.copy_records_to_table(stage.table.name, records=records, columns=names)
    else:
        await connection.execute(
            stage.table.insert(), [dict(zip(names, record, strict=True)) for record in records]
        )


def _processed(record: tuple[Any, ...], processors: list[tuple[int, Any]]) -> tuple[Any, ...]:
    values = list(record)
    for i, processor in processors:
        values[i] = processor(values[i])
    return tuple(values)


async def index_stage(connection: AsyncConnection, stage: Stage) -> None:
    """Index the loaded stage on its key and give the planner its statistics (a temporary
    table is never analysed on its own)."""
    key = stage.table.c[stage.target.key_column.name]
    await connection.execute(CreateIndex(Index(f"ix_{stage.table.name}_key", key)))
    await connection.execute(text(f"ANALYZE {stage.table.name}"))


async def drop_stage(connection: AsyncConnection, stage: Stage) -> None:
    await connection.run_sync(lambda sync: stage.table.drop(sync, checkfirst=True))


async def duplicates(connection: AsyncConnection, stage: Stage) -> list[Reject]:
    """Rows whose key an earlier line of the file already had: rejected, taken off the
    stage (the first line stands)."""
    s = stage.table
    key = s.c[stage.target.key_column.name]
    first = (
        select(key.label("key"), func.min(s.c.line).label("line"))
        .group_by(key)
        .having(func.count() > 1)
        .subquery()
    )
    rows = (
        await connection.execute(
            select(s.c.line, key, first.c.line)
            .join(first, first.c.key == key)
            .where(s.c.line != first.c.line)
            .order_by(s.c.line)
        )
    ).all()
    if rows:
        await connection.execute(delete(s).where(s.c.line.in_([line for line, _, _ in rows])))
    return [
        Reject(line, str(value), stage.target.key, DUPLICATE_KEY, f"the key is on line {at} too")
        for line, value, at in rows
    ]


async def lock(connection: AsyncConnection, feed: str) -> None:
    """Take the feed's lock for the rest of the transaction: PostgreSQL's advisory lock on
    the feed; SQLite's write lock (one writer at a time), taken by a first write that waits
    for it (busy timeout) rather than a read that would fail later."""
    if connection.dialect.name == "postgresql":
        await connection.execute(
            select(func.pg_advisory_xact_lock(LOCK_NAMESPACE, func.hashtext(feed)))
        )
    else:
        await connection.execute(
            text("UPDATE feeds SET code = code WHERE code = :feed"), {"feed": feed}
        )


def _as_text(column: ColumnElement[Any]) -> ColumnElement[Any]:
    return cast(column, String)


async def merge(
    connection: AsyncConnection,
    stage: Stage,
    feed: FeedDefinition,
    authorities: dict[str, str],
    *,
    run_id: int,
    by: str,
    now: datetime,
    checkpoint: Checkpoint,
) -> MergeCounts:
    """Merge the stage into the target; the caller owns the transaction and the lock."""
    target = stage.target
    t = target.table
    s = stage.table
    counts = MergeCounts()
    key_t = target.key_column
    key_s = s.c[key_t.name]
    joined = key_t == key_s
    row_key = _as_text(t.c[target.row_key_column])
    department = feed.department
    spec_of = {spec.column: spec for spec in target.fields.values()}
    matched = target.matched_columns
    # Columns set only when the row is inserted (an event's routing) are not compared or
    # updated; the matched address's columns follow the match.
    inserted_only = [c for c in stage.columns if c in target.insert_only and c != key_t.name]
    written = [
        c
        for c in stage.columns
        if c != key_t.name and c not in target.insert_only and c not in matched
    ]
    conflicting = [c for c in written if authorities.get(spec_of[c].name, department) != department]
    upsert = s.c.op == UPSERT

    def changed(column: str) -> ColumnElement[bool]:
        differs = s.c[column].is_distinct_from(t.c[column])
        if column in conflicting:
            return and_(t.c[column].is_(None), s.c[column].is_not(None))
        if column in matched:
            return and_(s.c.matched == true(), differs)
        return differs

    # 1. Conflicts: another department's disagreeing value for a field it is not the
    # authority for; kept as an observation once (an open one is not repeated).
    for column in conflicting:
        name = spec_of[column].recorded
        same_open = exists(
            select(CONFLICTS.c.id).where(
                CONFLICTS.c.target == target.name,
                CONFLICTS.c.row_key == row_key,
                CONFLICTS.c.field == name,
                CONFLICTS.c.observed_department == department,
                CONFLICTS.c.observed_value == _as_text(s.c[column]),
                CONFLICTS.c.status == "open",
            )
        )
        chosen = (
            select(
                literal(target.name),
                row_key,
                literal(name),
                t.c[target.grid_column],
                literal(authorities[spec_of[column].name]),
                _as_text(t.c[column]),
                literal(department),
                _as_text(s.c[column]),
                literal(feed.code),
                literal(run_id),
                literal(now, CONFLICTS.c.observed_at.type),
                literal("open"),
            )
            .select_from(s.join(t, joined))
            .where(
                upsert,
                t.c[column].is_not(None),
                s.c[column].is_not(None),
                s.c[column] != t.c[column],
                ~same_open,
            )
        )
        result = await connection.execute(
            insert(CONFLICTS).from_select(
                [
                    "target",
                    "row_key",
                    "field",
                    "grid_code",
                    "authoritative_department",
                    "authoritative_value",
                    "observed_department",
                    "observed_value",
                    "feed",
                    "run_id",
                    "observed_at",
                    "status",
                ],
                chosen,
            )
        )
        counts.conflicts += max(result.rowcount, 0)
    await checkpoint("conflicts")

    # The lines whose stored row some field of theirs changes, found in one pass: history
    # and the update then read only those (a re-run of the same file has none).
    every = [*written, *matched]
    changes = Table(
        f"{s.name}_changed", MetaData(), Column("line", Integer), prefixes=["TEMPORARY"]
    )
    await connection.execute(CreateTable(changes))
    await connection.execute(
        insert(changes).from_select(
            ["line"],
            select(s.c.line)
            .select_from(s.join(t, joined))
            .where(upsert, or_(false(), *(changed(c) for c in every))),
        )
    )
    await connection.execute(text(f"ANALYZE {changes.name}"))
    changed_rows = s.join(t, joined).join(changes, changes.c.line == s.c.line)

    # 2. History: one row per changed field of every existing row, before it changes.
    for column in every:
        name = spec_of[column].recorded if column in spec_of else MATCHED_FIELDS[column]
        chosen = (
            select(
                literal(target.name),
                row_key,
                literal(name),
                _as_text(t.c[column]),
                _as_text(s.c[column]),
                literal(now, HISTORY.c.changed_at.type),
                literal("feed"),
                literal(by),
                literal(str(run_id)),
                literal(department),
            )
            .select_from(changed_rows)
            .where(changed(column))
        )
        await connection.execute(
            insert(HISTORY).from_select(
                [
                    "target",
                    "row_key",
                    "field",
                    "old_value",
                    "new_value",
                    "changed_at",
                    "changed_by_kind",
                    "changed_by",
                    "source_ref",
                    "department",
                ],
                chosen,
            )
        )
    await checkpoint("history")

    # 3. Update the rows that changed.
    # Rows of the file (key unique on the stage) that are either already stored or new.
    staged = int(await connection.scalar(select(func.count()).select_from(s).where(upsert)) or 0)
    values: dict[str, Any] = {}
    for column in written:
        if column in conflicting:
            values[column] = case((t.c[column].is_(None), s.c[column]), else_=t.c[column])
        else:
            values[column] = s.c[column]
    for column in matched:
        values[column] = case((s.c.matched == true(), s.c[column]), else_=t.c[column])
    provenance = {
        "updated_at": now,
        "source_department": department,
        "source_feed": feed.code,
        "source_run": run_id,
        "source_at": now,
    }
    result = await connection.execute(
        update(t)
        .where(
            joined,
            upsert,
            s.c.line.in_(select(changes.c.line)),
            or_(false(), *(changed(c) for c in every)),
        )
        .values(**values, **provenance)
    )
    await connection.execute(DropTable(changes))
    counts.updated = max(result.rowcount, 0)
    await checkpoint("update")

    # 4. Insert the new rows whose address was placed.
    new = ~exists(select(key_t).where(key_t == key_s))
    defaults = dict(INSERT_DEFAULTS.get(target.name, {}))
    names = [key_t.name, *written, *inserted_only, *matched]
    extra = {name: value for name, value in defaults.items() if name not in names} | provenance
    chosen = select(
        *(s.c[name] for name in names),
        *(literal(value, t.c[name].type) for name, value in extra.items()),
    ).where(upsert, s.c.matched == true(), new)
    result = await connection.execute(
        insert(t).from_select([*names, *extra], chosen.order_by(s.c.line))
    )
    counts.inserted = max(result.rowcount, 0)
    await rules.after_insert(connection, target, feed, run_id, by)
    counts.not_inserted = int(
        await connection.scalar(
            select(func.count()).select_from(s).where(upsert, s.c.matched == false(), new)
        )
        or 0
    )
    existing = staged - counts.inserted - counts.not_inserted
    counts.unchanged = existing - counts.updated
    await checkpoint("insert")

    # 5. Removed rows: a snapshot's absent rows (of this feed), a delta's deleted ones.
    if feed.mode == "snapshot":
        gone = and_(
            t.c.source_feed == feed.code,
            ~exists(select(key_s).where(key_s == key_t)),
            rules.removable(target),
        )
    else:
        gone = and_(
            exists(select(key_s).where(key_s == key_t, s.c.op == DELETE)),
            rules.removable(target),
        )
    # Found once, then tombstoned, unlinked and deleted by key.
    leaving = Table(f"{s.name}_gone", MetaData(), Column("key", key_t.type), prefixes=["TEMPORARY"])
    await connection.execute(CreateTable(leaving))
    await connection.execute(insert(leaving).from_select(["key"], select(key_t).where(gone)))
    await connection.execute(text(f"ANALYZE {leaving.name}"))
    gone = key_t.in_(select(leaving.c.key))
    await connection.execute(
        insert(REMOVED).from_select(
            ["target", "row_key", "grid_code", "removed_at", "removed_by", "source_ref"],
            select(
                literal(target.name),
                row_key,
                t.c[target.grid_column],
                literal(now, REMOVED.c.removed_at.type),
                literal("feed"),
                literal(f"{feed.code}/{run_id}"),
            ).where(gone),
        )
    )
    await rules.before_remove(
        connection, target, select(t.c[target.row_key_column]).where(gone), by, run_id, now
    )
    result = await connection.execute(delete(t).where(gone))
    counts.removed = max(result.rowcount, 0)
    await connection.execute(DropTable(leaving))
    await checkpoint("remove")
    return counts


async def keep_rejected_keys(
    connection: AsyncConnection, stage: Stage, keys: list[tuple[int, str]]
) -> None:
    """Stage the keys of rejected rows as ``keep``: a snapshot does not remove them."""
    if keys:
        column = stage.target.key_column.name
        await connection.execute(
            insert(stage.table),
            [{"line": line, "op": KEEP, "matched": False, column: key} for line, key in keys],
        )


async def add_candidates(
    connection: AsyncConnection, target: Target, run_id: int, rows: list[dict[str, Any]]
) -> None:
    """Keep the unplaced addresses; a row already in the hub is named by its row key (a
    person's id), a new one by its natural key."""
    if not rows:
        return
    await connection.execute(insert(CANDIDATES), rows)
    if target.row_key_column != target.key_column.name:
        t = target.table
        found = (
            select(_as_text(t.c[target.row_key_column]))
            .where(target.key_column == CANDIDATES.c.row_key)
            .scalar_subquery()
        )
        await connection.execute(
            update(CANDIDATES)
            .where(
                CANDIDATES.c.run_id == run_id,
                CANDIDATES.c.target == target.name,
                exists(select(target.key_column).where(target.key_column == CANDIDATES.c.row_key)),
            )
            .values(row_key=found)
        )
