"""The hub's own token-signing keys: created on first start, kept on disk, rotated on request.

The algorithm is ES256 (ECDSA on P-256 with SHA-256): asymmetric, so the JWKS can be published
and anyone can verify without being able to sign; it is the one asymmetric JWS algorithm that
every JWT library and API gateway a department app might use supports (Ed25519 as a JWS ``alg``
is newer, RFC 9864, and the older ``EdDSA`` name is deprecated). Each key's ``kid`` is its RFC
7638 thumbprint, so it names the key itself rather than a counter that could be reused.

On disk, in ``key_dir`` (files 0600, the directory 0700):

- ``signing.jwk`` — the current private key, as a JWK;
- ``retired.json`` — the public halves of earlier keys and when each was retired, so tokens
  they signed keep verifying until they expire.

Several hub processes may share one directory: creation is atomic (the first writer wins, the
others read its key), rotation takes a lock, and :meth:`HubKeys.refresh` picks up a rotation
made by another process without a restart.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from joserfc.jwk import ECKey, Key, KeySet

from auth.key_files import (
    ensure_dir,
    file_stamps,
    locked,
    warn_if_readable_by_others,
    write_private,
)

log = logging.getLogger(__name__)

ALGORITHM = "ES256"
CURVE = "P-256"
SIGNING_FILE = "signing.jwk"
RETIRED_FILE = "retired.json"


def _generate() -> ECKey:
    key = ECKey.generate_key(CURVE, parameters={"alg": ALGORITHM, "use": "sig"}, private=True)
    return _with_thumbprint_kid(key.as_dict(private=True))


def _with_thumbprint_kid(data: dict[str, Any]) -> ECKey:
    """Import a JWK and give it the RFC 7638 thumbprint as ``kid``, whatever the file said."""
    fields: dict[str, Any] = {
        name: data[name] for name in ("kty", "crv", "x", "y", "d") if name in data
    }
    if fields.get("kty") != "EC" or fields.get("crv") != CURVE:
        raise ValueError(f"the hub's keys are EC {CURVE} keys")
    key = ECKey.import_key({**fields, "alg": ALGORITHM, "use": "sig"})
    return ECKey.import_key({**key.as_dict(private=key.is_private), "kid": key.thumbprint()})


def _public(key: ECKey) -> ECKey:
    return _with_thumbprint_kid(key.as_dict(private=False))


@dataclass(frozen=True)
class RetiredKey:
    key: ECKey
    retired_at: datetime


def _read_retired(key_dir: Path) -> list[RetiredKey]:
    path = key_dir / RETIRED_FILE
    if not path.exists():
        return []
    data = json.loads(path.read_text(encoding="utf-8"))
    return [
        RetiredKey(_with_thumbprint_kid(entry["jwk"]), datetime.fromisoformat(entry["retired_at"]))
        for entry in data["keys"]
    ]


def _write_retired(key_dir: Path, retired: list[RetiredKey]) -> None:
    entries = [
        {"jwk": entry.key.as_dict(private=False), "retired_at": entry.retired_at.isoformat()}
        for entry in retired
    ]
    write_private(key_dir / RETIRED_FILE, json.dumps({"keys": entries}, indent=2), replace=True)


class HubKeys:
    """The key the hub signs with and every public key it still accepts.

    Build it with :meth:`load_or_create`; it holds no secret but the signing key, and never
    writes that key anywhere but ``key_dir``.
    """

    def __init__(self, key_dir: Path) -> None:
        self.key_dir = key_dir
        self._stamp: tuple[tuple[int, int], ...] | None = None
        self._signing: ECKey | None = None
        self._public: KeySet = KeySet([])

    @classmethod
    def load_or_create(cls, key_dir: Path) -> HubKeys:
        """Read the keys in ``key_dir``, creating the directory and a first key if needed."""
        ensure_dir(key_dir)
        signing = key_dir / SIGNING_FILE
        if not signing.exists():
            key = _generate()
            if write_private(signing, json.dumps(key.as_dict(private=True)), replace=False):
                log.info("Created the hub's signing key %s in %s", key.kid, key_dir)
        keys = cls(key_dir)
        keys.refresh()
        return keys

    def _file_stamp(self) -> tuple[tuple[int, int], ...]:
        return file_stamps(self.key_dir, (SIGNING_FILE, RETIRED_FILE))

    def refresh(self) -> bool:
        """Reload the files if they changed (a rotation by any process); True if they did.

        Two ``stat`` calls when nothing changed, so it is cheap enough to call per request.
        """
        stamp = self._file_stamp()
        if stamp == self._stamp:
            return False
        path = self.key_dir / SIGNING_FILE
        warn_if_readable_by_others(path)
        signing = _with_thumbprint_kid(json.loads(path.read_text(encoding="utf-8")))
        public: list[Key] = [_public(signing)]
        for entry in _read_retired(self.key_dir):
            if all(entry.key.kid != known.kid for known in public):
                public.append(entry.key)
        self._signing, self._public, self._stamp = signing, KeySet(public), stamp
        return True

    @property
    def signing_key(self) -> ECKey:
        assert self._signing is not None, "HubKeys.load_or_create() loads the key"
        return self._signing

    @property
    def kid(self) -> str:
        kid = self.signing_key.kid
        assert kid is not None
        return kid

    @property
    def public_keys(self) -> KeySet:
        """The current key's public half first, then retired ones, newest first."""
        return self._public

    def jwks(self) -> dict[str, Any]:
        """The JSON Web Key Set to publish: public halves only, never a private parameter."""
        return {"keys": [key.as_dict(private=False) for key in self._public]}


def rotate(key_dir: Path, *, keep_retired: timedelta | None = None) -> str:
    """Make a new signing key; the old one's public half stays published. Returns the new kid.

    ``keep_retired`` drops keys retired longer ago than that (make it longer than the longest
    token lifetime); None keeps them all. The key this call retires is always kept. Running
    processes pick the new key up through :meth:`HubKeys.refresh`.
    """
    ensure_dir(key_dir)
    with locked(key_dir):
        current = HubKeys.load_or_create(key_dir)
        now = datetime.now(UTC)
        earlier = _read_retired(key_dir)
        if keep_retired is not None:
            earlier = [entry for entry in earlier if now - entry.retired_at <= keep_retired]
        # The key retired now always stays: tokens it signed a moment ago are still live.
        retired = [RetiredKey(_public(current.signing_key), now), *earlier]
        new = _generate()
        # The retired list goes first: a reader in between sees the old key twice, never
        # a signing key whose predecessor is missing from the published set.
        _write_retired(key_dir, retired)
        write_private(key_dir / SIGNING_FILE, json.dumps(new.as_dict(private=True)), replace=True)
    log.info("Rotated the hub's signing key: %s replaces %s", new.kid, current.kid)
    assert new.kid is not None
    return new.kid
