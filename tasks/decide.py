"""The authoritative department decides a correction: accepted, the shared row changes;
rejected, the task goes back to the worker with the reason. An accepted *finding* (the record
not found, moved out, deceased, vacant) changes no row: the department takes it into its own
system through its feed out, and its own feed then removes or changes the record.

An accepted correction changes the row in the same transaction as its decision: the column,
``updated_at`` (the apps' change feeds read it), the provenance columns (the department, source
``correction`` and the correction's id, and when the worker found it) and ``verified_at`` (the
record was verified on site then), with the old and new value in ``row_history``. The
department's own system collects accepted corrections through its feed out
(:mod:`tasks.feed_out`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import RowMapping, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from store.errors import BadUserInput
from store.models import OPEN_STATUSES, Correction, CorrectionKind, RowChange, Task, TaskStep
from tasks.correctable import CORRECTABLE
from tasks.errors import CorrectionDecided, CorrectionNotFound
from tasks.records import RECORDS

CORRECTIONS = Correction.__table__
TASKS = Task.__table__
HISTORY = TaskStep.__table__
ROW_HISTORY = RowChange.__table__
REASON_LENGTH = 2000
#: What ``source_feed`` says of a row last set by an accepted correction.
CORRECTION_SOURCE = "correction"


async def decide_correction(
    connection: AsyncConnection,
    *,
    correction_id: int,
    department: str,
    subject: str,
    accept: bool,
    reason: str | None,
    now: datetime,
) -> RowMapping:
    """Accept or reject correction ``correction_id`` for ``department`` (the caller's, already
    checked to decide for it), in the caller's transaction; the correction as decided."""
    reason = (reason or "").strip() or None
    if reason is not None and (len(reason) > REASON_LENGTH or "\x00" in reason):
        raise BadUserInput(f"a reason is at most {REASON_LENGTH} characters", field="reason")
    if not accept and reason is None:
        raise BadUserInput("a rejection needs its reason, for the worker", field="reason")
    row = (
        (
            await connection.execute(
                select(CORRECTIONS).where(CORRECTIONS.c.id == correction_id).with_for_update()
            )
        )
        .mappings()
        .first()
    )
    if row is None or row["department"] != department:
        raise CorrectionNotFound(f"No correction {correction_id} for your department to decide")
    if row["status"] != "pending":
        raise CorrectionDecided(
            f"Correction {correction_id} was {str(row['status']).upper()} already"
        )
    await connection.execute(
        update(CORRECTIONS)
        .where(CORRECTIONS.c.id == correction_id)
        .values(
            status="accepted" if accept else "rejected",
            decided_by=subject,
            decided_at=now,
            reason=reason,
        )
    )
    if accept and row["kind"] == CorrectionKind.FIELD.value:
        await _apply(connection, row, department, now)
    elif accept:
        pass  # a finding: the department takes the fact in through its feed out
    else:
        await _return_task(connection, row, subject, reason or "", now)
    decided = (
        (await connection.execute(select(CORRECTIONS).where(CORRECTIONS.c.id == correction_id)))
        .mappings()
        .one()
    )
    return decided


async def _apply(
    connection: AsyncConnection, correction: RowMapping, department: str, now: datetime
) -> None:
    record = RECORDS[str(correction["target"])]
    field = str(correction["field"])
    spec = CORRECTABLE[record.target][field]
    table = record.model.__table__
    key = table.c[record.key_name] == record.key_value(str(correction["row_key"]))
    current = (await connection.execute(select(table.c[spec.column]).where(key))).first()
    if current is None:
        raise CorrectionDecided(
            f"The record of correction {correction['id']} is gone: reject it instead"
        )
    value = spec.parse(str(correction["new_value"]))
    old = current[0]
    found_at = correction["proposed_at"]
    await connection.execute(
        update(table)
        .where(key)
        .values(
            {
                spec.column: value,
                "updated_at": now,
                "source_department": department,
                "source_feed": CORRECTION_SOURCE,
                "source_run": correction["id"],
                "source_at": found_at,
                "verified_at": found_at,
            }
        )
    )
    await connection.execute(
        insert(ROW_HISTORY).values(
            target=record.target,
            row_key=str(correction["row_key"]),
            field=field,
            old_value=None if old is None else spec.show(old),
            new_value=spec.show(value),
            changed_at=now,
            changed_by_kind="correction",
            changed_by=str(correction["proposed_by"]),
            source_ref=f"correction:{correction['id']}",
            department=department,
        )
    )


def _what(correction: RowMapping) -> str:
    """The field a correction changes, or the finding's outcome (``MOVED_OUT``)."""
    if correction["kind"] == CorrectionKind.FINDING.value:
        return str(correction["new_value"]).upper()
    return str(correction["field"])


async def _return_task(
    connection: AsyncConnection,
    correction: RowMapping,
    subject: str,
    reason: str,
    now: datetime,
) -> None:
    """The task goes back to its worker, open again, with the department's reason. If the
    record has another open task for the same reason meanwhile, the reason is told there."""
    task = (
        (await connection.execute(select(TASKS).where(TASKS.c.id == correction["task_id"])))
        .mappings()
        .one()
    )
    waiting = await connection.scalar(
        select(TASKS.c.id).where(
            TASKS.c.target == task["target"],
            TASKS.c.row_key == task["row_key"],
            TASKS.c.reason == task["reason"],
            TASKS.c.status.in_(OPEN_STATUSES),
        )
    )
    task_id = int(waiting if waiting is not None else task["id"])
    if waiting is None:
        await connection.execute(
            update(TASKS)
            .where(TASKS.c.id == task_id)
            .values(status="open", outcome=None, resolved_by=None, resolved_at=None, updated_at=now)
        )
    await connection.execute(
        insert(HISTORY).values(
            task_id=task_id,
            at=now,
            by=subject,
            action="returned",
            status="open",
            note=f"{_what(correction)} rejected: {reason}",
        )
    )
