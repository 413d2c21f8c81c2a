"""A department's feed out: the corrections it accepted, for its own system to take in.

"Data returned" (数据回流): once a department accepts a correction, the shared row holds the
value found on site, and the department's own database should too. Its system collects the
accepted corrections since the last it took, in the order they were decided, one JSON object
per line (``GET /feeds/{code}/corrections?since=…``, :mod:`hub.endpoints.corrections`): those
of the records its feed ``code`` fills, or (a department's code in place of a feed's) all of
the department's. A line is a changed field (``"kind": "field"``) or a finding about the whole
record (``"kind": "finding"``, ``"finding": "MOVED_OUT"``, no field).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from store.models import Correction, CorrectionKind

CORRECTIONS = Correction.__table__
#: The most lines one request returns; ask again ``since`` the last line's ``decidedAt``.
PAGE = 5000


def _line(row: Any) -> dict[str, Any]:
    finding = row.kind == CorrectionKind.FINDING.value
    return {
        "correction": int(row.id),
        "kind": row.kind,
        "finding": str(row.new_value).upper() if finding else None,
        "target": row.target,
        "recordKey": row.row_key,
        "gridCode": row.grid_code,
        "field": row.field,
        "oldValue": None if finding else row.old_value,
        "newValue": None if finding else row.new_value,
        "resource": row.resource_code,
        "verifiedBy": row.proposed_by,
        "verifiedAt": row.proposed_at.isoformat(),
        "decidedBy": row.decided_by,
        "decidedAt": row.decided_at.isoformat(),
    }


async def accepted_since(
    connection: AsyncConnection,
    department: str,
    since: datetime | None,
    after_id: int = 0,
    limit: int = PAGE,
    target: str | None = None,
) -> AsyncIterator[dict[str, Any]]:
    """The department's accepted corrections (of ``target``'s records, if given) decided after
    ``since`` (or at ``since`` with an id above ``after_id``), oldest decision first, at most
    ``limit``."""
    where = [CORRECTIONS.c.department == department, CORRECTIONS.c.status == "accepted"]
    if target is not None:
        where.append(CORRECTIONS.c.target == target)
    if since is not None:
        where.append(
            or_(
                CORRECTIONS.c.decided_at > since,
                and_(CORRECTIONS.c.decided_at == since, CORRECTIONS.c.id > after_id),
            )
        )
    rows = await connection.execute(
        select(CORRECTIONS)
        .where(*where)
        .order_by(CORRECTIONS.c.decided_at, CORRECTIONS.c.id)
        .limit(limit)
    )
    for row in rows:
        yield _line(row)
