"""Hashing entries into a chain, and the bytes a checkpoint signs.

An entry's hash is ``SHA-256(ENTRY_DOMAIN || prev_hash || "\\n" || canonical_entry)`` in
lower-case hex, where ``prev_hash`` is the previous entry's hash (:data:`GENESIS` for a chain's
first entry) as 64 ASCII hex digits. ``prev_hash`` is inside the canonical form too; putting it
first as well makes the link explicit to anyone reimplementing the check. The domain prefixes
make an entry's bytes and a checkpoint's bytes impossible to confuse with each other or with
anything else the hub hashes or signs.

A checkpoint signs ``CHECKPOINT_DOMAIN || canonical_json({writer_id, number, seq, head_hash,
at, key_id, final})`` with Ed25519; the signature is stored base64url without padding.

A retention checkpoint (left where retention removed a chain's oldest entries, see
:mod:`audit.retention`) signs ``RETENTION_DOMAIN || canonical_json({writer_id, seq, head_hash,
checkpoints, before, at, exports, key_id})`` the same way.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from audit.record import GENESIS, canonical_entry, canonical_json, parse_time, render_time

ENTRY_DOMAIN = b"gridhub.audit.entry.v1\n"
CHECKPOINT_DOMAIN = b"gridhub.audit.checkpoint.v1\n"
RETENTION_DOMAIN = b"gridhub.audit.retention.v1\n"
#: What a checkpoint's signature covers, besides the domain.
CHECKPOINT_FIELDS: tuple[str, ...] = (
    "writer_id",
    "number",
    "seq",
    "head_hash",
    "at",
    "key_id",
    "final",
)
#: What a retention checkpoint's signature covers, besides the domain.
RETENTION_FIELDS: tuple[str, ...] = (
    "writer_id",
    "seq",
    "head_hash",
    "checkpoints",
    "before",
    "at",
    "exports",
    "key_id",
)

__all__ = [
    "CHECKPOINT_DOMAIN",
    "CHECKPOINT_FIELDS",
    "ENTRY_DOMAIN",
    "GENESIS",
    "RETENTION_DOMAIN",
    "RETENTION_FIELDS",
    "b64decode",
    "b64encode",
    "checkpoint_message",
    "retention_message",
    "retention_signature_valid",
    "entry_hash",
    "signature_valid",
]


def entry_hash(values: Mapping[str, Any], *, built: bool = False) -> str:
    """The hash an entry with these column values must carry; ``built``: the values are the
    writer's own, made from an :class:`~audit.record.AuditRecord` (a faster, byte-identical
    serialisation, see :func:`~audit.record.canonical_json_of_record`)."""
    prev_hash = values["prev_hash"]
    digest = hashlib.sha256(ENTRY_DOMAIN)
    digest.update(str(prev_hash).encode("ascii", "replace"))
    digest.update(b"\n")
    digest.update(canonical_entry(values, built=built))
    return digest.hexdigest()


def checkpoint_message(values: Mapping[str, Any]) -> bytes:
    """The bytes a checkpoint's signature covers."""
    document = {name: values[name] for name in CHECKPOINT_FIELDS}
    at = document["at"]
    document["at"] = render_time(at if isinstance(at, datetime) else parse_time(at))
    return CHECKPOINT_DOMAIN + canonical_json(document)


def retention_message(values: Mapping[str, Any]) -> bytes:
    """The bytes a retention checkpoint's signature covers."""
    document = {name: values[name] for name in RETENTION_FIELDS}
    for name in ("before", "at"):
        at = document[name]
        document[name] = render_time(at if isinstance(at, datetime) else parse_time(at))
    return RETENTION_DOMAIN + canonical_json(document)


def retention_signature_valid(public_key: Ed25519PublicKey, values: Mapping[str, Any]) -> bool:
    """Whether ``values["signature"]`` is the key's signature of the retention checkpoint."""
    try:
        public_key.verify(b64decode(values["signature"]), retention_message(values))
    except (InvalidSignature, ValueError, TypeError, KeyError):
        return False
    return True


def b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64decode(text: str) -> bytes:
    """Decode base64url with or without padding; ``ValueError`` if it is not base64url."""
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, TypeError) as error:
        raise ValueError("not base64url") from error


def signature_valid(public_key: Ed25519PublicKey, values: Mapping[str, Any]) -> bool:
    """Whether ``values["signature"]`` is the key's signature of the checkpoint's message."""
    try:
        public_key.verify(b64decode(values["signature"]), checkpoint_message(values))
    except (InvalidSignature, ValueError, TypeError, KeyError):
        return False
    return True
