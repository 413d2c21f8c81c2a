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

Every chain the hub writes opens with a signed genesis checkpoint (number 0, seq 0), so a chain
walked from its start that no checkpoint signed — entries made up from nothing under a writer id
of someone's own — fails (**never signed**). What no check of the database alone can see:
entries appended after a chain's last checkpoint while its process is still running, and the
newest entries of a chain deleted together with the checkpoints covering them (or a whole chain
deleted). The report lists every chain's unsigned tail; a closed hub leaves none. With a witness
(:mod:`audit.witness`), :mod:`~audit.verify.witness` finds every checkpoint it holds in the
database as written (**missing per witness**), which closes the second gap.

In the database each entry's search-index rows are compared with it as well: deleting a row of
``audit_person_reads`` would otherwise hide an access from an auditor's search.

- :mod:`~audit.verify.walk` — :class:`ChainChecker`, the walk of one chain;
- :mod:`~audit.verify.checkpoints` — a checkpoint's own checks (readable, key, signature);
- :mod:`~audit.verify.index` — the search-index rows against their entry;
- :mod:`~audit.verify.database` and :mod:`~audit.verify.file` — the two sources;
- :mod:`~audit.verify.witness` — the database against the witness's checkpoints;
- :mod:`~audit.verify.report` — :class:`Report`, what a person reads.
"""

from audit.verify.checkpoints import checkpoint_problem
from audit.verify.database import verify_database
from audit.verify.file import verify_file
from audit.verify.report import Kind, Problem, Report, UnsignedTail
from audit.verify.walk import Anchor, ChainChecker

__all__ = [
    "Anchor",
    "ChainChecker",
    "Kind",
    "Problem",
    "Report",
    "UnsignedTail",
    "checkpoint_problem",
    "verify_database",
    "verify_file",
]
