"""The chain walk: one chain's entries and checkpoints in order, the first problem stops it.

It keeps a constant amount of state per chain — the head hash, the last entry's link, the
checkpoint count — so memory does not grow with the log. How each kind of tampering shows is
told in :mod:`audit.verify`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from audit.chain import entry_hash
from audit.record import GENESIS
from audit.verify.checkpoints import checkpoint_problem
from audit.verify.report import Kind, Problem, Report, UnsignedTail

#: How far from its place a renumbered entry is looked for (by hashing it with other seqs).
RENUMBER_SEARCH = 64


@dataclass(frozen=True)
class Anchor:
    """Where a chain's walk starts.

    The default is the chain's beginning (genesis). ``verify --from`` starts after a signed
    checkpoint (its seq, head and number; ``sealed`` if it was the final one), and a chain whose
    oldest entries retention removed starts after its retention checkpoint; an export's
    chain starts wherever its first line does (``open=True``: the first entry's
    ``prev_hash`` is taken on trust, and said so).
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


class ChainChecker:
    """Walks one chain in order; the first problem stops it (see :mod:`audit.verify`).

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
        require_signed: bool = False,
    ) -> None:
        anchor = anchor or Anchor()
        #: A chain walked from its start must be signed: opened by a genesis checkpoint, or
        #: (a chain written before genesis checkpoints) covered by some checkpoint.
        self._require_signed = require_signed and anchor.seq == 0 and not anchor.open
        self._opened = False
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
    def signed_seq(self) -> int:
        """The seq the chain's checkpoints accepted so far cover up to."""
        return self._signed_seq

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
        """Take the chain's next entry (``line``: where it is in an export)."""
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
        """Take the chain's next checkpoint, placed right after the last entry it covers."""
        self.accepted = None
        if self.problem is not None or self._pending is not None:
            return  # a pending oddity is decided by the next entry
        self._line = line
        problem = checkpoint_problem(self.writer_id, values, self._keys, line)
        if problem is not None:
            self._fail(problem.kind, problem.seq, problem.message, problem.checkpoint)
            return
        number, seq, head, final = (values[k] for k in ("number", "seq", "head_hash", "final"))
        if number == 0:
            self._genesis(seq, head, final)
            return
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

    def _genesis(self, seq: int, head: str, final: bool) -> None:
        """The genesis checkpoint (number 0): it opens the chain, before any entry."""
        at_start = not self._opened and self._last_seq == 0 and self._number == 0
        if seq != 0 or head != GENESIS or final or not at_start:
            self._fail(
                Kind.INSERTED,
                seq,
                f"checkpoint 0 of chain {self.writer_id} was inserted: a genesis checkpoint "
                "opens its chain, before any entry, only once",
                0,
            )
            return
        self._opened = True
        self.checkpoints += 1

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
        """Nothing more comes: decide what a pending oddity was, and whether the chain was
        ever signed."""
        if self.problem is None and self._pending is not None:
            self._resolve_end()
        if (
            self.problem is None
            and self._require_signed
            and self.entries
            and not self._opened
            and self._number == 0
        ):
            self._fail(
                Kind.UNSIGNED_CHAIN,
                1,
                f"chain {self.writer_id} was never signed by the audit key: no genesis "
                f"checkpoint opens it and no checkpoint covers its {self.entries} entries, so "
                "it was made up (or its checkpoints were all removed)",
            )

    def add_to(self, report: Report) -> None:
        """Count what the walk covered in ``report``, with its problem or unsigned tail."""
        report.entries += self.entries
        report.checkpoints += self.checkpoints
        report.sealed_chains += self.sealed
        if self.problem is not None:
            report.problem = self.problem
        elif (tail := self.unsigned) is not None:
            report.unsigned.append(tail)
