"""Whose tokens the hub accepts, and where each issuer's public keys come from.

The hub itself is always an issuer (its own key set, on disk). Operators add external OpenID
providers in ``settings.trusted_issuers``: their keys come from a JWKS file, or from a JWKS URL
fetched with httpx — cached for ``jwks_cache_ttl`` seconds, fetched again at once when a token
names a kid the cache does not know (the provider has rotated), but no more often than every
``REFETCH_COOLDOWN`` seconds, so a stream of made-up kids can not make the hub hammer it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

import httpx
from joserfc.jwk import Key, KeySet

from auth.keys import ALGORITHM, HubKeys
from auth.trusted import TrustedIssuer

log = logging.getLogger(__name__)

REFETCH_COOLDOWN = 10.0
MAX_JWKS_BYTES = 256 * 1024


class IssuerSettings(Protocol):
    """What the token verifier needs of the hub's settings (``hub.settings.Settings``)."""

    @property
    def issuer(self) -> str: ...
    @property
    def audience(self) -> str: ...
    @property
    def clock_skew(self) -> int: ...
    @property
    def trusted_issuers(self) -> Sequence[TrustedIssuer]: ...
    @property
    def jwks_cache_ttl(self) -> int: ...
    @property
    def jwks_timeout(self) -> float: ...


class KeySource(Protocol):
    """Where one issuer's public keys come from."""

    async def key(self, kid: str) -> Key | None:
        """The public key named ``kid``, or None if the issuer has no such key."""
        ...


def _import_jwks(data: Any) -> dict[str, Key]:
    """Public signing keys by kid; private parameters, keys without kid and odd keys dropped."""
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise ValueError("not a JWKS: no `keys` list")
    usable = [
        entry
        for entry in data["keys"]
        if isinstance(entry, dict)
        and isinstance(entry.get("kid"), str)
        and entry.get("kty") in ("RSA", "EC", "OKP")  # never a symmetric key
        and entry.get("use", "sig") == "sig"
    ]
    if not usable:
        return {}
    key_set = KeySet.import_key_set({"keys": usable})
    return {key.kid: key for key in key_set if key.kid is not None and not key.is_private}


@dataclass
class HubKeySource:
    """The hub's own keys; an unknown kid re-reads the key directory (another process rotated)."""

    keys: HubKeys

    async def key(self, kid: str) -> Key | None:
        found = _find(self.keys.public_keys, kid)
        if found is None and self.keys.refresh():
            found = _find(self.keys.public_keys, kid)
        return found


def _find(key_set: KeySet, kid: str) -> Key | None:
    return next((key for key in key_set if key.kid == kid), None)


@dataclass
class FileKeySource:
    """A JWKS file, read again when it changes on disk."""

    path: Path
    _keys: dict[str, Key] = field(default_factory=dict)
    _stamp: tuple[int, int] | None = None

    async def key(self, kid: str) -> Key | None:
        try:
            stat = self.path.stat()
            stamp = (stat.st_mtime_ns, stat.st_ino)
            if stamp != self._stamp:
                self._keys = _import_jwks(json.loads(self.path.read_text(encoding="utf-8")))
                self._stamp = stamp
        except (OSError, ValueError) as error:
            log.warning("Cannot read the JWKS file %s: %s", self.path, error)
        return self._keys.get(kid)


@dataclass
class UrlKeySource:
    """A JWKS URL: cached for ``ttl`` seconds, refetched once on an unknown kid."""

    url: str
    client: httpx.AsyncClient
    ttl: float
    clock: Callable[[], float] = time.monotonic
    _keys: dict[str, Key] = field(default_factory=dict)
    _fetched_at: float | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def key(self, kid: str) -> Key | None:
        if self._fetched_at is None or self.clock() - self._fetched_at >= self.ttl:
            await self._fetch(self._fetched_at)
        elif kid not in self._keys and self.clock() - self._fetched_at >= REFETCH_COOLDOWN:
            await self._fetch(self._fetched_at)
        return self._keys.get(kid)

    async def _fetch(self, seen: float | None) -> None:
        async with self._lock:
            if self._fetched_at != seen:  # another request fetched while this one waited
                return
            try:
                response = await self.client.get(self.url, headers={"accept": "application/json"})
                response.raise_for_status()
                if len(response.content) > MAX_JWKS_BYTES:
                    raise ValueError("JWKS too large")
                self._keys = _import_jwks(response.json())
            except (httpx.HTTPError, ValueError) as error:
                # Keep the keys we had: a provider's short outage should not log everyone out.
                log.warning("Cannot fetch the JWKS at %s: %s", self.url, error)
            self._fetched_at = self.clock()


T = TypeVar("T")

#: How long (seconds) and for how many tokens a checked signature is remembered.
SIGNATURE_MEMORY = 60.0
SIGNATURE_MEMORY_SIZE = 10_000


class _TokenMemory(Generic[T]):
    """What was found of a token's exact text, for :data:`SIGNATURE_MEMORY` seconds, of at
    most :data:`SIGNATURE_MEMORY_SIZE` tokens (the oldest go first)."""

    def __init__(self) -> None:
        self._found: OrderedDict[str, tuple[float, T]] = OrderedDict()

    def get(self, token: str) -> T | None:
        found = self._found.get(token)
        if found is None:
            return None
        at, value = found
        if time.monotonic() - at > SIGNATURE_MEMORY:
            del self._found[token]
            return None
        return value

    def put(self, token: str, value: T) -> None:
        self._found[token] = (time.monotonic(), value)
        if len(self._found) > SIGNATURE_MEMORY_SIZE:
            self._found.popitem(last=False)


@dataclass(frozen=True, slots=True)
class Accepted:
    """A token found good: its issuer, key id and claims, and the seconds since the epoch
    from which and until which its time claims hold (``nbf``/``iat`` and ``exp``, with the
    leeway), so that using it again needs no parsing, no signature and no claims check."""

    issuer: Issuer
    kid: str
    claims: Any
    valid_from: float
    valid_until: float


@dataclass(frozen=True)
class Issuer:
    """One issuer the hub trusts: the ``iss`` and ``aud`` its tokens carry, its algorithms."""

    name: str
    audience: str
    algorithms: tuple[str, ...]
    source: KeySource
    is_hub: bool = False
    subject_prefix: str = ""


class Verifier:
    """Every trusted issuer by ``iss``; :func:`auth.tokens.verify_token` asks it for keys."""

    def __init__(
        self,
        issuers: Iterable[Issuer],
        leeway: int = 0,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self._issuers: Mapping[str, Issuer] = {issuer.name: issuer for issuer in issuers}
        self.leeway = leeway
        self._http = http
        #: Tokens whose signature checked out: see :meth:`signed`.
        self._signed: _TokenMemory[Any] = _TokenMemory()
        #: Tokens accepted whole (signature and claims): see :meth:`accepted`.
        self._accepted: _TokenMemory[Accepted] = _TokenMemory()

    def signed(self, token: str) -> Any | None:
        """The verified JWT of ``token`` if its signature was checked in the last
        :data:`SIGNATURE_MEMORY` seconds; else None.

        An app sends the same token with every request for its whole life; checking the
        signature once a minute instead of every time saves a quarter of a millisecond per
        request. Only the signature is remembered: the caller still checks the claims (expiry
        above all) and that the key is still listed, every time. Keyed by the token's exact
        text, so nothing but the bytes that were verified can hit.
        """
        return self._signed.get(token)

    def remember(self, token: str, verified: Any) -> None:
        self._signed.put(token, verified)

    def accepted(self, token: str, now: int) -> Accepted | None:
        """``token`` as accepted in the last :data:`SIGNATURE_MEMORY` seconds, if its time
        claims still hold at ``now`` (seconds since the epoch); else None (check it whole).

        Everything in a token but time is fixed by its bytes: its issuer, audience, subject and
        kind were checked when it was accepted, and the same text can only say the same. What
        can change is checked by the caller every time: that the key is still listed. Keyed by
        the token's exact text, like :meth:`signed`.
        """
        accepted = self._accepted.get(token)
        if accepted is None or not accepted.valid_from <= now < accepted.valid_until:
            return None
        return accepted

    def accept(self, token: str, accepted: Accepted) -> None:
        self._accepted.put(token, accepted)

    @classmethod
    def from_settings(
        cls, settings: IssuerSettings, keys: HubKeys, http: httpx.AsyncClient | None = None
    ) -> Verifier:
        """The hub as issuer, plus ``settings.trusted_issuers``.

        A JWKS URL needs an HTTP client: the verifier makes one (and :meth:`aclose` closes it)
        unless ``http`` is given, which tests use to supply a transport.
        """
        owned = http is None and any(t.jwks_url for t in settings.trusted_issuers)
        if owned:
            http = httpx.AsyncClient(timeout=settings.jwks_timeout, follow_redirects=False)
        hub = Issuer(
            name=settings.issuer,
            audience=settings.audience,
            algorithms=(ALGORITHM,),
            source=HubKeySource(keys),
            is_hub=True,
        )
        external = [_external(trusted, settings, http) for trusted in settings.trusted_issuers]
        verifier = cls([hub, *external], settings.clock_skew, http if owned else None)
        return verifier

    def issuer(self, name: object) -> Issuer | None:
        return self._issuers.get(name) if isinstance(name, str) else None

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()


def _external(
    trusted: TrustedIssuer, settings: IssuerSettings, http: httpx.AsyncClient | None
) -> Issuer:
    source: KeySource
    if trusted.jwks_file is not None:
        source = FileKeySource(trusted.jwks_file)
    else:
        assert trusted.jwks_url is not None
        assert http is not None
        source = UrlKeySource(trusted.jwks_url, http, settings.jwks_cache_ttl)
    return Issuer(
        name=trusted.issuer,
        audience=trusted.audience,
        algorithms=trusted.algorithms,
        source=source,
        subject_prefix=trusted.subject_prefix,
    )
