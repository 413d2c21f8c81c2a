"""Verifying the database: an intact log passes; each kind of tampering is found and named.

Every tamper works on the tables directly, as someone with database access would: change,
delete, insert and reorder entries (with and without recomputing hashes), the same for
checkpoints, and the search index. The report must name the first bad entry or checkpoint.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from audit.chain import entry_hash
from audit.keys import AuditKeys, rotate
from audit.record import ENTRY_FIELDS
from audit.verify import Kind, verify_database
from audit.writer import AuditWriter
from store.models import AuditCheckpoint, AuditEntry, AuditFieldRead, AuditPersonRead
from tests.audit.conftest import MakeWriter
from tests.audit.helpers import record

Tamper = Callable[[AsyncConnection, str], Awaitable[None]]
ENTRIES = 35  # checkpoints (every 10) at 10, 20, 30, and the final one at 35


async def _log(make_writer: MakeWriter, entries: int = ENTRIES, close: bool = True) -> AuditWriter:
    writer = await make_writer()
    for _ in range(entries):
        await writer.record(record())
    if close:
        await writer.close()
    return writer


def _entry(writer_id: str, seq: int) -> Any:
    return (AuditEntry.writer_id == writer_id) & (AuditEntry.seq == seq)


async def _row(connection: AsyncConnection, writer_id: str, seq: int) -> dict[str, Any]:
    query = select(AuditEntry.__table__).where(_entry(writer_id, seq))
    return dict((await connection.execute(query)).mappings().one())


async def _set(connection: AsyncConnection, writer_id: str, number: int, **values: Any) -> None:
    """Set columns of entry #``number`` (``seq=`` among them, to renumber it)."""
    await connection.execute(update(AuditEntry).where(_entry(writer_id, number)).values(**values))


async def _rehash(connection: AsyncConnection, writer_id: str, seq: int, **values: Any) -> str:
    """Change an entry and give it the hash its new content has (a careful forger)."""
    row = {**await _row(connection, writer_id, seq), **values}
    row["hash"] = entry_hash(row)
    await _set(connection, writer_id, seq, **values, hash=row["hash"])
    return str(row["hash"])


async def _delete(connection: AsyncConnection, writer_id: str, *seqs: int) -> None:
    ids = select(AuditEntry.id).where(AuditEntry.writer_id == writer_id, AuditEntry.seq.in_(seqs))
    await connection.execute(delete(AuditPersonRead).where(AuditPersonRead.entry_id.in_(ids)))
    await connection.execute(delete(AuditFieldRead).where(AuditFieldRead.entry_id.in_(ids)))
    await connection.execute(
        delete(AuditEntry).where(AuditEntry.writer_id == writer_id, AuditEntry.seq.in_(seqs))
    )


async def _shift(connection: AsyncConnection, writer_id: str, start: int, by: int) -> None:
    """Renumber entries from ``start`` on by ``by`` (through negatives: seqs are unique)."""
    chain = AuditEntry.writer_id == writer_id
    await connection.execute(
        update(AuditEntry).where(chain, AuditEntry.seq >= start).values(seq=-AuditEntry.seq)
    )
    await connection.execute(
        update(AuditEntry).where(chain, AuditEntry.seq < 0).values(seq=by - AuditEntry.seq)
    )


async def _swap(connection: AsyncConnection, writer_id: str, a: int, b: int) -> None:
    await _set(connection, writer_id, a, seq=-1)
    await _set(connection, writer_id, b, seq=a)
    await _set(connection, writer_id, -1, seq=b)


async def _forge(connection: AsyncConnection, writer_id: str, seq: int, prev_hash: str) -> None:
    """Insert a well-formed entry that links to ``prev_hash`` (hash and all)."""
    template = await _row(connection, writer_id, 1)
    values = {name: template[name] for name in ENTRY_FIELDS}
    values.update(seq=seq, prev_hash=prev_hash, subject="someone-else", person_ids=[])
    values["hash"] = entry_hash(values)
    await connection.execute(insert(AuditEntry).values(**values))


def _checkpoint(writer_id: str, number: int) -> Any:
    return (AuditCheckpoint.writer_id == writer_id) & (AuditCheckpoint.number == number)


async def _set_checkpoint(
    connection: AsyncConnection, writer_id: str, number: int, **values: Any
) -> None:
    statement = update(AuditCheckpoint).where(_checkpoint(writer_id, number)).values(**values)
    await connection.execute(statement)


async def _entry_id(connection: AsyncConnection, writer_id: str, seq: int) -> int:
    return int((await _row(connection, writer_id, seq))["id"])


# Each case: (tamper, the kind found, the seq named, the checkpoint named or None).


async def change_a_column(c: AsyncConnection, w: str) -> None:
    await _set(c, w, 17, purpose="无")


async def change_a_json_column_and_its_index(c: AsyncConnection, w: str) -> None:
    await _set(c, w, 17, person_ids=[])
    entry_id = await _entry_id(c, w, 17)
    await c.execute(delete(AuditPersonRead).where(AuditPersonRead.entry_id == entry_id))


async def change_the_time(c: AsyncConnection, w: str) -> None:
    row = await _row(c, w, 17)
    await _set(c, w, 17, at=row["at"].replace(year=2025))


async def change_and_rehash(c: AsyncConnection, w: str) -> None:
    await _rehash(c, w, 17, subject="innocent")


async def change_and_rehash_the_last_entry(c: AsyncConnection, w: str) -> None:
    await _rehash(c, w, 35, subject="innocent")


async def rewrite_the_chain_from_13(c: AsyncConnection, w: str) -> None:
    """Change #13, then rehash and relink every entry after it: only a signature can tell."""
    previous = await _rehash(c, w, 13, subject="innocent")
    for seq in range(14, ENTRIES + 1):
        previous = await _rehash(c, w, seq, prev_hash=previous)


async def delete_one(c: AsyncConnection, w: str) -> None:
    await _delete(c, w, 17)


async def delete_one_and_renumber(c: AsyncConnection, w: str) -> None:
    await _delete(c, w, 17)
    await _shift(c, w, 18, -1)


async def delete_the_tail(c: AsyncConnection, w: str) -> None:
    await _delete(c, w, 33, 34, 35)


async def delete_every_entry(c: AsyncConnection, w: str) -> None:
    await _delete(c, w, *range(1, ENTRIES + 1))


async def insert_and_renumber(c: AsyncConnection, w: str) -> None:
    before = (await _row(c, w, 16))["hash"]
    await _shift(c, w, 17, 1)
    await _forge(c, w, 17, before)


async def insert_rehash_and_renumber(c: AsyncConnection, w: str) -> None:
    """Insert, renumber, and rehash the renumbered entries (without relinking them)."""
    await insert_and_renumber(c, w)
    for seq in range(18, ENTRIES + 2):
        await _rehash(c, w, seq)


async def append_after_the_seal(c: AsyncConnection, w: str) -> None:
    await _forge(c, w, ENTRIES + 1, (await _row(c, w, ENTRIES))["hash"])


async def swap_neighbours(c: AsyncConnection, w: str) -> None:
    await _swap(c, w, 17, 18)


async def swap_far_apart(c: AsyncConnection, w: str) -> None:
    await _swap(c, w, 12, 16)


async def change_a_checkpoint_head(c: AsyncConnection, w: str) -> None:
    await _set_checkpoint(c, w, 2, head_hash="f" * 64)


async def move_a_checkpoint(c: AsyncConnection, w: str) -> None:
    await _set_checkpoint(c, w, 2, seq=19)


async def copy_a_signature(c: AsyncConnection, w: str) -> None:
    query = select(AuditCheckpoint.signature).where(_checkpoint(w, 1))
    signature = (await c.execute(query)).scalar_one()
    await _set_checkpoint(c, w, 2, signature=signature)


async def delete_a_checkpoint(c: AsyncConnection, w: str) -> None:
    await c.execute(delete(AuditCheckpoint).where(_checkpoint(w, 2)))


async def name_an_unknown_key(c: AsyncConnection, w: str) -> None:
    await _set_checkpoint(c, w, 3, key_id="not-a-key-the-hub-had")


async def delete_an_index_row(c: AsyncConnection, w: str) -> None:
    entry_id = await _entry_id(c, w, 17)
    await c.execute(delete(AuditPersonRead).where(AuditPersonRead.entry_id == entry_id))


async def add_an_index_row(c: AsyncConnection, w: str) -> None:
    row = await _row(c, w, 17)
    values = {"entry_id": row["id"], "person_id": "framed-person", "at": row["at"]}
    await c.execute(insert(AuditPersonRead).values(**values))


async def repoint_an_index_row(c: AsyncConnection, w: str) -> None:
    """Move a read of a field to another entry: it disappears from one, appears in another."""
    source, target = await _entry_id(c, w, 17), await _entry_id(c, w, 23)
    await c.execute(
        delete(AuditFieldRead).where(
            AuditFieldRead.entry_id == target, AuditFieldRead.field == "name"
        )
    )
    await c.execute(
        update(AuditFieldRead)
        .where(AuditFieldRead.entry_id == source, AuditFieldRead.field == "name")
        .values(entry_id=target)
    )


async def change_an_index_decision(c: AsyncConnection, w: str) -> None:
    entry_id = await _entry_id(c, w, 17)
    await c.execute(
        update(AuditFieldRead)
        .where(AuditFieldRead.entry_id == entry_id, AuditFieldRead.decision == "MASK")
        .values(decision="ALLOW")
    )


CASES: list[tuple[Tamper, Kind, int | None, int | None]] = [
    (change_a_column, Kind.CHANGED, 17, None),
    (change_a_json_column_and_its_index, Kind.CHANGED, 17, None),
    (change_the_time, Kind.CHANGED, 17, None),
    (change_and_rehash, Kind.CHANGED, 17, None),
    (change_and_rehash_the_last_entry, Kind.CHANGED, 35, 4),
    (rewrite_the_chain_from_13, Kind.CHANGED, 20, 2),
    (delete_one, Kind.REMOVED, 17, None),
    (delete_one_and_renumber, Kind.REMOVED, 17, None),
    (delete_the_tail, Kind.TAIL_CUT, 33, 4),
    (delete_every_entry, Kind.TAIL_CUT, 1, 1),
    (insert_and_renumber, Kind.INSERTED, 17, None),
    (insert_rehash_and_renumber, Kind.INSERTED, 17, None),
    (append_after_the_seal, Kind.INSERTED, 36, None),
    (swap_neighbours, Kind.REORDERED, 17, None),
    (swap_far_apart, Kind.REORDERED, 12, None),
    (change_a_checkpoint_head, Kind.SIGNATURE, 20, 2),
    (move_a_checkpoint, Kind.SIGNATURE, 19, 2),
    (copy_a_signature, Kind.SIGNATURE, 20, 2),
    (delete_a_checkpoint, Kind.CHECKPOINT_REMOVED, None, 2),
    (name_an_unknown_key, Kind.UNKNOWN_KEY, 30, 3),
    (delete_an_index_row, Kind.INDEX, 17, None),
    (add_an_index_row, Kind.INDEX, 17, None),
    (repoint_an_index_row, Kind.INDEX, 17, None),
    (change_an_index_decision, Kind.INDEX, 17, None),
]


async def test_an_intact_log_verifies(
    make_writer: MakeWriter, audit_engine: AsyncEngine, audit_keys: AuditKeys
) -> None:
    await _log(make_writer)
    report = await verify_database(audit_engine, audit_keys.public_keys)
    assert report.ok, report.lines()
    assert (report.entries, report.checkpoints, report.chains) == (ENTRIES, 5, 1)  # and genesis
    assert report.sealed_chains == 1
    assert report.unsigned == []
    assert report.lines()[0].startswith("INTACT")


@pytest.mark.parametrize(
    ("tamper", "kind", "seq", "checkpoint"), CASES, ids=[case[0].__name__ for case in CASES]
)
async def test_tampering_is_found_and_the_first_bad_one_named(
    make_writer: MakeWriter,
    audit_engine: AsyncEngine,
    audit_keys: AuditKeys,
    tamper: Tamper,
    kind: Kind,
    seq: int | None,
    checkpoint: int | None,
) -> None:
    decoy = await _log(make_writer, 12)  # another chain, intact, checked too
    writer = await _log(make_writer)
    async with audit_engine.begin() as connection:
        await tamper(connection, writer.writer_id)
    report = await verify_database(audit_engine, audit_keys.public_keys)
    assert not report.ok
    problem = report.problem
    assert problem is not None
    assert (problem.kind, problem.writer_id, problem.seq, problem.checkpoint) == (
        kind,
        writer.writer_id,
        seq,
        checkpoint,
    ), problem.message
    assert writer.writer_id in problem.message
    if seq is not None:
        assert f"#{seq}" in problem.message
    assert report.lines()[0].startswith(f"TAMPERED ({kind})")
    assert decoy.writer_id != writer.writer_id


async def test_a_running_writers_unsigned_tail_is_reported_not_failed(
    make_writer: MakeWriter, audit_engine: AsyncEngine, audit_keys: AuditKeys
) -> None:
    writer = await _log(make_writer, 14, close=False)
    report = await verify_database(audit_engine, audit_keys.public_keys)
    assert report.ok, report.lines()
    assert [(t.writer_id, t.first_seq, t.last_seq) for t in report.unsigned] == [
        (writer.writer_id, 11, 14)
    ]
    assert "#11..#14 not yet covered" in "\n".join(report.lines())


async def test_from_seq_starts_at_the_newest_checkpoint_before_it(
    make_writer: MakeWriter, audit_engine: AsyncEngine, audit_keys: AuditKeys
) -> None:
    writer = await _log(make_writer)
    async with audit_engine.begin() as connection:
        await _set(connection, writer.writer_id, 15, purpose="无")
    keys = audit_keys.public_keys
    later = await verify_database(audit_engine, keys, from_seq=25)
    assert later.ok, later.lines()
    assert later.entries == ENTRIES - 20  # from checkpoint 2 at #20
    assert "checked from #21, after signed checkpoint 2" in "\n".join(later.lines())
    # The entry before --from is still checked when it is after the anchoring checkpoint.
    earlier = await verify_database(audit_engine, keys, from_seq=18)
    assert earlier.problem is not None
    assert (earlier.problem.kind, earlier.problem.seq) == (Kind.CHANGED, 15)
    # The anchor's own signature is checked.
    async with audit_engine.begin() as connection:
        await _set_checkpoint(connection, writer.writer_id, 2, head_hash="e" * 64)
    anchored = await verify_database(audit_engine, keys, from_seq=25)
    assert anchored.problem is not None
    assert (anchored.problem.kind, anchored.problem.checkpoint) == (Kind.SIGNATURE, 2)


async def test_old_checkpoints_verify_after_a_key_rotation(
    make_writer: MakeWriter, audit_engine: AsyncEngine, audit_settings: Any, tmp_path: Any
) -> None:
    key_dir = tmp_path / "keys"
    keys = AuditKeys.load_or_create(key_dir)
    old_kid = keys.key_id
    writer = await make_writer(keys=keys)
    for _ in range(15):
        await writer.record(record())
    new_kid = rotate(key_dir)
    for _ in range(10):
        await writer.record(record())
    await writer.close()
    async with audit_engine.connect() as connection:
        kids = (
            await connection.execute(
                select(AuditCheckpoint.key_id).order_by(AuditCheckpoint.number)
            )
        ).scalars()
        assert list(kids) == [old_kid, old_kid, new_kid, new_kid]  # genesis, 10, 20, final
    published = AuditKeys.load(key_dir)
    assert list(published.public_keys) == [new_kid, old_kid]
    report = await verify_database(audit_engine, published.public_keys)
    assert report.ok, report.lines()
    only_new = {new_kid: published.public_keys[new_kid]}
    stale = await verify_database(audit_engine, only_new)
    assert stale.problem is not None
    # The first checkpoint the old key signed: the genesis.
    assert (stale.problem.kind, stale.problem.checkpoint) == (Kind.UNKNOWN_KEY, 0)


async def test_another_hubs_key_does_not_verify_the_checkpoints(
    make_writer: MakeWriter, audit_engine: AsyncEngine, audit_keys: AuditKeys, tmp_path: Any
) -> None:
    await _log(make_writer, 12)
    impostor = AuditKeys.load_or_create(tmp_path / "impostor").public_keys
    # Even under the right kid, a different key fails the signature.
    masquerade = {audit_keys.key_id: next(iter(impostor.values()))}
    report = await verify_database(audit_engine, masquerade)
    assert report.problem is not None
    assert report.problem.kind == Kind.SIGNATURE


async def test_an_empty_log_is_intact(audit_engine: AsyncEngine, audit_keys: AuditKeys) -> None:
    report = await verify_database(audit_engine, audit_keys.public_keys)
    assert report.ok
    assert (report.entries, report.chains) == (0, 0)


async def test_a_log_being_written_verifies_intact(
    make_writer: MakeWriter, audit_engine: AsyncEngine, audit_keys: AuditKeys
) -> None:
    """Writers append while verification reads: what it sees must still be consistent."""
    writers = [await make_writer(), await make_writer()]
    stop = asyncio.Event()

    async def keep_writing(writer: AuditWriter) -> None:
        while not stop.is_set():
            await asyncio.gather(*(writer.record(record()) for _ in range(3)))

    tasks = [asyncio.create_task(keep_writing(writer)) for writer in writers]
    try:
        for _ in range(5):
            await asyncio.sleep(0.05)
            report = await verify_database(audit_engine, audit_keys.public_keys)
            assert report.ok, report.lines()
    finally:
        stop.set()
        await asyncio.gather(*tasks)
    assert report.entries > 0
