"""One key store for both key sets the hub signs with: the token keys (here) and the audit
checkpoint keys (:mod:`audit.keys`).

A key set is the private key new signatures use and the public halves of the keys it replaced,
each with the time it was retired, so what they signed keeps verifying. The keys are joserfc
keys (:class:`~joserfc.jwk.ECKey`, :class:`~joserfc.jwk.OKPKey`), which also write the JWKs and
the thumbprints. Each key's ``kid`` is its RFC 7638 thumbprint, computed from the key material
whatever a file says, so it names the key itself rather than a counter that could be reused.

On disk, in the set's directory (files 0600, the directory 0700, written by
:mod:`auth.key_files`), two files whose names the :class:`KeySpec` gives:

- the signing file — the current private key, as a JWK;
- the retired file — ``{"keys": [{"jwk": public JWK, <time member>: ISO time}, ...]}``, the
  public halves of earlier keys, newest first.

Several hub processes may share one directory: creation is atomic (the first writer wins, the
others read its key), rotation takes a lock, and :meth:`KeyStore.refresh` picks up a rotation
made by another process without a restart.

The token keys (:class:`HubKeys`) are ES256 (ECDSA on P-256 with SHA-256): asymmetric, so the
JWKS can be published and anyone can verify without being able to sign; it is the one
asymmetric JWS algorithm that every JWT library and API gateway a department app might use
supports (Ed25519 as a JWS ``alg`` is newer, RFC 9864, and the older ``EdDSA`` name is
deprecated). Their files are ``signing.jwk`` and ``retired.json``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Generic, TypeVar

from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, JWKRegistry, KeySet, OKPKey

from auth.key_files import (
    ensure_dir,
    file_stamps,
    locked,
    warn_if_readable_by_others,
    write_private,
)

log = logging.getLogger(__name__)

K = TypeVar("K", ECKey, OKPKey)


def _kid(key: ECKey | OKPKey) -> str:
    kid = key.kid
    assert kid is not None, "KeySpec names every key it makes or reads"
    return kid


def _public_der(key: ECKey | OKPKey) -> bytes:
    return key.public_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


@dataclass(frozen=True)
class KeySpec(Generic[K]):
    """Which key set: its joserfc key type, curve and JWS ``alg``, its files, and its name in
    logs and errors.

    ``retired_at_member`` is the retired file's name for the time a key was retired; each set
    keeps the one its files have always had.
    """

    name: str
    key_type: type[K]
    curve: str
    algorithm: str
    signing_file: str
    retired_file: str
    retired_at_member: str

    def generate(self) -> K:
        key = JWKRegistry.generate_key(self.key_type.key_type, self.curve, private=True)
        assert isinstance(key, self.key_type)
        return self._named(key, private=True)

    def import_jwk(self, jwk: Mapping[str, Any], *, private: bool) -> K:
        """The key a JWK holds, named as :meth:`_named` does; ``ValueError`` if it is not one.

        ``private`` reads the private key (a public half that does not match it is refused);
        otherwise only the public members are read.
        """
        kty = self.key_type.key_type
        if jwk.get("kty") != kty or jwk.get("crv") != self.curve:
            raise ValueError(f"{self.name}s are {kty} {self.curve} keys")
        registry = self.key_type.value_registry
        public = {"kty": kty} | {
            name: jwk[name] for name in registry if name in jwk and not registry[name].private
        }
        try:
            if not private:
                return self._named(self.key_type.import_key(public), private=False)
            if "d" not in jwk:
                raise ValueError("it holds no private key")
            key = self.key_type.import_key(public | {"d": jwk["d"]})
            # joserfc derives an OKP key from ``d`` alone: the ``x`` beside it must be its own.
            if _public_der(key) != _public_der(self.key_type.import_key(public)):
                raise ValueError("the private key does not match its public half")
            return self._named(key, private=True)
        except (JoseError, ValueError, TypeError) as error:
            raise ValueError(f"not a valid {self.curve} key: {error}") from error

    def public(self, key: K) -> K:
        """The public half of ``key``."""
        return self._named(key, private=False)

    def _named(self, key: K, *, private: bool) -> K:
        """``key`` as the hub writes it: the members of its key material in JWK order, then
        ``alg``, ``use`` and its thumbprint as ``kid``."""
        material = self.key_type.import_key(key.raw_value if private else key.public_key)
        members = material.as_dict(private=private)
        return self.key_type.import_key(
            {"kty": self.key_type.key_type}
            | {name: members[name] for name in self.key_type.value_registry if name in members}
            | {"alg": self.algorithm, "use": "sig", "kid": material.thumbprint()}
        )


@dataclass(frozen=True)
class PublishedKey(Generic[K]):
    """A public key the set lists, and when it was retired (None: the current key)."""

    key: K
    retired_at: datetime | None


class KeyStore(Generic[K]):
    """The key a set signs with now, and every public key it still lists, read from disk.

    It holds no secret but the signing key, and never writes that key anywhere but ``key_dir``.
    Nothing is read until :meth:`refresh`.
    """

    def __init__(self, spec: KeySpec[K], key_dir: Path) -> None:
        self.spec: KeySpec[K] = spec
        self.key_dir = key_dir
        self._stamp: tuple[tuple[int, int], ...] | None = None
        self._signing: K | None = None
        self._published: tuple[PublishedKey[K], ...] = ()
        self._key_set = KeySet([])

    def create_if_missing(self) -> None:
        """Create the directory and a first key, unless there is one already."""
        ensure_dir(self.key_dir)
        path = self.key_dir / self.spec.signing_file
        if not path.exists():
            key = self.spec.generate()
            if write_private(path, json.dumps(key.as_dict(private=True)), replace=False):
                log.info("Created %s %s in %s", self.spec.name, key.kid, self.key_dir)

    def refresh(self) -> bool:
        """Reload the files if they changed (a rotation by any process); True if they did.

        Two ``stat`` calls when nothing changed, so it is cheap enough to call per request.
        ``FileNotFoundError`` if there is no signing key.
        """
        stamp = file_stamps(self.key_dir, (self.spec.signing_file, self.spec.retired_file))
        if stamp == self._stamp:
            return False
        signing = self._read_signing()
        published = [PublishedKey(self.spec.public(signing), None)]
        for entry in self._read_retired():
            if all(_kid(entry.key) != _kid(known.key) for known in published):
                published.append(entry)
        key_set = KeySet([entry.key for entry in published])
        self._signing, self._published, self._key_set = signing, tuple(published), key_set
        self._stamp = stamp
        return True

    @property
    def signing_key(self) -> K:
        assert self._signing is not None, "refresh() reads the key"
        return self._signing

    @property
    def kid(self) -> str:
        """The ``kid`` of the key new signatures are made with."""
        return _kid(self.signing_key)

    @property
    def published(self) -> tuple[PublishedKey[K], ...]:
        """The current key's public half first, then retired ones, newest first."""
        return self._published

    @property
    def public_keys(self) -> KeySet:
        """:attr:`published` as a joserfc key set, to verify with."""
        return self._key_set

    def jwks(self) -> dict[str, Any]:
        """The JSON Web Key Set to publish: public halves only, never a private parameter."""
        return {"keys": [entry.key.as_dict(private=False) for entry in self._published]}

    def rotate(self, *, keep_retired: timedelta | None = None) -> str:
        """Make a new signing key; the old one's public half stays listed. Returns the new kid.

        ``keep_retired`` drops keys retired longer ago than that; None keeps them all. The key
        this call retires is always kept. Running processes pick the new key up through
        :meth:`refresh`; this store too, which is not refreshed here.
        """
        ensure_dir(self.key_dir)
        with locked(self.key_dir):
            self.create_if_missing()
            current = self._read_signing()
            now = datetime.now(UTC)
            # The key retired now always stays: what it signed a moment ago must still verify.
            retired = [PublishedKey(self.spec.public(current), now)]
            for entry in self._read_retired():
                assert entry.retired_at is not None, "a retired key has its time"
                if keep_retired is None or now - entry.retired_at <= keep_retired:
                    retired.append(entry)
            new = self.spec.generate()
            # The retired list goes first: a reader in between sees the old key twice, never
            # a signing key whose predecessor is missing from the published set.
            self._write_retired(retired)
            text = json.dumps(new.as_dict(private=True))
            write_private(self.key_dir / self.spec.signing_file, text, replace=True)
        log.info("Rotated %s: %s replaces %s", self.spec.name, new.kid, current.kid)
        return _kid(new)

    def _read_signing(self) -> K:
        path = self.key_dir / self.spec.signing_file
        warn_if_readable_by_others(path)
        return self.spec.import_jwk(json.loads(path.read_text(encoding="utf-8")), private=True)

    def _read_retired(self) -> list[PublishedKey[K]]:
        path = self.key_dir / self.spec.retired_file
        if not path.exists():
            return []
        data = json.loads(path.read_text(encoding="utf-8"))
        at = self.spec.retired_at_member
        return [
            PublishedKey(
                self.spec.import_jwk(entry["jwk"], private=False),
                datetime.fromisoformat(entry[at]),
            )
            for entry in data["keys"]
        ]

    def _write_retired(self, retired: list[PublishedKey[K]]) -> None:
        at = self.spec.retired_at_member
        entries = [
            {"jwk": entry.key.as_dict(private=False), at: entry.retired_at.isoformat()}
            for entry in retired
            if entry.retired_at is not None
        ]
        text = json.dumps({"keys": entries}, indent=2)
        write_private(self.key_dir / self.spec.retired_file, text, replace=True)


ALGORITHM = "ES256"
CURVE = "P-256"
SIGNING_FILE = "signing.jwk"
RETIRED_FILE = "retired.json"

TOKEN_KEYS = KeySpec(
    name="the hub's signing key",
    key_type=ECKey,
    curve=CURVE,
    algorithm=ALGORITHM,
    signing_file=SIGNING_FILE,
    retired_file=RETIRED_FILE,
    retired_at_member="retired_at",
)


class HubKeys(KeyStore[ECKey]):
    """The token-signing keys: the key the hub signs tokens with, every public key it accepts."""

    def __init__(self, key_dir: Path) -> None:
        super().__init__(TOKEN_KEYS, key_dir)

    @classmethod
    def load_or_create(cls, key_dir: Path) -> HubKeys:
        """Read the keys in ``key_dir``, creating the directory and a first key if needed."""
        keys = cls(key_dir)
        keys.create_if_missing()
        keys.refresh()
        return keys


def rotate(key_dir: Path, *, keep_retired: timedelta | None = None) -> str:
    """:meth:`KeyStore.rotate` of the token keys; make ``keep_retired`` longer than the longest
    token lifetime."""
    return HubKeys(key_dir).rotate(keep_retired=keep_retired)
