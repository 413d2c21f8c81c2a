"""What a verification found: the first problem, if any, and what was covered."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


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
    #: A chain no checkpoint signed: no genesis checkpoint opens it, none covers it.
    UNSIGNED_CHAIN = "never signed"
    #: A checkpoint the witness holds is missing from (or differs in) the database.
    WITNESS = "missing per witness"


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
