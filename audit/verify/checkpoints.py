"""A checkpoint on its own: readable, signed with a key the public keys list, signature valid.

Where a checkpoint sits in its chain (its number, the head it signed) is the chain walk's
business (:meth:`audit.verify.walk.ChainChecker.checkpoint`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from audit.chain import CHECKPOINT_FIELDS, signature_valid
from audit.verify.report import Kind, Problem


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
