"""Identity: who a request acts for, proven by a bearer JWT.

The hub signs tokens for department apps (OAuth2 client credentials, :mod:`hub.endpoints.token`)
and for people it mints itself (``gridhub token``), and accepts people's tokens from the external
OpenID providers an operator trusts (:mod:`auth.issuers`). A token says who, never what they
may see: that is the policies' business.
"""

from auth.issuers import Issuer, Verifier
from auth.keys import HubKeys, rotate
from auth.principal import Identity, Unauthenticated, authenticate
from auth.tokens import InvalidTokenError, issue_token, verify_token

__all__ = [
    "HubKeys",
    "Identity",
    "InvalidTokenError",
    "Issuer",
    "Unauthenticated",
    "Verifier",
    "authenticate",
    "issue_token",
    "rotate",
    "verify_token",
]
