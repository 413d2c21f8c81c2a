"""Token forgery kit for the auth tests: real keys, real signatures, hand-made attacks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from joserfc import jwt
from joserfc.jwk import ECKey, Key

from auth.keys import HubKeys
from hub.settings import Settings


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hub_claims(settings: Settings, **changes: Any) -> dict[str, Any]:
    """Claims of a valid hub person token; a change to None removes the claim."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": settings.issuer,
        "aud": settings.audience,
        "sub": "grid-worker-1",
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "jti": "test-jti",
        "kind": "person",
    }
    claims.update(changes)
    return {name: value for name, value in claims.items() if value is not None}


def sign(
    claims: dict[str, Any],
    key: Key,
    *,
    alg: str = "ES256",
    kid: str | None = None,
    typ: str | None = "at+jwt",
    **header: Any,
) -> str:
    """A JWT signed by ``key`` with exactly the header asked for."""
    full = {"alg": alg, **header}
    if kid is not None:
        full["kid"] = kid
    return jwt.encode(full, claims, key, algorithms=[alg], default_type=typ)


def hmac_token(header: dict[str, Any], claims: dict[str, Any], secret: bytes) -> str:
    """An HS256 token made by hand: the key is whatever bytes an attacker has."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def attacks(keys: HubKeys, settings: Settings) -> dict[str, str]:
    """Every token the hub must refuse, by name; each would pass a careless verifier."""
    kid = keys.kid
    key = keys.signing_key
    good = hub_claims(settings)
    public_pem = key.as_pem(private=False)
    public_jwk = json.dumps(key.as_dict(private=False)).encode()
    attacker = ECKey.generate_key("P-256", private=True)
    valid = sign(good, key, kid=kid)
    header, payload, signature = valid.split(".")
    bare_none = b64(b'{"alg":"none"}')
    other = sign(hub_claims(settings, sub="someone-else"), key, kid=kid)
    tampered = json.loads(unb64(payload)) | {"sub": "admin"}
    now = int(time.time())
    return {
        "alg none": f"{b64(json.dumps({'alg': 'none', 'kid': kid}).encode())}.{payload}.",
        "alg none without kid": f"{bare_none}.{payload}.",
        "HS256 with the public key PEM": hmac_token(
            {"alg": "HS256", "kid": kid, "typ": "at+jwt"}, good, public_pem
        ),
        "HS256 with the public JWK": hmac_token(
            {"alg": "HS256", "kid": kid, "typ": "at+jwt"}, good, public_jwk
        ),
        "unknown kid": sign(good, key, kid="not-a-kid"),
        "no kid": sign(good, key),
        "tampered payload": f"{header}.{b64(json.dumps(tampered).encode())}.{signature}",
        "signature of another token": f"{header}.{payload}.{other.split('.')[2]}",
        "expired": sign(
            hub_claims(settings, iat=now - 7200, nbf=now - 7200, exp=now - 3600), key, kid=kid
        ),
        "no exp": sign(hub_claims(settings, exp=None), key, kid=kid),
        "no sub": sign(hub_claims(settings, sub=None), key, kid=kid),
        "empty sub": sign(hub_claims(settings, sub=""), key, kid=kid),
        "no iss": sign(hub_claims(settings, iss=None), key, kid=kid),
        "wrong iss": sign(hub_claims(settings, iss="https://evil.example"), key, kid=kid),
        "no aud": sign(hub_claims(settings, aud=None), key, kid=kid),
        "wrong aud": sign(hub_claims(settings, aud="another-service"), key, kid=kid),
        "nbf in the future": sign(hub_claims(settings, nbf=now + 3600), key, kid=kid),
        "iat in the future": sign(hub_claims(settings, iat=now + 3600), key, kid=kid),
        "untrusted key, colliding kid": sign(good, attacker, kid=kid),
        "no kind": sign(hub_claims(settings, kind=None), key, kid=kid),
        "unknown kind": sign(hub_claims(settings, kind="admin"), key, kid=kid),
        "client without client_id": sign(hub_claims(settings, kind="client"), key, kid=kid),
        "not an access token": sign(good, key, kid=kid, typ="JWT"),
        "critical header": es256_raw(
            {"alg": "ES256", "kid": kid, "crit": ["x-ext"], "x-ext": 1},
            json.dumps(good).encode(),
            key,
        ),
        "not a JWT": "not-a-token",
        "two parts": f"{header}.{payload}",
        "payload not an object": es256_raw({"alg": "ES256", "kid": kid}, b"[1, 2]", key),
        "non-ASCII": valid + "é",
    }


def es256_raw(header: dict[str, Any], payload: bytes, key: ECKey) -> str:
    """An ES256 JWS signed with ``cryptography`` directly, whatever the header says."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(payload)}"
    private = key.private_key
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    r, s = decode_dss_signature(private.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    return f"{signing_input}.{b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


#: Why each attack must fail: a fragment of the (server-side) reason, so a test can not pass
#: because a token was refused for some other, accidental reason.
REASONS = {
    "alg none": "algorithm 'none'",
    "alg none without kid": "algorithm 'none'",
    "HS256 with the public key PEM": "algorithm 'HS256'",
    "HS256 with the public JWK": "algorithm 'HS256'",
    "unknown kid": "unknown kid",
    "no kid": "no kid",
    "tampered payload": "BadSignatureError",
    "signature of another token": "BadSignatureError",
    "expired": "ExpiredTokenError",
    "no exp": "Missing claim: 'exp'",
    "no sub": "Missing claim: 'sub'",
    "empty sub": "Invalid claim: 'sub'",
    "no iss": "untrusted issuer None",
    "wrong iss": "untrusted issuer 'https://evil.example'",
    "no aud": "Missing claim: 'aud'",
    "wrong aud": "Invalid claim: 'aud'",
    "nbf in the future": "not yet valid",
    "iat in the future": "issued in the future",
    "untrusted key, colliding kid": "BadSignatureError",
    "no kind": "Missing claim: 'kind'",
    "unknown kind": "Invalid claim: 'kind'",
    "client without client_id": "without client_id",
    "not an access token": "not an access token",
    "critical header": "refused header parameter",
    "not a JWT": "DecodeError",
    "two parts": "DecodeError",
    "payload not an object": "not a JSON object",
    "non-ASCII": "UnicodeEncodeError",
}
