"""``POST /oauth/token`` (client credentials) and ``GET /.well-known/jwks.json``.

The token endpoint follows RFC 6749 §4.4 (client credentials grant), §2.3.1 (client password:
HTTP Basic, or ``client_id``/``client_secret`` in the body, never both), §3.2 (form body, no
parameter twice) and §5 (JSON answers, ``Cache-Control: no-store``). The grant is written here
rather than through authlib's ``AuthorizationServer``: that server calls ``query_client`` and
``check_client_secret`` synchronously, while the hub's database is async and the scrypt check
belongs in a worker thread, and the grant itself is a dozen lines. authlib still supplies the
RFC's error types (their bodies and headers) and the Basic credential parser.

A failed client authentication is ``invalid_client`` whatever the cause (unknown id, wrong
secret, no credentials), so the endpoint does not reveal which client ids exist.

Every answer of the token endpoint is an audit entry (operation type ``token``), committed
before the answer leaves like those of ``/graphql``: a token issued names its client and
department; a failed login is ``denied`` with ``INVALID_CLIENT`` and the client id that was
tried (never the secret), so an auditor can find guessing against a client.

Guessing is slowed too (:mod:`hub.rate_limit`): each client address, and each client id tried,
has a bucket of token requests; over either, the answer is 429 with ``Retry-After`` and the
RFC 6749 body ``{"error": "rate_limited", "error_description": ...}``, before the secret is
checked (an audited denial like a failed login).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

# authlib ships no type information (and no stubs package is installed with the hub).
from authlib.oauth2.rfc6749.errors import (  # type: ignore[import-untyped]
    InvalidClientError,
    InvalidRequestError,
    InvalidScopeError,
    OAuth2Error,
    UnsupportedGrantTypeError,
)
from authlib.oauth2.rfc6749.util import extract_basic_authorization  # type: ignore[import-untyped]
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from audit.record import Outcome
from auth.clients import authenticate_client
from auth.tokens import issue_token
from hub.body import BodyTimeout, BodyTooLarge, read_body
from hub.pipeline import Call, json_response, serve
from hub.services import services
from store.models import Principal

FORM = "application/x-www-form-urlencoded"
MAX_FORM_BYTES = 8192
GRANT_TYPE = "client_credentials"
#: The audit entry's operation type for a token request.
TOKEN = "token"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _oauth_error(error: OAuth2Error) -> Response:
    status, body, headers = error()
    return json_response(body, status, dict(headers))


def _invalid_client() -> InvalidClientError:
    return InvalidClientError(status_code=401, description="Client authentication failed.")


async def _form(request: Request, body_timeout: float) -> dict[str, str]:
    """The body's parameters; invalid_request unless it is one small urlencoded form."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != FORM:
        raise InvalidRequestError(f"The body must be {FORM}.")
    if "client_secret" in request.query_params:
        raise InvalidRequestError("Credentials are not accepted in the URL.")
    try:
        body = await read_body(request, MAX_FORM_BYTES, body_timeout)
    except BodyTooLarge:
        raise InvalidRequestError("The body is too large.") from None
    except BodyTimeout:
        raise InvalidRequestError("The body did not arrive in time.", status_code=408) from None
    try:
        pairs = parse_qsl(
            body.decode("utf-8"), keep_blank_values=True, strict_parsing=False, max_num_fields=32
        )
    except ValueError:
        raise InvalidRequestError("The body is not a valid form.") from None
    params: dict[str, str] = {}
    for name, value in pairs:
        if name in params:
            raise InvalidRequestError("A parameter is repeated.")
        params[name] = value
    return params


def _credentials(request: Request, params: dict[str, str]) -> tuple[str, str]:
    """The client id and secret, by HTTP Basic or in the body (RFC 6749 §2.3.1)."""
    authorization = request.headers.get("authorization", "")
    if authorization.split(" ")[0].lower() == "basic":
        if "client_secret" in params:
            raise InvalidRequestError("Use one client authentication method, not two.")
        try:
            client_id, secret = extract_basic_authorization(request.headers)
        except ValueError:  # not UTF-8 once decoded
            raise _invalid_client() from None
        if not client_id or secret is None:
            raise _invalid_client()
        if params.get("client_id", client_id) != client_id:
            raise InvalidRequestError("client_id differs from the authenticated client.")
    else:
        client_id, secret = params.get("client_id", ""), params.get("client_secret", "")
        if not client_id or not secret:
            raise _invalid_client()
    if not client_id.isprintable():
        # No client id holds a control character; a NUL would not even reach the database
        # (PostgreSQL text holds none) nor belong in the audit entry's client id.
        raise _invalid_client()
    return client_id, secret


async def token_endpoint(request: Request) -> Response:
    """Exchange a department app's client id and secret for an access token; audited."""
    return await serve(request, _exchange, operation_type=TOKEN)


async def _exchange(call: Call) -> Response:
    """The client credentials grant: the caller's address is admitted before anything is read,
    the client id tried before its secret is checked."""
    request, facts, shared = call.request, call.facts, call.services
    limits = shared.rate_limits
    if (
        refused := call.limited(await limits.check_token_address(facts.client_address), oauth=True)
    ) is not None:
        return refused
    if (refused := call.unavailable()) is not None:
        return refused  # the database is known to be down: no secret can be checked
    try:
        params = await _form(request, shared.settings.body_timeout)
        grant_type = params.get("grant_type")
        if not grant_type:
            raise InvalidRequestError("grant_type is required.")
        if grant_type != GRANT_TYPE:
            raise UnsupportedGrantTypeError(grant_type)
        client_id, secret = _credentials(request, params)
        facts.client_id = client_id
        if (
            refused := call.limited(await limits.check_token_client(client_id), oauth=True)
        ) is not None:
            return refused
        async with AsyncSession(shared.engine) as session:
            client = await authenticate_client(session, client_id, secret)
            if client is None:
                raise _invalid_client()
            facts.subject, facts.principal_kind = client.subject, "client"
            facts.department_code = await session.scalar(
                select(Principal.department_code).where(Principal.subject == client.subject)
            )
        if params.get("scope"):
            raise InvalidScopeError(
                "Tokens carry no scope: what a client may see comes from its grants."
            )
    except OAuth2Error as error:
        facts.error_code = str(error.error).upper()
        facts.outcome = Outcome.DENIED if error.error == "invalid_client" else Outcome.ERROR
        return _oauth_error(error)
    facts.outcome = Outcome.OK
    token = issue_token(
        shared.keys, shared.settings, client.subject, "client", client_id=client.client_id
    )
    body: dict[str, Any] = {
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": shared.settings.token_ttl,
    }
    return json_response(body, 200, NO_STORE)


async def jwks_endpoint(request: Request) -> Response:
    """The hub's public keys: the current one and retired ones whose tokens may still be live."""
    keys = services(request).keys
    keys.refresh()
    return json_response(keys.jwks(), 200, {"Cache-Control": "public, max-age=300"})
