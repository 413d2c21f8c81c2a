"""A witness outside the database, and chains the audit key never signed.

Someone with write access to the database deletes a chain's newest entries together with the
checkpoints that cover them, or a whole chain, or makes up a chain with a writer id of their
own and correct hashes: each of these left a log that verified. With the witness, the first two
fail verification; the third fails with or without it, since every chain the hub writes opens
with a signed genesis checkpoint."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from audit.chain import b64encode, checkpoint_message, entry_hash, signature_valid
from audit.keys import AuditKeys
from audit.record import GENESIS
from audit.verify import Kind, verify_database
from audit.witness import FileWitness, WitnessError, open_witness
from cli.audit import audit_app
from hub.settings import Settings
from store.models import AuditCheckpoint, AuditEntry, AuditFieldRead, AuditPersonRead
from store.models.audit import AuditIndexMark
from tests.audit.conftest import MakeWriter
from tests.audit.helpers import record

runner = CliRunner()


async def _log(make_writer: MakeWriter, witness: Path, entries: int = 35) -> str:
    writer = await make_writer(witness=FileWitness(witness))
    for _ in range(entries):
        await writer.record(record())
    await writer.close()
    return writer.writer_id


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


async def _cut_tail(engine: AsyncEngine, writer_id: str, after_seq: int) -> None:
    """What an intruder does: delete the newest entries, their index rows and every checkpoint
    that covers them, so that what is left is a consistent, shorter chain."""
    async with engine.begin() as connection:
        ids = select(AuditEntry.id).where(
            AuditEntry.writer_id == writer_id, AuditEntry.seq > after_seq
        )
        await connection.execute(delete(AuditPersonRead).where(AuditPersonRead.entry_id.in_(ids)))
        await connection.execute(delete(AuditFieldRead).where(AuditFieldRead.entry_id.in_(ids)))
        await connection.execute(
            delete(AuditEntry).where(AuditEntry.writer_id == writer_id, AuditEntry.seq > after_seq)
        )
        await connection.execute(
            delete(AuditCheckpoint).where(
                AuditCheckpoint.writer_id == writer_id, AuditCheckpoint.seq > after_seq
            )
        )


async def test_every_checkpoint_goes_to_the_witness_signed(
    make_writer: MakeWriter, audit_engine: AsyncEngine, audit_keys: AuditKeys, tmp_path: Path
) -> None:
    witness = tmp_path / "witness.jsonl"
    writer_id = await _log(make_writer, witness)
    lines = _lines(witness)
    # The genesis, one every 10 entries, the final one: as the database holds them.
    assert [(c["number"], c["seq"], c["final"]) for c in lines] == [
        (0, 0, False),
        (1, 10, False),
        (2, 20, False),
        (3, 30, False),
        (4, 35, True),
    ]
    assert lines[0]["head_hash"] == GENESIS
    assert all(c["writer_id"] == writer_id for c in lines)
    assert all(signature_valid(audit_keys.public_keys[c["key_id"]], c) for c in lines)
    report = await verify_database(audit_engine, audit_keys.public_keys, witness=witness)
    assert report.ok, report.lines()
    assert any(line.startswith("witness ") for line in report.lines())


async def test_a_tail_deleted_with_its_checkpoints_fails_against_the_witness(
    make_writer: MakeWriter, audit_engine: AsyncEngine, audit_keys: AuditKeys, tmp_path: Path
) -> None:
    witness = tmp_path / "witness.jsonl"
    writer_id = await _log(make_writer, witness)
    await _cut_tail(audit_engine, writer_id, 20)
    # Without the witness the shorter chain looks whole (what the witness is for).
    alone = await verify_database(audit_engine, audit_keys.public_keys)
    assert alone.ok, alone.lines()
    report = await verify_database(audit_engine, audit_keys.public_keys, witness=witness)
    assert report.problem is not None
    assert report.problem.kind == Kind.WITNESS
    assert (report.problem.writer_id, report.problem.checkpoint) == (writer_id, 3)
    assert "removed" in report.lines()[0]


async def test_a_whole_chain_deleted_fails_against_the_witness(
    make_writer: MakeWriter, audit_engine: AsyncEngine, audit_keys: AuditKeys, tmp_path: Path
) -> None:
    witness = tmp_path / "witness.jsonl"
    kept = await _log(make_writer, witness, 12)
    gone = await _log(make_writer, witness, 12)
    await _cut_tail(audit_engine, gone, 0)
    async with audit_engine.begin() as connection:
        await connection.execute(delete(AuditCheckpoint).where(AuditCheckpoint.writer_id == gone))
    report = await verify_database(audit_engine, audit_keys.public_keys, witness=witness)
    assert report.problem is not None
    assert (report.problem.kind, report.problem.writer_id) == (Kind.WITNESS, gone)
    assert f"chain {gone} was removed" in str(report.problem)
    # One chain only: the other one is whole.
    one = await verify_database(
        audit_engine, audit_keys.public_keys, writer_id=kept, witness=witness
    )
    assert one.ok, one.lines()


async def test_a_replaced_checkpoint_fails_against_the_witness(
    make_writer: MakeWriter, audit_engine: AsyncEngine, audit_keys: AuditKeys, tmp_path: Path
) -> None:
    """The intruder holds the signing key too (an old backup): they re-sign a shorter chain's
    final checkpoint. The chain walk accepts it; the witness's copy differs."""
    witness = tmp_path / "witness.jsonl"
    writer_id = await _log(make_writer, witness)
    await _cut_tail(audit_engine, writer_id, 20)
    async with audit_engine.begin() as connection:
        head = (
            await connection.execute(
                select(AuditEntry.hash).where(
                    AuditEntry.writer_id == writer_id, AuditEntry.seq == 20
                )
            )
        ).scalar_one()
        await connection.execute(
            delete(AuditCheckpoint).where(
                AuditCheckpoint.writer_id == writer_id, AuditCheckpoint.number == 2
            )
        )
        values: dict[str, Any] = {
            "writer_id": writer_id,
            "number": 2,
            "seq": 20,
            "head_hash": head,
            "at": (await connection.execute(select(AuditEntry.at).limit(1))).scalar_one(),
            "key_id": audit_keys.key_id,
            "final": True,
        }
        values["signature"] = b64encode(audit_keys.sign(checkpoint_message(values)))
        await connection.execute(insert(AuditCheckpoint), [values])
    assert (await verify_database(audit_engine, audit_keys.public_keys)).ok
    report = await verify_database(audit_engine, audit_keys.public_keys, witness=witness)
    assert report.problem is not None
    assert (report.problem.kind, report.problem.checkpoint) == (Kind.WITNESS, 2)


async def _forge_chain(engine: AsyncEngine, writer_id: str, entries: int) -> None:
    """A chain made up from nothing: a new writer id, correct seqs, links and hashes."""
    rows = []
    head = GENESIS
    at = datetime.now(UTC)
    for seq in range(1, entries + 1):
        values = {
            **record().columns(),
            "writer_id": writer_id,
            "seq": seq,
            "at": at,
            "prev_hash": head,
        }
        head = values["hash"] = entry_hash(values)
        rows.append(values)
    async with engine.begin() as connection:
        await connection.execute(insert(AuditEntry), rows)
        # Its search index "not written yet", so that only the chain itself is in question.
        await connection.execute(insert(AuditIndexMark), [{"writer_id": writer_id, "seq": 0}])


async def test_a_forged_chain_with_valid_hashes_fails(
    make_writer: MakeWriter, audit_engine: AsyncEngine, audit_keys: AuditKeys, tmp_path: Path
) -> None:
    await _log(make_writer, tmp_path / "witness.jsonl", 5)
    forged = "f" * 32
    await _forge_chain(audit_engine, forged, 7)
    report = await verify_database(audit_engine, audit_keys.public_keys)
    assert report.problem is not None
    assert (report.problem.kind, report.problem.writer_id) == (Kind.UNSIGNED_CHAIN, forged)
    assert "never signed" in report.lines()[0]


async def test_a_forged_chain_with_a_genesis_from_another_key_fails(
    make_writer: MakeWriter, audit_engine: AsyncEngine, audit_keys: AuditKeys, tmp_path: Path
) -> None:
    forged = "e" * 32
    await _forge_chain(audit_engine, forged, 3)
    other = AuditKeys.load_or_create(tmp_path / "other-keys")
    async with audit_engine.begin() as connection:
        at = (await connection.execute(select(AuditEntry.at).limit(1))).scalar_one()
        values = {
            "writer_id": forged,
            "number": 0,
            "seq": 0,
            "head_hash": GENESIS,
            "at": at,
            "key_id": audit_keys.key_id,  # claims the hub's key; signed with another
            "final": False,
        }
        values["signature"] = b64encode(other.sign(checkpoint_message(values)))
        await connection.execute(insert(AuditCheckpoint), [values])
    report = await verify_database(audit_engine, audit_keys.public_keys)
    assert report.problem is not None
    assert (report.problem.kind, report.problem.writer_id) == (Kind.SIGNATURE, forged)


async def test_a_witness_that_fails_gets_the_checkpoints_later(
    make_writer: MakeWriter, audit_engine: AsyncEngine, audit_keys: AuditKeys, tmp_path: Path
) -> None:
    """Writing the witness never fails a request; what could not be appended is appended
    with the next checkpoint."""
    folder = tmp_path / "witness"
    witness = folder / "audit.jsonl"  # its folder does not exist yet: appending fails
    writer = await make_writer(witness=FileWitness(witness))
    for _ in range(12):
        await writer.record(record())  # answered although the witness is unreachable
    assert not witness.exists()
    folder.mkdir()
    for _ in range(10):
        await writer.record(record())
    await writer.close()
    assert [c["number"] for c in _lines(witness)] == [0, 1, 2, 3]
    report = await verify_database(audit_engine, audit_keys.public_keys, witness=witness)
    assert report.ok, report.lines()


def test_a_witness_is_a_file_url(tmp_path: Path) -> None:
    assert open_witness(None) is None
    assert open_witness(f"file://{tmp_path}/w.jsonl") == FileWitness(tmp_path / "w.jsonl")
    for bad in ("syslog://localhost", "https://example.org/w", f"file://{tmp_path}/no/w.jsonl"):
        with pytest.raises(WitnessError):
            open_witness(bad)
    with pytest.raises(ValueError, match="file URL"):
        Settings(audit_witness="ftp://x/y", _env_file=None)  # type: ignore[call-arg]


async def test_verify_command_compares_with_the_witness(
    make_writer: MakeWriter, audit_engine: AsyncEngine, audit_settings: Settings, tmp_path: Path
) -> None:
    witness = tmp_path / "witness.jsonl"
    writer_id = await _log(make_writer, witness)
    options = [
        "--database-url",
        audit_settings.database_url,
        "--key-dir",
        str(audit_settings.audit_key_dir),
        "-q",
    ]

    def verify(*arguments: str) -> Any:  # the command runs its own event loop: another thread
        return asyncio.to_thread(runner.invoke, audit_app, ["verify", *options, *arguments])

    intact = await verify("--witness", witness.as_uri())
    assert intact.exit_code == 0, intact.output
    assert f"witness {witness}: 5 checkpoints of 1 chain" in intact.stdout
    missing = await verify("--witness", str(tmp_path / "no"))
    assert missing.exit_code == 2, missing.output
    await _cut_tail(audit_engine, writer_id, 20)
    cut = await verify("--witness", str(witness))
    assert cut.exit_code == 1, cut.output
    assert cut.stdout.startswith("TAMPERED (missing per witness)")
