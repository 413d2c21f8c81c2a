"""A batch: the entries and checkpoints one transaction writes, and the chain state it leaves.

:func:`build_batch` numbers, stamps and hashes queued entries onto the chain as the last commit
left it (:class:`ChainState`) and signs the checkpoints that fall due, changing nothing: the
writer takes the batch's chain state as its own only once the batch has committed. After a
failed transaction it reads the state back instead (:func:`read_chain_state`), because a commit
whose acknowledgement was lost did happen.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from audit.chain import b64encode, checkpoint_message, entry_hash
from audit.record import GENESIS, AuditRecord
from store.models.audit import AuditCheckpoint, AuditEntry

Clock = Callable[[], datetime]


class Signer(Protocol):
    """The checkpoint key: the current one's id and signature (``audit.keys.AuditKeys``)."""

    def refresh(self) -> bool: ...
    @property
    def key_id(self) -> str: ...
    def sign(self, message: bytes) -> bytes: ...


@dataclass(frozen=True)
class ChainState:
    """What the last committed transaction left: the state the next batch continues from."""

    seq: int = 0
    head: str = GENESIS
    at: datetime | None = None
    checkpoints: int = 0  # the number of the last checkpoint
    signed_seq: int = 0  # the seq the last checkpoint covers
    sealed: bool = False
    #: Whether the chain's genesis checkpoint (number 0, seq 0) is written: it opens the
    #: chain, so a chain the audit key never signed fails verification.
    opened: bool = False


@dataclass(frozen=True)
class Receipt:
    """Where a committed entry sits in the log."""

    writer_id: str
    seq: int
    hash: str
    at: datetime


@dataclass
class Queued:
    """An entry waiting for the flusher, stamped when it was handed over."""

    record: AuditRecord
    at: datetime
    future: asyncio.Future[Receipt]


@dataclass
class Batch:
    """The rows of one transaction, as column values, and the chain state once it commits."""

    entries: list[dict[str, Any]] = field(default_factory=list)
    checkpoints: list[dict[str, Any]] = field(default_factory=list)
    chain: ChainState = field(default_factory=ChainState)


def sign_checkpoint(
    keys: Signer, writer_id: str, number: int, seq: int, head: str, at: datetime, final: bool
) -> dict[str, Any]:
    """A checkpoint's columns, signed with the current key."""
    keys.refresh()  # a rotation by `gridhub audit keys rotate` takes effect here
    values: dict[str, Any] = {
        "writer_id": writer_id,
        "number": number,
        "seq": seq,
        "head_hash": head,
        "at": at,
        "key_id": keys.key_id,
        "final": final,
    }
    values["signature"] = b64encode(keys.sign(checkpoint_message(values)))
    return values


def build_batch(
    chain: ChainState,
    queued: list[Queued],
    *,
    writer_id: str,
    keys: Signer,
    every: int,
    clock: Clock,
    checkpoint: bool,
    final: bool,
) -> Batch:
    """Number, stamp and hash the entries, and sign what falls due; changes no state.

    A checkpoint falls due every ``every`` entries; with ``checkpoint`` one covers whatever is
    unsigned at the end, and with ``final`` one seals the chain. An entry's ``at`` never goes
    back within a chain, so a time range is a contiguous run of it.
    """
    batch = Batch()
    seq, head, floor = chain.seq, chain.head, chain.at
    number, signed = chain.checkpoints, chain.signed_seq
    if not chain.opened and (queued or final or checkpoint):
        # The genesis checkpoint: signed before the first entry, it says the chain is this
        # hub's (its writer id, no entry yet) and goes to the witness with the rest.
        now = queued[0].at if queued else clock()
        opened = now if floor is None or now > floor else floor
        batch.checkpoints.append(sign_checkpoint(keys, writer_id, 0, 0, GENESIS, opened, False))
    for item in queued:
        seq += 1
        at = item.at if floor is None or item.at > floor else floor
        floor = at
        values = {
            **item.record.columns(),
            "writer_id": writer_id,
            "seq": seq,
            "at": at,
            "prev_hash": head,
        }
        head = values["hash"] = entry_hash(values, built=True)
        batch.entries.append(values)
        if seq - signed >= every:
            number += 1
            batch.checkpoints.append(sign_checkpoint(keys, writer_id, number, seq, head, at, False))
            signed = seq
    if final or (checkpoint and seq > signed):
        now = clock()
        at = now if floor is None or now > floor else floor
        number += 1
        batch.checkpoints.append(sign_checkpoint(keys, writer_id, number, seq, head, at, final))
        signed = seq
    batch.chain = ChainState(seq, head, floor, number, signed, chain.sealed or final, True)
    return batch


async def read_chain_state(engine: AsyncEngine, writer_id: str) -> ChainState:
    """The chain's state as the database has it: the truth after an uncertain commit."""
    async with engine.connect() as connection:
        last = (
            await connection.execute(
                select(AuditEntry.seq, AuditEntry.hash, AuditEntry.at)
                .where(AuditEntry.writer_id == writer_id)
                .order_by(AuditEntry.seq.desc())
                .limit(1)
            )
        ).first()
        checkpoint = (
            await connection.execute(
                select(AuditCheckpoint.number, AuditCheckpoint.seq, AuditCheckpoint.final)
                .where(AuditCheckpoint.writer_id == writer_id)
                .order_by(AuditCheckpoint.number.desc())
                .limit(1)
            )
        ).first()
    chain = ChainState()
    if last is not None:
        chain = replace(chain, seq=last.seq, head=last.hash, at=last.at)
    if checkpoint is not None:
        chain = replace(
            chain,
            checkpoints=checkpoint.number,
            signed_seq=checkpoint.seq,
            sealed=checkpoint.final,
            opened=True,
        )
    return chain
