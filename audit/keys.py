"""The audit checkpoint-signing keys: Ed25519, created on first start, rotated on request.

They are kept apart from the token-signing keys (``Settings.audit_key_dir``, not ``key_dir``,
and files of their own names, so even one directory for both could not mix them up): whoever
may mint tokens need not be able to vouch for the audit log, and a token key's rotation must
not touch the keys old checkpoints were signed with.

On disk, in the key directory (files 0600, the directory 0700), in the same way as the token
keys (:mod:`auth.keys`, whose atomic-write and lock helpers this module uses):

- ``audit-signing.jwk`` — the current private key, an OKP JWK (RFC 8037);
- ``audit-retired.json`` — the public halves of every earlier key and when each was retired.

A retired key is never dropped: checkpoints are kept for as long as the log, and each must
still verify. Each key's ``kid`` is its RFC 7638 thumbprint, so it names the key itself.

The public key document (``GET /audit/public-key``, ``gridhub audit public-key``) is a JWK Set
with every key, the current one first, each marked ``"status": "current"`` or ``"retired"``;
an auditor verifies an export offline with it alone (:func:`load_public_keys`).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from audit.chain import b64decode, b64encode
from auth.key_files import (
    ensure_dir,
    file_stamps,
    locked,
    warn_if_readable_by_others,
    write_private,
)

log = logging.getLogger(__name__)

SIGNING_FILE = "audit-signing.jwk"
RETIRED_FILE = "audit-retired.json"
ALGORITHM = "Ed25519"
DOCUMENT_KIND = "gridhub audit checkpoint keys"


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def thumbprint(key: Ed25519PublicKey) -> str:
    """The RFC 7638 thumbprint of the key's JWK: its ``kid``."""
    members = {"crv": "Ed25519", "kty": "OKP", "x": b64encode(_raw_public(key))}
    text = json.dumps(members, sort_keys=True, separators=(",", ":"))
    return b64encode(hashlib.sha256(text.encode("ascii")).digest())


def public_jwk(key: Ed25519PublicKey) -> dict[str, str]:
    return {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": b64encode(_raw_public(key)),
        "kid": thumbprint(key),
        "alg": ALGORITHM,
        "use": "sig",
    }


def _private_jwk(key: Ed25519PrivateKey) -> dict[str, str]:
    raw = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    return {**public_jwk(key.public_key()), "d": b64encode(raw)}


def _public_from_jwk(jwk: Mapping[str, Any]) -> Ed25519PublicKey:
    if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
        raise ValueError("audit keys are OKP Ed25519 keys")
    raw = b64decode(str(jwk.get("x", "")))
    if len(raw) != 32:
        raise ValueError("an Ed25519 public key is 32 bytes")
    return Ed25519PublicKey.from_public_bytes(raw)


def _private_from_jwk(jwk: Mapping[str, Any]) -> Ed25519PrivateKey:
    public = _public_from_jwk(jwk)
    key = Ed25519PrivateKey.from_private_bytes(b64decode(str(jwk.get("d", ""))))
    if _raw_public(key.public_key()) != _raw_public(public):
        raise ValueError("the private key does not match its public half")
    return key


@dataclass(frozen=True)
class PublicKeyInfo:
    key: Ed25519PublicKey
    kid: str
    retired_at: datetime | None  # None: the current key


def _read_retired(key_dir: Path) -> list[PublicKeyInfo]:
    path = key_dir / RETIRED_FILE
    if not path.exists():
        return []
    data = json.loads(path.read_text(encoding="utf-8"))
    retired = []
    for entry in data["keys"]:
        key = _public_from_jwk(entry["jwk"])
        retired.append(PublicKeyInfo(key, thumbprint(key), datetime.fromisoformat(entry["at"])))
    return retired


def _write_retired(key_dir: Path, retired: list[PublicKeyInfo]) -> None:
    entries = [
        {"jwk": public_jwk(info.key), "at": info.retired_at.isoformat()}
        for info in retired
        if info.retired_at is not None
    ]
    write_private(key_dir / RETIRED_FILE, json.dumps({"keys": entries}, indent=2), replace=True)


def _generate() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


class AuditKeys:
    """The key checkpoints are signed with, and every public key checkpoints were signed with.

    Build it with :meth:`load_or_create` (the hub, which signs) or :meth:`load` (verification,
    which must not create a key where there is none).
    """

    def __init__(self, key_dir: Path) -> None:
        self.key_dir = key_dir
        self._stamp: tuple[tuple[int, int], ...] | None = None
        self._signing: Ed25519PrivateKey | None = None
        self._kid = ""
        self._public: list[PublicKeyInfo] = []

    @classmethod
    def load_or_create(cls, key_dir: Path) -> AuditKeys:
        """Read the keys in ``key_dir``, creating the directory and a first key if needed."""
        ensure_dir(key_dir)
        signing = key_dir / SIGNING_FILE
        if not signing.exists():
            key = _generate()
            text = json.dumps(_private_jwk(key))
            if write_private(signing, text, replace=False):
                log.info(
                    "Created the audit signing key %s in %s", thumbprint(key.public_key()), key_dir
                )
        return cls.load(key_dir)

    @classmethod
    def load(cls, key_dir: Path) -> AuditKeys:
        """Read existing keys; ``FileNotFoundError`` if ``key_dir`` holds none."""
        keys = cls(key_dir)
        keys.refresh()
        return keys

    def _file_stamp(self) -> tuple[tuple[int, int], ...]:
        return file_stamps(self.key_dir, (SIGNING_FILE, RETIRED_FILE))

    def refresh(self) -> bool:
        """Reload the files if they changed (a rotation by any process); True if they did.

        Two ``stat`` calls when nothing changed: the writer calls it before each checkpoint.
        """
        stamp = self._file_stamp()
        if stamp == self._stamp:
            return False
        path = self.key_dir / SIGNING_FILE
        signing = _private_from_jwk(json.loads(path.read_text(encoding="utf-8")))
        warn_if_readable_by_others(path)
        kid = thumbprint(signing.public_key())
        public = [PublicKeyInfo(signing.public_key(), kid, None)]
        for info in _read_retired(self.key_dir):
            if all(info.kid != known.kid for known in public):
                public.append(info)
        self._signing, self._kid, self._public, self._stamp = signing, kid, public, stamp
        return True

    @property
    def key_id(self) -> str:
        """The ``kid`` of the key new checkpoints are signed with."""
        return self._kid

    def sign(self, message: bytes) -> bytes:
        assert self._signing is not None, "AuditKeys.load() reads the key"
        return self._signing.sign(message)

    @property
    def public_keys(self) -> dict[str, Ed25519PublicKey]:
        """Every public key by ``kid``: the current one and all retired ones."""
        return {info.kid: info.key for info in self._public}

    def document(self) -> dict[str, Any]:
        """The public key document: a JWK Set, current key first, no private parameter."""
        keys: list[dict[str, Any]] = []
        for info in self._public:
            jwk: dict[str, Any] = public_jwk(info.key)
            if info.retired_at is None:
                jwk["status"] = "current"
            else:
                jwk["status"] = "retired"
                jwk["retired_at"] = info.retired_at.isoformat()
            keys.append(jwk)
        return {"kind": DOCUMENT_KIND, "keys": keys}


def rotate(key_dir: Path) -> str:
    """Make a new signing key; every earlier one stays published. Returns the new ``kid``.

    Running hubs sign their next checkpoint with the new key (:meth:`AuditKeys.refresh`).
    """
    ensure_dir(key_dir)
    with locked(key_dir):
        current = AuditKeys.load_or_create(key_dir)
        now = datetime.now(UTC)
        retired = [
            PublicKeyInfo(current.public_keys[current.key_id], current.key_id, now),
            *_read_retired(key_dir),
        ]
        new = _generate()
        # The retired list goes first: a reader in between sees the old key twice, never
        # a signing key whose predecessor is missing from the published set.
        _write_retired(key_dir, retired)
        write_private(key_dir / SIGNING_FILE, json.dumps(_private_jwk(new)), replace=True)
    kid = thumbprint(new.public_key())
    log.info("Rotated the audit signing key: %s replaces %s", kid, current.key_id)
    return kid


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
        key = _public_from_jwk(entry)
        kid = thumbprint(key)
        if entry.get("kid") != kid:
            raise ValueError(f"key {entry.get('kid')!r} is not named by its thumbprint {kid}")
        keys[kid] = key
    return keys


def read_public_key_file(path: Path) -> dict[str, Ed25519PublicKey]:
    """:func:`load_public_keys` of a JSON file (what ``gridhub audit public-key`` printed)."""
    return load_public_keys(json.loads(path.read_text(encoding="utf-8")))
