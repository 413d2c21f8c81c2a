"""Signing the hub's access tokens and verifying any bearer token the hub is shown.

A token only says who the bearer is; what they may see is decided later from the policy store,
so no claim here carries a permission.

Verification trusts nothing in the token before its signature is checked, except to pick which
issuer's keys to check it with: the unverified ``iss`` selects a configured issuer (an unknown
one is refused), the ``kid`` selects one of that issuer's keys, and the ``alg`` must be one the
issuer is configured for — never ``none`` or HMAC, so a public key can not be replayed as an HMAC
secret. Only then are the claims checked, and ``iss``, ``aud``, ``exp`` and ``sub`` are
essential: joserfc's decode checks no claim by itself, and a claim that is merely validated when
present would let a token without ``exp`` live forever.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from typing import TYPE_CHECKING, Any, Literal, Protocol

from joserfc import jwt
from joserfc.jwk import KeySet
from joserfc.jws import extract_compact
from joserfc.jwt import Claims, ClaimsOption, JWTClaimsRegistry

from auth.issuers import Accepted
from auth.keys import ALGORITHM, HubKeys

if TYPE_CHECKING:
    from auth.issuers import Issuer, Verifier

log = logging.getLogger(__name__)

Kind = Literal["person", "client"]
KINDS: tuple[Kind, ...] = ("person", "client")
#: RFC 9068: the media type of a JWT access token, so an ID token can not be passed off as one.
ACCESS_TOKEN_TYPE = "at+jwt"
MAX_TOKEN_BYTES = 8192
MAX_SUBJECT_LENGTH = 128  # principals.subject
REFUSED_HEADERS = frozenset({"crit", "b64"})


class TokenSettings(Protocol):
    """What signing a token needs of the hub's settings (``hub.settings.Settings`` has it)."""

    @property
    def issuer(self) -> str: ...
    @property
    def audience(self) -> str: ...
    @property
    def token_ttl(self) -> int: ...


class InvalidTokenError(Exception):
    """Any reason a bearer token is not accepted. The message is for the server log only."""


def issue_token(
    keys: HubKeys,
    settings: TokenSettings,
    subject: str,
    kind: Kind,
    client_id: str | None = None,
    ttl: int | None = None,
    *,
    now: int | None = None,
) -> str:
    """Sign an access token for ``subject`` with the hub's current key; ``ttl`` in seconds."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}")
    if (kind == "client") != (client_id is not None):
        raise ValueError("a client token names its client_id, a person's does not")
    if not 0 < len(subject) <= MAX_SUBJECT_LENGTH:
        raise ValueError(f"a subject is 1 to {MAX_SUBJECT_LENGTH} characters")
    ttl = settings.token_ttl if ttl is None else ttl
    if ttl <= 0:
        raise ValueError("ttl must be positive")
    keys.refresh()
    issued = int(time.time()) if now is None else now
    claims: dict[str, Any] = {
        "iss": settings.issuer,
        "aud": settings.audience,
        "sub": subject,
        "iat": issued,
        "nbf": issued,
        "exp": issued + ttl,
        "jti": secrets.token_urlsafe(16),
        "kind": kind,
    }
    if client_id is not None:
        claims["client_id"] = client_id
    header = {"alg": ALGORITHM, "kid": keys.kid, "typ": ACCESS_TOKEN_TYPE}
    return jwt.encode(header, claims, keys.signing_key, algorithms=[ALGORITHM])


async def verify_token(token: str, verifier: Verifier, *, now: int | None = None) -> Claims:
    """The verified claims of ``token``, or :class:`InvalidTokenError` whatever went wrong.

    The reason is logged at debug level and kept in the exception's message; callers answer
    every failure the same way, so a client learns nothing about which check failed.
    """
    try:
        return await _verify(token, verifier, now)
    except InvalidTokenError as error:
        log.debug("Refused a token: %s", error)
        raise
    except Exception as error:  # every parsing or crypto failure is a refusal, never a 500
        log.debug("Refused a token: %s: %s", type(error).__name__, error)
        raise InvalidTokenError(f"{type(error).__name__}: {error}") from error


async def _verify(token: str, verifier: Verifier, now: int | None) -> Claims:
    known = verifier.accepted(token, int(time.time()) if now is None else now)
    if known is not None:  # the same text accepted a moment ago, its time claims still hold
        if await known.issuer.source.key(known.kid) is None:
            raise InvalidTokenError(f"unknown kid {known.kid!r} for {known.issuer.name}")
        remembered: Claims = known.claims
        return remembered
    if len(token) > MAX_TOKEN_BYTES:
        raise InvalidTokenError("too long")
    raw = token.encode("ascii")
    unverified = extract_compact(raw)
    header = unverified.headers()
    if REFUSED_HEADERS & header.keys():
        raise InvalidTokenError(f"refused header parameter in {sorted(header)}")
    claims = json.loads(unverified.payload or b"")
    if not isinstance(claims, dict):
        raise InvalidTokenError("payload is not a JSON object")
    issuer = verifier.issuer(claims.get("iss"))
    if issuer is None:
        raise InvalidTokenError(f"untrusted issuer {claims.get('iss')!r}")
    alg, kid = header.get("alg"), header.get("kid")
    if alg not in issuer.algorithms:
        raise InvalidTokenError(f"algorithm {alg!r} is not accepted from {issuer.name}")
    if not isinstance(kid, str):
        raise InvalidTokenError("no kid")
    key = await issuer.source.key(kid)
    if key is None:
        raise InvalidTokenError(f"unknown kid {kid!r} for {issuer.name}")
    verified = verifier.signed(token)
    if verified is None:
        verified = jwt.decode(raw, KeySet([key]), algorithms=list(issuer.algorithms))
        verifier.remember(token, verified)
    _registry(issuer, verifier.leeway, now).validate(verified.claims)
    if issuer.is_hub:
        _check_hub_token(verified.header, verified.claims)
    subject = verified.claims["sub"]
    if len(issuer.subject_prefix) + len(subject) > MAX_SUBJECT_LENGTH:
        raise InvalidTokenError("subject too long")
    if not subject.isprintable():
        # no principal's subject holds a control character; a NUL would fail in PostgreSQL
        # and be written into the audit entry as the subject that asked
        raise InvalidTokenError("a control character in the subject")
    verifier.accept(token, _accepted(issuer, kid, verified.claims, verifier.leeway))
    return verified.claims


def _accepted(issuer: Issuer, kid: str, claims: Claims, leeway: int) -> Accepted:
    """The time window in which a token just accepted may be accepted again unchecked: the
    claims check's own bounds (``exp > now - leeway``; ``nbf`` and ``iat`` ``<= now + leeway``)."""
    starts = [claims[name] for name in ("nbf", "iat") if name in claims]
    valid_from = max(starts, default=float("-inf")) - leeway
    return Accepted(issuer, kid, claims, valid_from, claims["exp"] + leeway)


def _registry(issuer: Issuer, leeway: int, now: int | None) -> JWTClaimsRegistry:
    options: dict[str, ClaimsOption] = {
        "iss": {"essential": True, "value": issuer.name},
        "aud": {"essential": True, "value": issuer.audience},
        "exp": {"essential": True},
        "sub": {"essential": True},
    }
    if issuer.is_hub:
        options |= {
            "iat": {"essential": True},
            "jti": {"essential": True},
            "kind": {"essential": True, "values": [str(kind) for kind in KINDS]},
        }
    return JWTClaimsRegistry(now=now, leeway=leeway, **options)


def _check_hub_token(header: dict[str, Any], claims: Claims) -> None:
    if header.get("typ") != ACCESS_TOKEN_TYPE:
        raise InvalidTokenError(f"typ {header.get('typ')!r} is not an access token")
    client_id = claims.get("client_id")
    if claims["kind"] == "client" and not (isinstance(client_id, str) and client_id):
        raise InvalidTokenError("a client token without client_id")
    if isinstance(client_id, str) and not client_id.isprintable():
        raise InvalidTokenError("a control character in the client_id")
    if claims["kind"] == "person" and client_id is not None:
        raise InvalidTokenError("a person token with a client_id")
