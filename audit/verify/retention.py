"""A chain whose oldest entries retention removed starts at its retention checkpoint.

Retention (:mod:`audit.retention`) leaves, for each chain it cut, a signed record of where it cut
it: the last removed entry's seq and hash, and the number of the chain's last checkpoint at or
before it. The walk starts there as ``verify --from`` starts after a checkpoint: the rest of the
chain must link to that hash. Its signature is checked with the public keys, and the checkpoint
it names must still be there, signed, and consistent with it (checkpoints are never removed).

Deleting the record does not hide anything: the chain then starts at the first entry kept, and
the walk reports the entries before it removed. Only the newest record of a chain counts; the
older ones stay for the history of what retention did.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from audit.chain import retention_signature_valid
from audit.record import render_time
from audit.stream import CHECKPOINT_COLUMNS
from audit.verify.checkpoints import checkpoint_problem
from audit.verify.report import Kind, Problem
from audit.verify.walk import Anchor
from store.models.audit import AuditCheckpoint, AuditRetention

RETENTION_COLUMNS = [
    AuditRetention.writer_id,
    AuditRetention.seq,
    AuditRetention.head_hash,
    AuditRetention.checkpoints,
    AuditRetention.before,
    AuditRetention.at,
    AuditRetention.exports,
    AuditRetention.key_id,
    AuditRetention.signature,
]


async def newest_retention(connection: AsyncConnection, writer_id: str) -> dict[str, Any] | None:
    """The chain's newest retention checkpoint, as stored; None if retention never cut it."""
    query = (
        select(*RETENTION_COLUMNS)
        .where(AuditRetention.writer_id == writer_id)
        .order_by(AuditRetention.seq.desc(), AuditRetention.id.desc())
        .limit(1)
    )
    row = (await connection.execute(query)).mappings().first()
    return None if row is None else dict(row)


def retention_problem(
    writer_id: str, values: Mapping[str, Any], public_keys: Mapping[str, Ed25519PublicKey]
) -> Problem | None:
    """What is wrong with a retention checkpoint on its own: unknown key, bad signature."""
    name = f"the retention checkpoint of chain {writer_id} (removed up to #{values['seq']})"
    key = public_keys.get(values["key_id"])
    if key is None:
        message = f"{name} is signed with key {values['key_id']!r}, which the keys do not list"
        return Problem(Kind.UNKNOWN_KEY, writer_id, values["seq"], message)
    if not retention_signature_valid(key, values):
        message = f"{name}: the signature fails, so it was changed or forged"
        return Problem(Kind.SIGNATURE, writer_id, values["seq"], message)
    return None


async def retention_anchor(
    connection: AsyncConnection, writer_id: str, public_keys: Mapping[str, Ed25519PublicKey]
) -> tuple[Anchor | None, Problem | None, str | None]:
    """Where the chain starts after retention (None: it was never cut), the problem with its
    retention checkpoint if any, and a line for the report."""
    values = await newest_retention(connection, writer_id)
    if values is None:
        return None, None, None
    problem = retention_problem(writer_id, values, public_keys)
    if problem is not None:
        return None, problem, None
    seq, head, number = values["seq"], values["head_hash"], values["checkpoints"]
    sealed = False
    found = (
        (
            await connection.execute(
                select(*CHECKPOINT_COLUMNS).where(
                    AuditCheckpoint.writer_id == writer_id, AuditCheckpoint.number == number
                )
            )
        )
        .mappings()
        .first()
    )
    if found is None and number > 0:
        message = (
            f"checkpoint {number} of chain {writer_id} was removed: the retention checkpoint "
            f"names it as the last before #{seq}"
        )
        return None, Problem(Kind.CHECKPOINT_REMOVED, writer_id, None, message, number), None
    if found is not None:
        problem = checkpoint_problem(writer_id, dict(found), public_keys)
        if problem is not None:
            return None, problem, None
        if found["seq"] > seq or (found["seq"] == seq and found["head_hash"] != head):
            message = (
                f"checkpoint {number} of chain {writer_id} does not agree with the retention "
                f"checkpoint that names it (covering #{found['seq']}, retention at #{seq})"
            )
            return None, Problem(Kind.CHANGED, writer_id, seq, message, number), None
        sealed = bool(found["final"])
    line = (
        f"chain {writer_id}: checked from #{seq + 1}, after its retention checkpoint (entries "
        f"before {render_time(values['before'])} removed on {render_time(values['at'])}, "
        f"exported to {', '.join(e['name'] for e in values['exports']) or 'nothing'})"
    )
    return Anchor(seq, head, number, sealed=sealed), None, line
