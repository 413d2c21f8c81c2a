"""Who is asking: the bearer token of a request, turned into an :class:`Identity`.

Every failure — no header, another scheme, a malformed, forged, expired or foreign token —
answers the same 401 body, so probing the endpoint tells an attacker nothing about which check
failed; the reason goes to the server log at debug level.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Literal

import orjson
from joserfc.jwt import Claims
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response

from auth.issuers import Verifier
from auth.tokens import InvalidTokenError, verify_token

log = logging.getLogger(__name__)

UNAUTHENTICATED = "UNAUTHENTICATED"
UNAUTHENTICATED_BODY = {
    "errors": [{"message": "Invalid or missing token", "extensions": {"code": UNAUTHENTICATED}}]
}
# RFC 6750 §2.1: the b64token syntax of a bearer credential.
_BEARER = re.compile(r"[Bb][Ee][Aa][Rr][Ee][Rr] +([A-Za-z0-9\-._~+/]+=*)")


class Unauthenticated(Exception):
    """The request carries no acceptable bearer token. Its message is for the log only."""


@dataclass(frozen=True)
class Identity:
    """The principal a request acts for: who, and through which issuer and token.

    ``subject`` is the key of the ``principals`` row the policies refer to. For an external
    provider's token ``kind`` is always "person": a provider can not mint a client identity.
    """

    subject: str
    kind: Literal["person", "client"]
    client_id: str | None
    issuer: str
    token_id: str | None
    #: The token's ``iat`` (seconds since the epoch), if it has one: a token issued before its
    #: principal was created was issued to an earlier principal of that subject and is refused.
    issued_at: int | None = None


def identity_from_claims(claims: Claims, verifier: Verifier) -> Identity:
    """The identity verified ``claims`` stand for."""
    issuer = verifier.issuer(claims["iss"])
    assert issuer is not None, "verify_token only returns claims of a trusted issuer"
    jti = claims.get("jti")
    token_id = jti if isinstance(jti, str) else None
    iat = claims.get("iat")
    issued_at = int(iat) if isinstance(iat, int | float) and not isinstance(iat, bool) else None
    if issuer.is_hub:
        return Identity(
            claims["sub"], claims["kind"], claims.get("client_id"), issuer.name, token_id, issued_at
        )
    subject = issuer.subject_prefix + claims["sub"]
    return Identity(subject, "person", None, issuer.name, token_id, issued_at)


def bearer_token(connection: HTTPConnection) -> str:
    """The token of the one ``Authorization: Bearer`` header, or :class:`Unauthenticated`."""
    values = connection.headers.getlist("authorization")
    if len(values) != 1:
        raise Unauthenticated(f"{len(values)} Authorization headers")
    match = _BEARER.fullmatch(values[0].strip())
    if match is None:
        raise Unauthenticated("not a Bearer credential")
    return match.group(1)


async def authenticate(request: HTTPConnection, verifier: Verifier) -> Identity:
    """The identity of the request's bearer token; :class:`Unauthenticated` if there is none."""
    token = bearer_token(request)
    try:
        claims = await verify_token(token, verifier)
    except InvalidTokenError as error:
        raise Unauthenticated(str(error)) from None
    return identity_from_claims(claims, verifier)


def unauthenticated_response() -> Response:
    """The one answer to every authentication failure."""
    return Response(
        orjson.dumps(UNAUTHENTICATED_BODY),
        status_code=401,
        media_type="application/json",
        headers={"WWW-Authenticate": "Bearer"},
    )


async def unauthenticated_handler(_: Request, error: Exception) -> Response:
    """Starlette exception handler for :class:`Unauthenticated`."""
    log.debug("Unauthenticated request: %s", error)
    return unauthenticated_response()
