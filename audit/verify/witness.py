"""The database against the witness: every checkpoint the witness holds must be in it, as is.

The chain walk proves each chain consistent with the checkpoints the database holds; the
witness proves the database still holds every checkpoint that was ever written (up to the last
one appended). So a tail deleted together with the checkpoints covering it, or a whole chain
deleted, shows up here: the witness names a checkpoint the database lacks. Each witness line is
checked with the public keys first, so a forged line is reported, not believed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from audit.verify.checkpoints import checkpoint_problem
from audit.verify.report import Kind, Problem
from audit.witness import read_witness
from store.models.audit import AuditCheckpoint


@dataclass
class WitnessCheck:
    """What the comparison covered, and the first problem."""

    path: Path
    checkpoints: int = 0
    chains: int = 0
    problem: Problem | None = None

    def line(self) -> str:
        chains = "chain" if self.chains == 1 else "chains"
        return (
            f"witness {self.path}: {self.checkpoints} checkpoints of {self.chains} {chains}, "
            "each found in the database as written"
        )


async def compare_with_witness(
    engine: AsyncEngine,
    public_keys: Mapping[str, Ed25519PublicKey],
    path: Path,
    writer_id: str | None = None,
) -> WitnessCheck:
    """Check every checkpoint of ``path`` (of one chain, with ``writer_id``) against the
    database; :class:`~audit.witness.WitnessError` if the witness can not be read."""
    check = WitnessCheck(path)
    known: dict[str, dict[int, tuple[int, str, str, bool]]] = {}
    async with engine.connect() as connection:
        for line, values in read_witness(path):
            chain = values.get("writer_id")
            if writer_id is not None and chain != writer_id:
                continue
            if not isinstance(chain, str):
                message = f"witness line {line} is not a checkpoint"
                check.problem = Problem(Kind.MALFORMED, None, None, message)
                break
            problem = checkpoint_problem(chain, values, public_keys)
            if problem is not None:
                message = f"witness line {line}: {problem.message}"
                check.problem = Problem(
                    problem.kind, chain, problem.seq, message, problem.checkpoint
                )
                break
            if chain not in known:
                rows = await connection.execute(
                    select(
                        AuditCheckpoint.number,
                        AuditCheckpoint.seq,
                        AuditCheckpoint.head_hash,
                        AuditCheckpoint.signature,
                        AuditCheckpoint.final,
                    ).where(AuditCheckpoint.writer_id == chain)
                )
                known[chain] = {row.number: tuple(row[1:]) for row in rows}  # type: ignore[misc]
                check.chains += 1
            check.problem = _missing(chain, values, known[chain], line)
            if check.problem is not None:
                break
            check.checkpoints += 1
    return check


def _missing(
    chain: str,
    values: Mapping[str, Any],
    stored: Mapping[int, tuple[int, str, str, bool]],
    line: int,
) -> Problem | None:
    number, seq = values["number"], values["seq"]
    name = f"checkpoint {number} of chain {chain} (covering up to #{seq})"
    if not stored:
        return Problem(
            Kind.WITNESS,
            chain,
            seq,
            f"chain {chain} was removed: the witness holds its {name} (line {line}), the "
            "database has no checkpoint of it",
            number,
        )
    found = stored.get(number)
    if found is None:
        last = max(stored)
        return Problem(
            Kind.WITNESS,
            chain,
            seq,
            f"{name} was removed, with the entries it covers: the witness holds it (line "
            f"{line}), the database's last checkpoint of the chain is {last}",
            number,
        )
    if found != (seq, values["head_hash"], values["signature"], values["final"]):
        return Problem(
            Kind.WITNESS,
            chain,
            seq,
            f"{name} differs from the witness's copy (line {line}): it was replaced",
            number,
        )
    return None
