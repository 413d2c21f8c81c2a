"""The audit checkpoint-signing keys: Ed25519, in the hub's one key store (:mod:`auth.keys`).

They are kept apart from the token-signing keys (``Settings.audit_key_dir``, not ``key_dir``,
and files of their own names, so even one directory for both could not mix them up): whoever
may mint tokens need not be able to vouch for the audit log, and a token key's rotation must
not touch the keys old checkpoints were signed with.

On disk, in the key directory (files 0600, the directory 0700):

- ``audit-signing.jwk`` — the current private key, an OKP JWK (RFC 8037);
- ``audit-retired.json`` — the public halves of every earlier key and when each was retired.

A retired key is never dropped: checkpoints are kept for as long as the log, and each must
still verify.

The public key document (``GET /audit/public-key``, ``gridhub audit public-key``) is a JWK Set
with every key, the current one first, each marked ``"status": "current"`` or ``"retired"``;
an auditor verifies an export offline with it alone (:func:`load_public_keys`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from joserfc.jwk import OKPKey

from auth.keys import KeySpec, KeyStore

SIGNING_FILE = "audit-signing.jwk"
RETIRED_FILE = "audit-retired.json"
ALGORITHM = "Ed25519"
DOCUMENT_KIND = "gridhub audit checkpoint keys"
# The members of a published key, in the order the document has always listed them.
DOCUMENT_MEMBERS = ("kty", "crv", "x", "kid", "alg", "use")

AUDIT_KEYS = KeySpec(
    name="the audit signing key",
    key_type=OKPKey,
    curve="Ed25519",
    algorithm=ALGORITHM,
    signing_file=SIGNING_FILE,
    retired_file=RETIRED_FILE,
    retired_at_member="at",
)


def _verifying_key(key: OKPKey) -> Ed25519PublicKey:
    public = key.public_key
    if not isinstance(public, Ed25519PublicKey):  # AUDIT_KEYS reads and makes Ed25519 keys only
        raise ValueError("audit keys are Ed25519 keys")
    return public


def _kid(key: OKPKey) -> str:
    kid = key.kid
    assert kid is not None, "AUDIT_KEYS names every key by its thumbprint"
    return kid


class AuditKeys:
    """The key checkpoints are signed with, and every public key checkpoints were signed with.

    Build it with :meth:`load_or_create` (the hub, which signs) or :meth:`load` (verification,
    which must not create a key where there is none).
    """

    def __init__(self, key_dir: Path) -> None:
        self._store = KeyStore(AUDIT_KEYS, key_dir)

    @classmethod
    def load_or_create(cls, key_dir: Path) -> AuditKeys:
        """Read the keys in ``key_dir``, creating the directory and a first key if needed."""
        keys = cls(key_dir)
        keys._store.create_if_missing()
        keys.refresh()
        return keys

    @classmethod
    def load(cls, key_dir: Path) -> AuditKeys:
        """Read existing keys; ``FileNotFoundError`` if ``key_dir`` holds none."""
        keys = cls(key_dir)
        keys.refresh()
        return keys

    def refresh(self) -> bool:
        """Reload the files if they changed (a rotation by any process); True if they did.

        Two ``stat`` calls when nothing changed: the writer calls it before each checkpoint.
        """
        return self._store.refresh()

    @property
    def key_id(self) -> str:
        """The ``kid`` of the key new checkpoints are signed with."""
        return self._store.kid

    def sign(self, message: bytes) -> bytes:
        private = self._store.signing_key.private_key
        assert isinstance(private, Ed25519PrivateKey), "AUDIT_KEYS reads Ed25519 keys only"
        return private.sign(message)

    @property
    def public_keys(self) -> dict[str, Ed25519PublicKey]:
        """Every public key by ``kid``: the current one and all retired ones."""
        return {_kid(entry.key): _verifying_key(entry.key) for entry in self._store.published}

    def document(self) -> dict[str, Any]:
        """The public key document: a JWK Set, current key first, no private parameter."""
        keys: list[dict[str, Any]] = []
        for entry in self._store.published:
            public = entry.key.as_dict(private=False)
            jwk: dict[str, Any] = {name: public[name] for name in DOCUMENT_MEMBERS}
            if entry.retired_at is None:
                jwk["status"] = "current"
            else:
                jwk["status"] = "retired"
                jwk["retired_at"] = entry.retired_at.isoformat()
            keys.append(jwk)
        return {"kind": DOCUMENT_KIND, "keys": keys}


def rotate(key_dir: Path) -> str:
    """Make a new signing key; every earlier one stays published. Returns the new ``kid``.

    Running hubs sign their next checkpoint with the new key (:meth:`AuditKeys.refresh`).
    """
    return KeyStore(AUDIT_KEYS, key_dir).rotate()


def load_public_keys(document: Mapping[str, Any]) -> dict[str, Ed25519PublicKey]:
    """The keys of a public key document, by ``kid``, for verification without the hub.

    ``ValueError`` if it is not such a document, or a key's ``kid`` is not its thumbprint (a
    document naming one key with another's ``kid`` must not make a forged checkpoint verify).
    """
    entries = document.get("keys") if isinstance(document, Mapping) else None
    if not isinstance(entries, list) or not entries:
        raise ValueError("not an audit public key document: it has no keys")
    keys: dict[str, Ed25519PublicKey] = {}
    for entry in entries:
        if not isinstance(entry, Mapping):
            raise ValueError("not an audit public key document: a key is not an object")
        key = AUDIT_KEYS.import_jwk(entry, private=False)
        kid = _kid(key)
        if entry.get("kid") != kid:
            raise ValueError(f"key {entry.get('kid')!r} is not named by its thumbprint {kid}")
        keys[kid] = _verifying_key(key)
    return keys


def read_public_key_file(path: Path) -> dict[str, Ed25519PublicKey]:
    """:func:`load_public_keys` of a JSON file (what ``gridhub audit public-key`` printed)."""
    return load_public_keys(json.loads(path.read_text(encoding="utf-8")))
