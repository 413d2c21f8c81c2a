"""Verification: proves that no entry was changed, removed, inserted or reordered.

One checker (:class:`ChainChecker`) walks a chain's entries and checkpoints in order, for the
database (:func:`verify_database`) and for an export (:func:`verify_file`) alike. It keeps a
constant amount of state per chain — the head hash, the last entry's link, the checkpoint
count — so memory does not grow with the log, and it stops at the first problem: after a break
in the chain, what follows proves nothing either way.

For each entry it recomputes the hash (a mismatch: the entry was **changed**), checks the
``seq`` follows on (a gap: **removed**; going back: **reordered** or **inserted**) and that
``prev_hash`` is the previous entry's hash (if not, the previous entry was rewritten with a
fresh hash — **changed** — or slipped in — **inserted**). When an entry's hash is right for
another ``seq``, it was renumbered, and the direction tells an insertion before it from a
removal or a swap. For each checkpoint it checks the signature with the key its ``key_id``
names, that the numbers follow on (a gap: a checkpoint was **removed**), and that the head it
signed is the chain's hash at its ``seq`` (an entry covered by it is gone: **tail cut**). After
a chain's final checkpoint (written when its process closed) nothing may follow.

What no check can see: entries appended after a chain's last checkpoint while its process is
still running, or a chain of unsigned entries made up from nothing. The report lists every
chain's unsigned tail, so they can be looked at; a closed hub leaves none.

In the database each entry's search-index rows are compared with it as well: deleting a row of
``audit_person_reads`` would otherwise hide an access from an auditor's search. Entries past
their chain's index mark (``audit_index_marks``: their rows are written just after they
commit, see :mod:`audit.indexer`) are left out of that comparison and counted in the report
as not yet searchable; a hub writes what any chain lacks within a minute.
"""

from __future__ import annotations

import contextlib
import enum
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from audit.chain import CHECKPOINT_FIELDS, entry_hash, signature_valid
from audit.export import FORMAT, VERSION, ExportError, read_export
from audit.record import GENESIS
from audit.stream import (
    CHECKPOINT_COLUMNS,
    Progress,
    chain_events,
    field_index,
    person_index,
    writer_ids,
)
from store.models.audit import AuditCheckpoint, AuditEntry, AuditIndexMark

#: How far an export is read past a gap in ``seq`` to tell a moved entry from a removed one.
LOOKAHEAD = 256
#: How far from its place a renumbered entry is looked for (by hashing it with other seqs).
RENUMBER_SEARCH = 64
#: Report progress every this many entries.
PROGRESS_EVERY = 1000


class Kind(enum.StrEnum):
    CHANGED = "changed"
    REMOVED = "removed"
    INSERTED = "inserted"
    REORDERED = "reordered"
    TAIL_CUT = "tail cut"
    SIGNATURE = "checkpoint signature fails"
    UNKNOWN_KEY = "unknown key"
    CHECKPOINT_REMOVED = "checkpoint removed"
    INDEX = "search index differs"
    MALFORMED = "malformed"


@dataclass(frozen=True)
class Problem:
    """The first thing wrong: its kind, the chain and entry (or checkpoint), and a sentence."""

    kind: Kind
    writer_id: str | None
    seq: int | None
    message: str
    checkpoint: int | None = None  # the checkpoint's number, when a checkpoint is at fault
    line: int | None = None  # the export's line, when verifying a file

    def __str__(self) -> str:
        return self.message if self.line is None else f"line {self.line}: {self.message}"


@dataclass(frozen=True)
class UnsignedTail:
    """Entries after a chain's last checkpoint: intact as far as anyone can tell, unsigned."""

    writer_id: str
    first_seq: int
    last_seq: int


def _count(number: int, singular: str, plural: str | None = None) -> str:
    return f"{number} {singular if number == 1 else plural or singular + 's'}"


@dataclass
class Report:
    """What a verification found. ``ok`` is whether the log (or export) is intact."""

    source: str
    entries: int = 0
    checkpoints: int = 0
    chains: int = 0
    sealed_chains: int = 0
    problem: Problem | None = None
    unsigned: list[UnsignedTail] = field(default_factory=list)
    #: Entries past their chain's index mark: intact, not yet in the search index.
    unindexed: list[UnsignedTail] = field(default_factory=list)
    ranges: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.problem is None

    def lines(self) -> list[str]:
        """The report for a person: the verdict first, then what was covered."""
        if self.problem is not None:
            head = f"TAMPERED ({self.problem.kind}): {self.problem}"
        else:
            head = "INTACT: every entry and checkpoint verified"
        counted = (
            f"{self.source}: {_count(self.entries, 'entry', 'entries')} and "
            f"{_count(self.checkpoints, 'checkpoint')} in {_count(self.chains, 'chain')} "
            f"({self.sealed_chains} sealed) checked"
        )
        lines = [head, counted if self.ok else counted + " before the problem"]
        lines.extend(self.ranges)
        for tail in self.unsigned:
            lines.append(
                f"chain {tail.writer_id}: #{tail.first_seq}..#{tail.last_seq} not yet covered "
                "by a checkpoint (a running or crashed writer)"
            )
        for tail in self.unindexed:
            lines.append(
                f"chain {tail.writer_id}: #{tail.first_seq}..#{tail.last_seq} not yet in the "
                "search index (written just after their entries; a running hub writes what a "
                "stopped one left within a minute)"
            )
        return lines


@dataclass(frozen=True)
class Anchor:
    """Where a chain's walk starts.

    The default is the chain's beginning (genesis). ``verify --from`` starts after a signed
    checkpoint (``signed=True``); an export's chain starts wherever its first line does
    (``open=True``: the first entry's ``prev_hash`` is taken on trust, and said so).
    """

    seq: int = 0
    head: str = GENESIS
    checkpoints: int = 0
    sealed: bool = False
    open: bool = False


@dataclass
class _Gap:
    missing: int
    seen: int
    budget: int
    line: int | None  # where the oddity is, for a file: a problem found later names it


@dataclass
class _Shifted:
    seq: int  # holds the entry that was seq + 1
    line: int | None


@dataclass
class _EarlyCheckpoint:
    number: int
    seq: int
    line: int | None


def _entry_name(writer_id: str, seq: int) -> str:
    return f"entry #{seq} of chain {writer_id}"


def checkpoint_problem(
    writer_id: str,
    values: Mapping[str, Any],
    public_keys: Mapping[str, Ed25519PublicKey],
    line: int | None = None,
) -> Problem | None:
    """What is wrong with a checkpoint on its own: unreadable, unknown key, bad signature."""
    try:
        missing = [name for name in CHECKPOINT_FIELDS if name not in values]
        if missing or "signature" not in values:
            raise KeyError((missing or ["signature"])[0])
        number, seq, key_id = values["number"], values["seq"], values["key_id"]
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (number, seq)):
            raise TypeError("number and seq are integers")
    except (KeyError, TypeError) as error:
        message = f"a checkpoint of chain {writer_id} can not be read: {error!r}"
        return Problem(Kind.MALFORMED, writer_id, None, message, line=line)
    name = f"checkpoint {number} of chain {writer_id} (covering up to #{seq})"
    key = public_keys.get(key_id) if isinstance(key_id, str) else None
    if key is None:
        message = f"{name} is signed with key {key_id!r}, which the public keys do not list"
        return Problem(Kind.UNKNOWN_KEY, writer_id, seq, message, number, line)
    if not signature_valid(key, values):
        message = f"{name}: the signature fails, so the checkpoint was changed or forged"
        return Problem(Kind.SIGNATURE, writer_id, seq, message, number, line)
    return None


class ChainChecker:
    """Walks one chain in order; the first problem stops it (see the module doc).

    Feed :meth:`entry` and :meth:`checkpoint` in stream order, then call :meth:`end`. After a
    gap in ``seq`` it reads up to ``lookahead`` more entries to see whether the missing one
    comes later (reordered) or never (removed); in the database, ordered by ``seq``, that can
    not happen, so the database check passes 0.
    """

    def __init__(
        self,
        writer_id: str,
        public_keys: Mapping[str, Ed25519PublicKey],
        anchor: Anchor | None = None,
        *,
        lookahead: int = 0,
    ) -> None:
        anchor = anchor or Anchor()
        self.writer_id = writer_id
        self.problem: Problem | None = None
        self.entries = 0
        self.checkpoints = 0
        self.first_seq: int | None = None  # an open chain's first entry
        self._keys = public_keys
        self._lookahead = lookahead
        self._open = anchor.open
        self._open_checkpoints = anchor.open
        self._expected = anchor.seq + 1
        self._head = anchor.head
        self._last_seq = anchor.seq
        self._last_prev: str | None = None  # the last accepted entry's prev_hash
        self._number = anchor.checkpoints
        self._signed_seq = anchor.seq
        self._sealed_at: int | None = anchor.seq if anchor.sealed else None
        self._pending: _Gap | _Shifted | _EarlyCheckpoint | None = None
        self._line: int | None = None
        self.accepted: int | None = None  # seq of the entry the last call accepted

    @property
    def sealed(self) -> bool:
        return self._sealed_at is not None

    @property
    def unsigned(self) -> UnsignedTail | None:
        if self._sealed_at is not None or self._last_seq <= self._signed_seq:
            return None
        return UnsignedTail(self.writer_id, self._signed_seq + 1, self._last_seq)

    def _fail(
        self, kind: Kind, seq: int | None, message: str, checkpoint: int | None = None
    ) -> None:
        if self.problem is None:
            line = self._line if self._pending is None else self._pending.line
            self.problem = Problem(kind, self.writer_id, seq, message, checkpoint, line)
        self._pending = None

    def _name(self, seq: int) -> str:
        return _entry_name(self.writer_id, seq)

    # Entries.

    def entry(self, values: Mapping[str, Any], line: int | None = None) -> None:
        self.accepted = None
        if self.problem is not None:
            return
        self._line = line
        try:
            seq = values["seq"]
            if isinstance(seq, bool) or not isinstance(seq, int):
                raise TypeError(f"seq is {seq!r}")
            prev, stored = values["prev_hash"], values["hash"]
            computed = entry_hash(values)
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            seq_text = values.get("seq") if isinstance(values, Mapping) else None
            self._fail(
                Kind.MALFORMED,
                seq_text if isinstance(seq_text, int) else None,
                f"an entry of chain {self.writer_id} can not be read: {error!r}",
            )
            return
        if self._pending is not None:
            self._resolve(values, seq, prev, stored)
            return
        if self._open:
            self._open = False
            self.first_seq = seq
            if seq == 1:  # the whole chain: its checkpoints are numbered from 1
                self._open_checkpoints = False
            else:  # a range: anchored on its first entry's link
                self._expected, self._head = seq, prev
                self._last_seq = self._signed_seq = seq - 1
        if self._sealed_at is not None:
            self._fail(
                Kind.INSERTED,
                seq,
                f"{self._name(seq)} was inserted: the chain was sealed at #{self._sealed_at} "
                "by its writer's final checkpoint",
            )
            return
        if seq == self._expected:
            self._at_expected(values, seq, prev, stored, computed)
        elif seq > self._expected:
            self._pending = _Gap(self._expected, seq, self._lookahead, self._line)
            if self._lookahead <= 0:
                self._resolve_end()
        elif seq == self._last_seq:
            self._fail(Kind.INSERTED, seq, f"{self._name(seq)} was inserted: #{seq} appears twice")
        else:
            self._fail(
                Kind.REORDERED,
                seq,
                f"{self._name(seq)} was reordered: it comes after #{self._last_seq}",
            )

    def _at_expected(
        self, values: Mapping[str, Any], seq: int, prev: str, stored: str, computed: str
    ) -> None:
        last = self._last_seq
        if computed == stored:
            if prev == self._head:
                self._accept(seq, prev, stored)
            elif self._last_prev is not None and prev == self._last_prev:
                self._fail(
                    Kind.INSERTED,
                    last,
                    f"{self._name(last)} was inserted: #{seq} links past it, to #{last - 1}",
                )
            elif self._last_prev is not None:
                self._fail(
                    Kind.CHANGED,
                    last,
                    f"{self._name(last)} was changed: #{seq} records a different hash for it",
                )
            else:
                self._fail(
                    Kind.CHANGED,
                    seq,
                    f"{self._name(seq)} was changed: its link to what precedes it "
                    f"({'the start of the chain' if last == 0 else f'#{last}'}) is wrong",
                )
            return
        original = self._original_seq(values, seq, stored)
        if original is None:
            self._fail(
                Kind.CHANGED,
                seq,
                f"{self._name(seq)} was changed: its content does not match its hash",
            )
        elif original == seq - 1 and self._last_prev is not None and prev == self._last_prev:
            self._fail(
                Kind.INSERTED,
                last,
                f"{self._name(last)} was inserted: the entries after it were renumbered",
            )
        elif original == seq + 1:
            self._pending = _Shifted(seq, self._line)
        else:
            self._fail(
                Kind.REORDERED,
                seq,
                f"{self._name(seq)} was reordered: the entry in its place was #{original}",
            )

    @staticmethod
    def _original_seq(values: Mapping[str, Any], seq: int, stored: str) -> int | None:
        """The seq this entry's hash is right for, if it is near: it was renumbered."""
        for distance in range(1, RENUMBER_SEARCH + 1):
            for candidate in (seq - distance, seq + distance):
                if candidate >= 1 and entry_hash({**values, "seq": candidate}) == stored:
                    return candidate
        return None

    def _accept(self, seq: int, prev: str, stored: str) -> None:
        self._last_prev, self._head, self._last_seq = prev, stored, seq
        self._expected = seq + 1
        self.entries += 1
        self.accepted = seq

    def _resolve(self, values: Mapping[str, Any], seq: int, prev: str, stored: str) -> None:
        """The entry after something odd decides what the odd thing was."""
        pending = self._pending
        if isinstance(pending, _Gap):
            if seq == pending.missing:
                self._fail(
                    Kind.REORDERED,
                    pending.missing,
                    f"{self._name(pending.missing)} was reordered: it comes after #{pending.seen}",
                )
                return
            pending.budget -= 1
            if pending.budget <= 0:
                self._resolve_end()
        elif isinstance(pending, _Shifted):
            k = pending.seq
            swapped = (
                seq == k + 1 and prev == self._head and entry_hash({**values, "seq": k}) == stored
            )
            if swapped:
                self._fail(
                    Kind.REORDERED, k, f"{self._name(k)} was reordered: #{k} and #{k + 1} swapped"
                )
            else:
                self._fail(
                    Kind.REMOVED,
                    k,
                    f"{self._name(k)} was removed: the entries after it were renumbered",
                )
        elif isinstance(pending, _EarlyCheckpoint):
            missing = self._last_seq + 1
            if seq == missing:
                self._fail(
                    Kind.REORDERED,
                    pending.seq,
                    f"checkpoint {pending.number} of chain {self.writer_id} was reordered: it "
                    f"comes before #{missing}..#{pending.seq}, which it covers",
                    pending.number,
                )
            else:
                self._fail(
                    Kind.REMOVED,
                    missing,
                    f"{self._name(missing)} was removed: checkpoint {pending.number} covers "
                    f"up to #{pending.seq}, the chain goes from #{self._last_seq} to #{seq}",
                )

    def _resolve_end(self) -> None:
        """Decide a pending oddity when nothing more will come to decide it."""
        pending = self._pending
        if isinstance(pending, _Gap):
            self._fail(
                Kind.REMOVED,
                pending.missing,
                f"{self._name(pending.missing)} was removed: the chain goes from "
                f"#{pending.missing - 1} to #{pending.seen}",
            )
        elif isinstance(pending, _Shifted):
            self._fail(
                Kind.REMOVED,
                pending.seq,
                f"{self._name(pending.seq)} was removed: the entries after it were renumbered",
            )
        elif isinstance(pending, _EarlyCheckpoint):
            missing = self._last_seq + 1
            ends = f"ends at #{self._last_seq}" if self._last_seq else "has no entries left"
            self._fail(
                Kind.TAIL_CUT,
                missing,
                f"{self._name(missing)} was removed, with any after it (tail cut): checkpoint "
                f"{pending.number} covers up to #{pending.seq}, the chain {ends}",
                pending.number,
            )

    # Checkpoints.

    def checkpoint(self, values: Mapping[str, Any], line: int | None = None) -> None:
        self.accepted = None
        if self.problem is not None or self._pending is not None:
            return  # a pending oddity is decided by the next entry
        self._line = line
        problem = checkpoint_problem(self.writer_id, values, self._keys, line)
        if problem is not None:
            self._fail(problem.kind, problem.seq, problem.message, problem.checkpoint)
            return
        number, seq, head, final = (values[k] for k in ("number", "seq", "head_hash", "final"))
        name = f"checkpoint {number} of chain {self.writer_id} (covering up to #{seq})"
        if self._open_checkpoints:
            self._open_checkpoints = False
            self._number = number - 1
        if self._open:
            self._fail(
                Kind.REORDERED,
                seq,
                f"{name} was reordered: it comes before the entries it covers",
                number,
            )
        elif self._sealed_at is not None:
            self._fail(
                Kind.INSERTED,
                seq,
                f"{name} was inserted: the chain was sealed at #{self._sealed_at}",
                number,
            )
        elif number > self._number + 1:
            self._fail(
                Kind.CHECKPOINT_REMOVED,
                None,
                f"checkpoint {self._number + 1} of chain {self.writer_id} was removed: "
                f"checkpoint {number} follows checkpoint {self._number}",
                self._number + 1,
            )
        elif number <= self._number:
            self._fail(
                Kind.REORDERED,
                seq,
                f"{name} was reordered or repeated: it comes after checkpoint {self._number}",
                number,
            )
        elif seq > self._last_seq:
            self._pending = _EarlyCheckpoint(number, seq, self._line)
        elif seq < self._last_seq:
            self._fail(
                Kind.REORDERED,
                seq,
                f"{name} was reordered: it comes after #{self._last_seq}",
                number,
            )
        elif head != self._head:
            since = self._signed_seq + 1
            back = "" if since >= seq else f" (or the entries back to #{since} were rewritten)"
            self._fail(
                Kind.CHANGED,
                seq,
                f"{self._name(seq)} was changed{back}: checkpoint {number} signed a different head",
                number,
            )
        else:
            self._number, self._signed_seq = number, seq
            self.checkpoints += 1
            if final:
                self._sealed_at = seq

    def index_mismatch(self, seq: int, difference: str) -> None:
        """The search-index rows of an accepted entry do not match it.

        This is the first problem unless the chain found one at this entry or before it.
        """
        if self.problem is not None and (self.problem.seq is None or self.problem.seq <= seq):
            return
        self.problem = None
        self._fail(
            Kind.INDEX,
            seq,
            f"the search index of {self._name(seq)} was changed: {difference}",
        )

    def end(self) -> None:
        if self.problem is None and self._pending is not None:
            self._resolve_end()


# The database.


def _index_difference(
    values: Mapping[str, Any],
    people: list[tuple[Any, ...]],
    fields: list[tuple[Any, ...]],
) -> str | None:
    """What differs between an entry and its index rows, as a phrase; None if nothing."""
    at: datetime = values["at"]
    expected_people = set(values["person_ids"])
    found_people = {person for person, _ in people}
    for person in sorted(expected_people - found_people):
        return f"audit_person_reads lacks person {person!r}"
    for person in sorted(found_people - expected_people):
        return f"audit_person_reads holds person {person!r}, whom the entry does not name"
    if any(row_at != at for _, row_at in people):
        return "audit_person_reads has a different time"
    expected_fields = {(r["type"], r["field"], r["decision"]) for r in values["reads"]}
    found_fields = {(kind, name, decision) for kind, name, decision, _ in fields}
    for kind, name, decision in sorted(expected_fields - found_fields):
        return f"audit_field_reads lacks {kind}.{name} ({decision})"
    for kind, name, decision in sorted(found_fields - expected_fields):
        return f"audit_field_reads holds {kind}.{name} ({decision}), which the entry does not"
    if any(row[-1] != at for row in fields):
        return "audit_field_reads has a different time"
    return None


class _IndexCursor:
    """Steps through one index stream alongside the entries, one entry's rows at a time."""

    def __init__(self, stream: AsyncIterator[tuple[int, list[tuple[Any, ...]]]]) -> None:
        self._stream = stream
        self._next: tuple[int, list[tuple[Any, ...]]] | None = None
        self._done = False

    async def rows_of(self, seq: int) -> list[tuple[Any, ...]]:
        while not self._done:
            if self._next is None:
                self._next = await anext(self._stream, None)
                if self._next is None:
                    self._done = True
                    break
            if self._next[0] > seq:
                break
            group_seq, rows = self._next
            self._next = None
            if group_seq == seq:
                return rows
        return []


async def _anchor(
    connection: AsyncConnection,
    writer_id: str,
    from_seq: int | None,
    public_keys: Mapping[str, Ed25519PublicKey],
) -> tuple[Anchor, Problem | None]:
    """Where ``--from SEQ`` starts a chain: after its newest checkpoint before SEQ, if any."""
    if from_seq is None or from_seq <= 1:
        return Anchor(), None
    query = (
        select(*CHECKPOINT_COLUMNS)
        .where(AuditCheckpoint.writer_id == writer_id, AuditCheckpoint.seq < from_seq)
        .order_by(AuditCheckpoint.number.desc())
        .limit(1)
    )
    row = (await connection.execute(query)).mappings().first()
    if row is None:
        return Anchor(), None
    values = dict(row)
    anchor = Anchor(row["seq"], row["head_hash"], row["number"], sealed=bool(row["final"]))
    return anchor, checkpoint_problem(writer_id, values, public_keys)


async def verify_database(
    engine: AsyncEngine,
    public_keys: Mapping[str, Ed25519PublicKey],
    *,
    from_seq: int | None = None,
    writer_id: str | None = None,
    progress: Progress | None = None,
) -> Report:
    """Verify every chain in the database (or one, ``writer_id``), streaming.

    With ``from_seq``, each chain is checked from its newest checkpoint before ``from_seq``
    (that checkpoint's signature is checked and its head anchors the rest), or from its start
    if it has none: the part checked always hangs on a signed head or on the genesis, and
    costs at most ``audit_checkpoint_entries`` entries more than asked.
    """
    report = Report(source="database")
    async with engine.connect() as connection:
        if progress is not None:
            count = select(func.count()).select_from(AuditEntry)
            if from_seq is not None:
                count = count.where(AuditEntry.seq >= from_seq)
            if writer_id is not None:
                count = count.where(AuditEntry.writer_id == writer_id)
            progress.start((await connection.execute(count)).scalar_one(), "entries")
        for chain in await writer_ids(connection, writer_id):
            anchor, problem = await _anchor(connection, chain, from_seq, public_keys)
            report.chains += 1
            if problem is not None:
                report.problem = problem
                break
            if anchor.seq:
                report.ranges.append(
                    f"chain {chain}: checked from #{anchor.seq + 1}, after signed checkpoint "
                    f"{anchor.checkpoints} (--from {from_seq})"
                )
            mark = await _index_mark(connection, chain)
            checker = ChainChecker(chain, public_keys, anchor)
            last = await _check_chain(connection, checker, anchor, progress, mark)
            _tally(report, checker)
            if mark is not None and last > mark and checker.problem is None:
                report.unindexed.append(UnsignedTail(chain, max(mark, anchor.seq) + 1, last))
            if checker.problem is not None:
                break
    return report


async def _index_mark(connection: AsyncConnection, writer_id: str) -> int | None:
    """The seq up to which the chain's search-index rows are written; None if the chain has
    no mark, and then every entry's rows are compared."""
    query = select(AuditIndexMark.seq).where(AuditIndexMark.writer_id == writer_id)
    return (await connection.execute(query)).scalar_one_or_none()


async def _check_chain(
    connection: AsyncConnection,
    checker: ChainChecker,
    anchor: Anchor,
    progress: Progress | None,
    mark: int | None,
) -> int:
    """Walk the chain, comparing the index rows of its entries up to ``mark``; return the
    seq of the last entry accepted."""
    chain = checker.writer_id
    last = anchor.seq
    events = chain_events(connection, chain, after_seq=anchor.seq, after_number=anchor.checkpoints)
    people: _IndexCursor | None = None
    fields: _IndexCursor | None = None
    # An index mismatch is reported once the next entry links to its entry: a problem the
    # chain finds there may blame the same entry more exactly (it was inserted, say).
    mismatch: tuple[int, str] | None = None
    unreported = 0
    async with contextlib.AsyncExitStack() as stack:
        events = await stack.enter_async_context(contextlib.aclosing(events))
        async for kind, values in events:
            if kind == "checkpoint":
                checker.checkpoint(values)
            else:
                checker.entry(values)
                unreported += 1
                if unreported >= PROGRESS_EVERY and progress is not None:
                    progress.advance(unreported)
                    unreported = 0
                if mismatch is not None and (checker.accepted or checker.problem):
                    checker.index_mismatch(*mismatch)
                    break
                if checker.accepted is not None:
                    last = checker.accepted
                if checker.accepted is not None and (mark is None or checker.accepted <= mark):
                    if people is None or fields is None:  # opened after the entries' cursor
                        people = _IndexCursor(
                            await stack.enter_async_context(
                                contextlib.aclosing(person_index(connection, chain, anchor.seq))
                            )
                        )
                        fields = _IndexCursor(
                            await stack.enter_async_context(
                                contextlib.aclosing(field_index(connection, chain, anchor.seq))
                            )
                        )
                    seq = checker.accepted
                    difference = _index_difference(
                        values, await people.rows_of(seq), await fields.rows_of(seq)
                    )
                    if difference is not None:
                        mismatch = (seq, difference)
            if checker.problem is not None:
                break
        checker.end()
        if mismatch is not None:
            checker.index_mismatch(*mismatch)
    if progress is not None and unreported:
        progress.advance(unreported)
    return last


def _tally(report: Report, checker: ChainChecker) -> None:
    report.entries += checker.entries
    report.checkpoints += checker.checkpoints
    report.sealed_chains += checker.sealed
    if checker.problem is not None:
        report.problem = checker.problem
    elif (tail := checker.unsigned) is not None:
        report.unsigned.append(tail)


# An export.


def verify_file(
    path: Path,
    public_keys: Mapping[str, Ed25519PublicKey],
    progress: Progress | None = None,
) -> Report:
    """Verify an export (jsonl or csv) with the public keys alone, streaming."""
    report = Report(source=str(path))
    try:
        _verify_records(report, read_export(path, progress), public_keys)
    except ExportError as error:
        report.problem = Problem(Kind.MALFORMED, None, None, str(error), line=error.line)
    return report


def _verify_records(
    report: Report, records: Any, public_keys: Mapping[str, Ed25519PublicKey]
) -> None:
    checker: ChainChecker | None = None
    seen: set[str] = set()
    counts = {"entry": 0, "checkpoint": 0}
    started = ended = False

    def finish() -> None:
        assert checker is not None
        checker.end()
        _tally(report, checker)
        if checker.first_seq not in (None, 1):
            report.ranges.append(
                f"chain {checker.writer_id}: a range from #{checker.first_seq}, anchored on "
                "that entry's prev_hash (no signature covers what came before it)"
            )

    for line, kind, values in records:
        if not started:
            started = True
            if kind != "header" or values.get("format") != FORMAT:
                raise ExportError(line, f"not a {FORMAT} file: it does not start with its header")
            if values.get("version") != VERSION:
                raise ExportError(line, f"export version {values.get('version')!r} is unknown")
            continue
        if ended:
            raise ExportError(line, "there is more after the end line")
        if kind == "end":
            ended = True
            if checker is not None:
                finish()
                checker = None
                if report.problem is not None:
                    return
            if (
                values.get("entries") != counts["entry"]
                or values.get("checkpoints") != counts["checkpoint"]
            ):
                report.problem = Problem(
                    Kind.REMOVED,
                    None,
                    None,
                    f"the export says it holds {values.get('entries')} entries and "
                    f"{values.get('checkpoints')} checkpoints; it holds {counts['entry']} and "
                    f"{counts['checkpoint']}",
                    line=line,
                )
            continue
        if kind not in counts:
            raise ExportError(line, f"unknown record {kind!r}")
        counts[kind] += 1
        writer = values.get("writer_id")
        if not isinstance(writer, str):
            raise ExportError(line, "a record names no chain")
        if checker is None or writer != checker.writer_id:
            if checker is not None:
                finish()
                if report.problem is not None:
                    return
            if writer in seen:
                report.problem = Problem(
                    Kind.REORDERED,
                    writer,
                    values.get("seq") if isinstance(values.get("seq"), int) else None,
                    f"chain {writer}'s records were reordered: they are not all together",
                    line=line,
                )
                return
            seen.add(writer)
            report.chains += 1
            checker = ChainChecker(writer, public_keys, Anchor(open=True), lookahead=LOOKAHEAD)
        if kind == "entry":
            checker.entry(values, line)
        else:
            checker.checkpoint(values, line)
        if checker.problem is not None:
            _tally(report, checker)
            return
    if checker is not None:
        finish()
    if not started:
        raise ExportError(1, f"not a {FORMAT} file: it is empty")
    if not ended and report.problem is None:
        report.problem = Problem(
            Kind.TAIL_CUT, None, None, "the export was cut short: it has no end line"
        )
